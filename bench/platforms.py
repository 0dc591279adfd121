"""The non-Windows platforms: catalog load cost, and how precisely Sigma's cloud, SaaS and Linux rules name
their events.

    .venv/bin/python bench/platforms.py [SHARED]   (default: ../shared)

Prints: the CPU time of building the platform catalogs from their packages (platforms.add_platforms) and
the size of their JSON; per platform its providers and events (and the source they came from); then over
the detection rules of SigmaHQ's rules*/ folders whose log source has an action table
(platforms/actions.py): how many name an action (eventName, eventType, verb, type...), how many of those get
precise events (every event a platform event, none a catch-all), by platform, and the notes of the others.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from ruleatlas.model import RuleKind
from ruleatlas.sources.sigma import read_sigma_tree
from ruleatlas.telemetry import load_telemetry
from ruleatlas.telemetry.catalog import PLATFORM_KIND, TelemetryCatalog
from ruleatlas.telemetry.coverage import event_coverage, rule_facts
from ruleatlas.telemetry.platforms import add_platforms
from ruleatlas.telemetry.platforms.actions import action_source, resolve_actions

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared"
    start = time.process_time()
    alone = TelemetryCatalog()
    add_platforms(alone)
    cpu = time.process_time() - start
    size = len(json.dumps(alone.to_json()))
    print(f"platform catalogs: {cpu:.2f} s CPU to build, {size / 1e6:.1f} MB of JSON")
    for key, platform in alone.platforms.items():
        providers = [p for p in alone.providers.values() if p.platform == key]
        events = sum(len(p.events) for p in providers)
        print(f"  {platform.label:18} {len(providers):4} providers {events:6} events  ({platform.source})")

    telemetry = load_telemetry(shared / "providers", shared / "corpus" / "sigma")
    result = read_sigma_tree(shared / "corpus" / "sigma")
    rules = [r for r in result.rules if r.folder.startswith("rules") and r.kind is RuleKind.DETECTION]
    named: Counter[str] = Counter()
    precise: Counter[str] = Counter()
    total: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for rule in rules:
        logsource = {k.lower(): str(v).lower() for k, v in rule.logsource.items() if v}
        product, service = logsource.get("product", ""), logsource.get("service", "")
        if action_source(product, service) is None:
            continue
        label = f"{product}/{service}" if service else product
        total[label] += 1
        facts = rule_facts(rule)
        resolution = resolve_actions(telemetry, product, service, facts.values)
        if resolution is None or not resolution.named_action:
            continue
        named[label] += 1
        coverage = event_coverage(rule, telemetry, facts)
        kinds = {
            p.kind if (p := telemetry.provider(e.provider_name)) is not None else PLATFORM_KIND
            for e in coverage.events
        }
        if coverage.events and kinds == {PLATFORM_KIND}:
            precise[label] += 1
        else:
            notes[coverage.note[:140]] += 1
    print("\nSigma detection rules with an action table (rules*/ folders):")
    print(f"  {'log source':28} {'rules':>5} {'name an action':>15} {'precise':>8}")
    for label in sorted(total, key=lambda k: -total[k]):
        print(f"  {label:28} {total[label]:5} {named[label]:15} {precise[label]:8}")
    n_named, n_precise = sum(named.values()), sum(precise.values())
    print(
        f"  {'all':28} {sum(total.values()):5} {n_named:15} {n_precise:8}  "
        f"= {100 * n_precise / max(n_named, 1):.1f} % of those that name an action"
    )
    print("\nWhy the others are not precise:")
    for note, n in notes.most_common(15):
        print(f"  {n:4}  {note}")


if __name__ == "__main__":
    main()
