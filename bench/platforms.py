"""The non-Windows platforms: catalog load cost, how precisely every vendor's cloud and SaaS rules name their
events, and the events per platform with rules and samples.

    .venv/bin/python bench/platforms.py [--shared ../shared] [--source sigma --source elastic ...]

Prints:
1. the CPU time of building the platform catalogs alone (platforms.add_platforms on an empty catalog) and
   the size of their JSON; per platform its providers and events and the source they came from;
2. per vendor, over the detection rules whose derived log source is a cloud or SaaS product with an action
   table (platforms/actions.py: aws, gcp, google_workspace, kubernetes, okta, github, azure, m365, intune,
   power_platform): how many there are, how many name an action (eventName, eventType, operationName, a
   Splunk data source's event...), how many of those get precise events (every event a platform event,
   none a catch-all) and that share, then the notes of the largest groups of the others;
3. per platform (the full catalog, ../shared/providers included): its events, the events some rule of any
   vendor covers (defined or seen), the events Panther's rule tests hold a sample of, and the rules.

Reads every corpus folder present under SHARED/corpus (all seven vendors: about a minute of CPU).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from ruleatlas.model import Rule, RuleKind
from ruleatlas.sources import SHARED_FOLDERS, SOURCES
from ruleatlas.sources.common import read_tree
from ruleatlas.telemetry import load_telemetry
from ruleatlas.telemetry.catalog import PLATFORM_KIND, TelemetryCatalog
from ruleatlas.telemetry.coverage import event_coverage, rule_facts
from ruleatlas.telemetry.platforms import add_platforms, email
from ruleatlas.telemetry.platforms.actions import ACTION_SOURCES, action_source, resolve_actions
from ruleatlas.telemetry.platforms.samples import panther_test_events, platform_event

REPO = Path(__file__).resolve().parents[1]
# the products of an action table that are no cloud or SaaS service
NOT_CLOUD = {"linux", email.PRODUCT}
CLOUD_PRODUCTS = sorted({product for product, _ in ACTION_SOURCES} - NOT_CLOUD)


def catalog_cost() -> None:
    start = time.process_time()
    alone = TelemetryCatalog()
    add_platforms(alone)
    cpu = time.process_time() - start
    size = len(json.dumps(alone.to_json()))
    print(f"platform catalogs alone (no providers folder): {cpu:.2f} s CPU, {size / 1e6:.1f} MB of JSON")
    for key, platform in alone.platforms.items():
        providers = [p for p in alone.providers.values() if p.platform == key]
        events = sum(len(p.events) for p in providers)
        print(f"  {platform.label:18} {len(providers):4} providers {events:6} events  ({platform.source})")


def read_rules(shared: Path, sources: list[str]) -> dict[str, list[Rule]]:
    by_vendor: dict[str, list[Rule]] = defaultdict(list)
    for source, (vendor, module_name) in SOURCES.items():
        root = shared / "corpus" / SHARED_FOLDERS[source]
        if (sources and source not in sources) or not root.is_dir():
            continue
        result = read_tree(importlib.import_module(module_name), root, repo_url="", commit="")
        by_vendor[vendor].extend(r for r in result.rules if r.kind is RuleKind.DETECTION)
    return by_vendor


def is_precise(telemetry: TelemetryCatalog, rule: Rule) -> tuple[bool, str]:
    coverage = event_coverage(rule, telemetry)
    kinds = {
        p.kind if (p := telemetry.provider(e.provider_name)) is not None else PLATFORM_KIND
        for e in coverage.events
    }
    return bool(coverage.events) and kinds == {PLATFORM_KIND}, coverage.note


def vendor_shares(telemetry: TelemetryCatalog, by_vendor: dict[str, list[Rule]]) -> None:
    print(f"\nCloud and SaaS detection rules per vendor ({', '.join(CLOUD_PRODUCTS)}):")
    print(f"  {'vendor':10} {'rules':>6} {'name an action':>15} {'precise':>8} {'share':>7}")
    notes: Counter[str] = Counter()
    totals = Counter[str]()
    for vendor, rules in by_vendor.items():
        counts = Counter[str]()
        for rule in rules:
            logsource = {k.lower(): str(v).lower() for k, v in rule.logsource.items() if v}
            product, service = logsource.get("product", ""), logsource.get("service", "")
            if product not in CLOUD_PRODUCTS or action_source(product, service) is None:
                continue
            counts["rules"] += 1
            facts = rule_facts(rule)
            resolution = resolve_actions(telemetry, product, service, facts.values, rule.logsource)
            if resolution is None or not resolution.named_action:
                continue
            counts["named"] += 1
            precise, note = is_precise(telemetry, rule)
            if precise:
                counts["precise"] += 1
            else:
                notes[f"{vendor}: {note[:130]}"] += 1
        share = 100 * counts["precise"] / max(counts["named"], 1)
        print(f"  {vendor:10} {counts['rules']:6} {counts['named']:15} {counts['precise']:8} {share:6.1f} %")
        totals.update(counts)
    share = 100 * totals["precise"] / max(totals["named"], 1)
    print(f"  {'all':10} {totals['rules']:6} {totals['named']:15} {totals['precise']:8} {share:6.1f} %")
    print("\nWhy the others are not precise (largest groups):")
    for note, n in notes.most_common(12):
        print(f"  {n:4}  {note}")


def platform_events(telemetry: TelemetryCatalog, by_vendor: dict[str, list[Rule]], shared: Path) -> None:
    ruled: dict[str, set[tuple[str, str]]] = defaultdict(set)
    rules: Counter[str] = Counter()
    for vendor_rules in by_vendor.values():
        for rule in vendor_rules:
            platforms = set()
            for ref in event_coverage(rule, telemetry).events:
                provider = telemetry.provider(ref.provider_name)
                if provider is None or not provider.platform:
                    continue
                ruled[provider.platform].add((provider.name, str(ref.event_id)))
                platforms.add(provider.platform)
            rules.update(platforms)
    sampled: dict[str, set[tuple[str, str]]] = defaultdict(set)
    tests = shared / "corpus" / "panther"
    for event, _where in panther_test_events(tests, []) if tests.is_dir() else ():
        found = platform_event(event, telemetry)
        provider = telemetry.provider(found[0]) if found is not None else None
        if found is not None and provider is not None:
            sampled[provider.platform].add(found)
    print("\nEvents per platform (rules of every vendor read; samples: Panther's rule tests):")
    print(
        f"  {'platform':18} {'status':8} {'events':>7} {'with rules':>11} {'with samples':>13} {'rules':>6}"
    )
    for key, platform in telemetry.platforms.items():
        defined = {
            (p.name, str(k)) for p in telemetry.providers.values() if p.platform == key for k in p.events
        }
        events = defined | ruled[key] | sampled[key]
        print(
            f"  {platform.label:18} {platform.status:8} {len(events):7} {len(ruled[key]):11} "
            f"{len(sampled[key]):13} {rules[key]:6}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--source", action="append", default=[], help="a source name (default: every one)")
    args = parser.parse_args()
    catalog_cost()
    telemetry = load_telemetry(args.shared / "providers", args.shared / "corpus" / "sigma")
    start = time.process_time()
    by_vendor = read_rules(args.shared, args.source)
    count, cpu = sum(map(len, by_vendor.values())), time.process_time() - start
    print(f"\nread {count} detection rules in {cpu:.1f} s CPU")
    vendor_shares(telemetry, by_vendor)
    platform_events(telemetry, by_vendor, args.shared)


if __name__ == "__main__":
    main()
