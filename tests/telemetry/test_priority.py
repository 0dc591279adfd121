"""Collection priority on a hand-made set of rules: the formula of telemetry/priority.py, term by term."""

from __future__ import annotations

import pytest

from ruleatlas.model import LEVELS
from ruleatlas.telemetry.priority import (
    RuleNeed,
    collection_priority,
    level_weight,
    next_collection,
    ranked,
)

SYSMON_1 = ("Microsoft-Windows-Sysmon", "1")
SEC_4688 = ("Microsoft-Windows-Security-Auditing", "4688")
SYSMON_11 = ("Microsoft-Windows-Sysmon", "11")
SEC_4624 = ("Microsoft-Windows-Security-Auditing", "4624")


def need(uid: str, level: str, *parts: tuple[tuple[str, str], ...], vendor: str = "sigma") -> RuleNeed:
    return RuleNeed(uid, vendor, level, uid.title(), tuple(frozenset(p) for p in parts))


RULES = [
    need("proc-high", "high", (SYSMON_1, SEC_4688)),  # 8, shared by two events
    need("proc-low", "low", (SYSMON_1,), vendor="elastic"),  # 2, Sysmon 1 alone
    need("file-critical", "critical", (SYSMON_11,)),  # 16, alone
    need("chain", "medium", (SEC_4624,), (SYSMON_1, SEC_4688)),  # 4 over two required parts
    need("nolevel", "", (SEC_4624,), vendor="panther"),  # weighs as medium: 4
]


def test_level_weights_double_per_level() -> None:
    assert [level_weight(level) for level in LEVELS] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert level_weight("") == level_weight("medium") == level_weight("whatever")


def test_priority_formula_term_by_term() -> None:
    got = collection_priority(RULES)
    # Sysmon 1: proc-high 8/2 + proc-low 2/1 + chain 4/(2 parts * 2 events)
    assert got[SYSMON_1].score == pytest.approx(4 + 2 + 1)
    # 4688: proc-high 8/2 + chain 4/4
    assert got[SEC_4688].score == pytest.approx(4 + 1)
    assert got[SYSMON_11].score == pytest.approx(16)
    # 4624: chain 4/(2 parts * 1 event) + nolevel 4/1
    assert got[SEC_4624].score == pytest.approx(2 + 4)
    # every rule's shares add up to its weight
    assert sum(p.score for p in got.values()) == pytest.approx(8 + 2 + 16 + 4 + 4)


def test_counts_alone_shared_required_by_vendor_and_level() -> None:
    got = collection_priority(RULES)
    s1 = got[SYSMON_1]
    assert (s1.alone, s1.shared, s1.required, s1.total) == (1, 1, 1, 3)
    assert s1.by_vendor == {"sigma": 2, "elastic": 1}
    assert s1.by_level == {"high": 1, "low": 1, "medium": 1}
    assert got[SEC_4624].by_level == {"medium": 1, "": 1}
    assert got[SEC_4624].to_json()["by_level"] == {"medium": 1, "": 1}
    assert sorted(got[SEC_4688].rules) == ["chain", "proc-high"]


def test_ranking_highest_first() -> None:
    order = [p.event for p in ranked(collection_priority(RULES).values())]
    assert order == [SYSMON_11, SYSMON_1, SEC_4624, SEC_4688]


def test_next_collection_greedy_and_last_missing_event() -> None:
    have = {SEC_4624}

    def served(rule: RuleNeed, event: tuple[str, str]) -> bool:
        return event in have

    steps = next_collection(RULES, served)
    # nolevel fires already (4624 is there); file-critical (16) first, then Sysmon 1 unlocks proc-high,
    # proc-low and chain (as chain's last missing part); after it 4688 unlocks nothing new
    assert [s.event for s in steps] == [SYSMON_11, SYSMON_1]
    assert sorted(n.uid for n in steps[1].unlocked) == ["chain", "proc-high", "proc-low"]
    assert steps[1].gain == pytest.approx(8 + 2 + 4)
    assert steps[1].alone == 3  # unlocked by Sysmon 1 even if it were the only addition
    assert steps[0].to_json()["unlocks"] == [
        {"uid": "file-critical", "vendor": "sigma", "level": "critical", "title": "File-Critical"}
    ]


def test_next_collection_needs_every_other_part() -> None:
    def served(rule: RuleNeed, event: tuple[str, str]) -> bool:
        return False

    steps = next_collection([RULES[3]], served)
    # chain needs 4624 and one of Sysmon 1 / 4688: no single event completes it
    assert steps == []


def test_next_collection_respects_eligibility_and_limit() -> None:
    steps = next_collection(RULES, lambda r, e: False, eligible=lambda e: e != SYSMON_11, limit=1)
    assert len(steps) == 1 and steps[0].event != SYSMON_11
