"""Second opinion: our engine vs pySigma's SQLite backend over ../shared/logs, the disagreement table.

    .venv/bin/python bench/second_opinion.py [--shared ../shared] [--all-events] [--examples 3]

Reads the EVTX of evtx-attack-samples and evtx-to-mitre-attack and OTRF's JSON lines, runs SigmaHQ's rules/,
rules-emerging-threats/ and rules-threat-hunting/ through our scan and through pySigma's SQLite backend in an
in-memory SQLite table of the same events (tests/engine/second_opinion.py says how both stand on the same
footing), and prints: the figures, the rules not compared and why, the disagreements by cause with examples,
and which Sigma features the agreeing matches exercised. `--all-events` tests every rule on every event
(detection logic only, no log-source routing) instead of the routed events. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "engine"))

from second_opinion import Run, cause_counts, features, run  # noqa: E402


def report(result: Run, examples: int, seconds: float, routing: bool) -> None:
    comparison = result.comparison
    rules = len(result.compiled.rules)
    disagreements = comparison.disagreements()
    print(f"events            {len(result.events)} (input problems: {len(result.problems)})")
    print(f"columns           {len(result.columns.names)} field names")
    compared, skipped = len(comparison.sql), len(comparison.not_compared)
    print(f"rules             {rules} compiled, {compared} compared, {skipped} not")
    print(f"pairs compared    {comparison.pairs} (rule, event) over {'routed' if routing else 'all'} events")
    print(
        f"matches           ours {sum(map(len, comparison.engine.values()))}, SQL "
        f"{sum(map(len, comparison.sql.values()))}, both {comparison.agreed_matches()}"
    )
    print(f"rules matching    {sum(1 for found in comparison.sql.values() if found)}")
    print(f"disagreements     {len(disagreements)}; agreement {comparison.agreement():.6%} of pairs")
    print(f"time              {seconds:.1f} s")
    print("\nnot compared (reason -> rules)")
    for reason, count in Counter(comparison.not_compared.values()).most_common():
        print(f"  {count:5}  {reason}")
    if not comparison.not_compared:
        print("  (none)")
    print("\ndisagreements by cause")
    for cause, count in cause_counts(result.explained).items():
        print(f"  {count:5}  {cause}")
        for item in [e for e in result.explained if e.cause == cause][:examples]:
            print(f"         e.g. {item}")
    if not result.explained:
        print("  (none)")
    print("\nfeatures of the rules that matched (feature -> rules, matches both sides agree on)")
    used: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for rule in result.compiled.rules:
        found = comparison.sql.get(rule.uid)
        if not found:
            continue
        for feature in features(rule.rule):
            used[feature] += 1
            hits[feature] += len(found & comparison.engine[rule.uid])
    for feature, count in used.most_common():
        print(f"  {feature:14} {count:5} rules {hits[feature]:7} matches")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--all-events", action="store_true", help="every rule on every event (no routing)")
    parser.add_argument("--examples", type=int, default=3, help="examples printed per cause")
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.shared, routing=not args.all_events)
    report(result, args.examples, time.perf_counter() - started, not args.all_events)


if __name__ == "__main__":
    main()
