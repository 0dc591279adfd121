"""Telemetry load time and event coverage of the Windows detection rules of a SigmaHQ checkout.

    .venv/bin/python bench/coverage.py [SHARED]   (default: ../shared)

Prints: load_telemetry time (best and median of 5), catalog size and to_json/from_json figures; then, over the
detection rules of the rules*/ folders whose log source is Windows (product windows, or no product and a
category/service of the Windows table): how many get >= 1 event, >= 1 event with a known definition, which
notes the others carry (grouped), and the most common notes overall.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from ruleatlas.model import Rule, RuleKind
from ruleatlas.sources.sigma import read_sigma_tree
from ruleatlas.telemetry import load_telemetry
from ruleatlas.telemetry.catalog import TelemetryCatalog
from ruleatlas.telemetry.coverage import event_coverage

REPO = Path(__file__).resolve().parents[1]


def is_windows(rule: Rule, telemetry: TelemetryCatalog) -> bool:
    logsource = {k.lower(): str(v).lower() for k, v in rule.logsource.items() if v}
    if logsource.get("product") == "windows":
        return True
    table = telemetry.logsources
    return not logsource.get("product") and (
        logsource.get("category", "") in table.categories or logsource.get("service", "") in table.services
    )


def reason(note: str) -> str:
    """A note with its rule-specific parts (numbers, field lists) blanked, to group alike notes."""
    text = re.sub(r"\d+", "N", note)
    text = re.sub(r"(lacks|carry|carries|uses \() [^.;]*", r"\1 …", text)
    return re.sub(r"definitions \(no title or fields known\): .*", "definitions: …", text)


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared"
    providers, sigma = shared / "providers", shared / "corpus" / "sigma"

    times = []
    for _ in range(5):
        start = time.perf_counter()
        telemetry = load_telemetry(providers, sigma)
        times.append(time.perf_counter() - start)
    events = sum(len(p.events) for p in telemetry.providers.values())
    with_fields = sum(1 for p in telemetry.providers.values() for e in p.events.values() if e.fields)
    print(
        f"load_telemetry: best {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"(5 runs; first run incl. pySigma import {times[0]:.3f} s)"
    )
    print(
        f"providers {len(telemetry.providers)}, events {events} ({with_fields} with fields), "
        f"problems {len(telemetry.problems)}"
    )
    start = time.perf_counter()
    text = json.dumps(telemetry.to_json(), separators=(",", ":"))
    dumped = time.perf_counter() - start
    start = time.perf_counter()
    TelemetryCatalog.from_json(json.loads(text))
    loaded = time.perf_counter() - start
    print(f"to_json+dumps {dumped:.3f} s, {len(text) / 1e6:.1f} MB; loads+from_json {loaded:.3f} s")

    result = read_sigma_tree(sigma)
    rules = [
        r
        for r in result.rules
        if r.folder.startswith("rules") and r.kind is RuleKind.DETECTION and is_windows(r, telemetry)
    ]
    start = time.perf_counter()
    coverages = [(rule, event_coverage(rule, telemetry)) for rule in rules]
    seconds = time.perf_counter() - start
    covered = [c for _, c in coverages if c.events]
    defined = [c for _, c in coverages if any(e.title for e in c.events)]
    print(f"\nWindows detection rules in rules*/: {len(rules)} (coverage computed in {seconds:.2f} s)")
    print(f"  >= 1 event:                 {len(covered)} ({100 * len(covered) / len(rules):.1f}%)")
    print(f"  >= 1 event with definition: {len(defined)} ({100 * len(defined) / len(rules):.1f}%)")
    print(f"  with a note:                {sum(1 for _, c in coverages if c.note)}")
    hunting = [
        r
        for r in result.rules
        if r.folder.startswith("rules") and r.kind is RuleKind.HUNTING and is_windows(r, telemetry)
    ]
    hunted = sum(1 for r in hunting if event_coverage(r, telemetry).events)
    print(f"  (threat-hunting rules, not counted above: {hunted}/{len(hunting)} with >= 1 event)")

    uncovered = Counter(reason(c.note) for _, c in coverages if not c.events)
    print(f"\nWithout events ({sum(uncovered.values())}), by reason:")
    for note, count in uncovered.most_common():
        print(f"  {count:5d}  {note}")
    examples = [(r.uid, r.logsource, c.note) for r, c in coverages if not c.events]
    for uid, logsource, note in examples[:40]:
        print(f"         {uid}  {logsource}  {note}")

    notes = Counter(
        reason(sentence.rstrip(".") + ".")
        for _, c in coverages
        for sentence in re.split(r"(?<=\.) (?=[A-Z])", c.note)
        if sentence
    )
    print("\nMost common note sentences (all rules):")
    for note, count in notes.most_common(15):
        print(f"  {count:5d}  {note}")
    per_event = Counter((e.provider, e.event_id, e.title) for c in covered for e in c.events)
    print("\nMost covered events:")
    for (label, event_id, title), count in per_event.most_common(12):
        print(f"  {count:5d}  {label} {event_id} {title}")


if __name__ == "__main__":
    main()
