"""The scan summary's tactic grouping reads ATT&CK's tactics from the model (v19 names included)."""

from __future__ import annotations

from ruleatlas.engine.output import TACTICS, tactics_of
from ruleatlas.model import ATTACK_TACTICS, Rule, SourceRef


def rule(*tags: str) -> Rule:
    return Rule("sigma/x", "sigma", "sigma", SourceRef("", "x.yml"), "rules", tags=tags)


def test_v19_and_older_tactic_tags_are_grouped() -> None:
    assert tactics_of(rule("attack.stealth", "attack.defense_impairment", "attack.t1685")) == [
        "stealth",
        "defense-impairment",
    ]
    assert tactics_of(rule("attack.defense-evasion", "cve.2021-44228")) == ["defense-evasion"]


def test_summary_order_is_the_matrix_order() -> None:
    assert TACTICS[: len(ATTACK_TACTICS)] == tuple(t.shortname for t in ATTACK_TACTICS)
    assert TACTICS.index("stealth") + 1 == TACTICS.index("defense-impairment")
    assert [t.id for t in ATTACK_TACTICS][6:8] == ["TA0005", "TA0112"]
