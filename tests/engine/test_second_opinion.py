"""A second opinion on the whole scan: our engine vs pySigma's SQLite backend over ../shared/logs.

Every SigmaHQ rule of rules/, rules-emerging-threats/ and rules-threat-hunting/ is run over every event of
../shared/logs (the EVTX of evtx-attack-samples and evtx-to-mitre-attack, OTRF's JSON lines) twice: by our
scan, and by pySigma 1.5.1's SQLite backend (pysigma-backend-sqlite 2.0.0) as SQL over an in-memory table of
the same flattened events, each rule over the events our routing gives it (second_opinion.py says how the two
stand on the same footing: columns, keyword searches, placeholders, log sources, REGEXP). The whole
comparison runs here, once per module (about a minute on one core, most of it pySigma parsing and converting
3754 rules); bench/second_opinion.py prints the same table, and with --all-events compares every rule on
every event, ignoring log sources.

Figures (`.venv/bin/python bench/second_opinion.py`):

    events            11198 (4868 + 2937 EVTX records, 3393 JSON lines), input problems 0
    rules             3754 compiled, 3754 compared (107 keyword rules through the keyword column,
                      2 `|expand` rules with the same placeholder values on both sides), 0 not compared
    pairs compared    4,168,834 (rule, event) over routed events
    matches           2033 ours, 2033 SQL, 2033 both; 358 rules match at least one event
    disagreements     0 -> agreement 100% of pairs
    --all-events      42,037,292 pairs (every rule on every event): 16,493 matches both sides (391
                      rules), 0 disagreements

Disagreement table (cause -> count), over ../shared/logs:

    (none)                                                                     0

The causes `second_opinion.explain` can show (each demonstrated on events of our own in
test_second_opinion_harness.py) and how many of them occur here:

    our scan: routing or prefilter decide otherwise than the compiled rule     0
    backend/table: lt/le/gt/ge on a TEXT column compares strings               0
    backend/SQLite: LIKE and NOCASE fold ASCII only                            0
    harness: a list value is one joined SQL cell                               0
    harness: a keyword pattern with inner wildcards spans two values           0
    unexplained                                                                0 (must stay 0)

The matches both sides agree on exercise: contains (238 rules), ends_with (234), eq (222), starts_with (52),
null (20), windash (14), regex (7), inner wildcards (7), keyword searches (4), cidr (3), fieldref (1),
base64offset (1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from second_opinion import CAUSE_UNEXPLAINED, LOG_FOLDERS, Run, cause_counts, run

pytestmark = pytest.mark.corpus

# cause -> count over ../shared/logs; a new disagreement must be fixed or explained (and recorded here)
EXPECTED_CAUSES: dict[str, int] = {}
# rule uid -> why no SQL answer; every rule of the three folders is compared
EXPECTED_NOT_COMPARED: dict[str, str] = {}


@pytest.fixture(scope="module")
def second_opinion(shared_dir: Path) -> Run:
    return run(shared_dir)


def test_every_event_of_the_logs_is_read(shared_dir: Path, second_opinion: Run) -> None:
    expected = sum(
        json.loads((shared_dir / "logs" / folder / "MANIFEST.json").read_text(encoding="utf-8"))["summary"][
            "records"
        ]
        for folder in LOG_FOLDERS
    )
    assert second_opinion.problems == []
    assert len(second_opinion.events) == expected == 11198


def test_every_rule_is_compared(second_opinion: Run) -> None:
    comparison = second_opinion.comparison
    assert second_opinion.compiled.problems == []
    assert len(second_opinion.compiled.rules) == len(second_opinion.conversions) >= 3700
    assert comparison.not_compared == EXPECTED_NOT_COMPARED
    assert len(comparison.sql) == len(second_opinion.compiled.rules)
    # the comparison is about something: millions of pairs, thousands of matches, hundreds of rules
    assert comparison.pairs > 4_000_000
    assert comparison.agreed_matches() >= 2000
    assert sum(1 for found in comparison.sql.values() if found) >= 350


def test_disagreements_by_cause(second_opinion: Run) -> None:
    explained = second_opinion.explained
    unexplained = [str(item) for item in explained if item.cause == CAUSE_UNEXPLAINED]
    assert unexplained == [], f"{len(unexplained)} disagreements no known cause explains"
    counts = cause_counts(explained)
    assert counts == EXPECTED_CAUSES, [str(item) for item in explained[:20]]
    assert second_opinion.comparison.agreement() == 1.0
