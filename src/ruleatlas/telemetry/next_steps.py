"""`readiness --next`: from what a user's logs hold, the events to collect next and the rules each unlocks.

The readiness report says which rules can fire on the logs; this plan says what to switch on to make more of
them fire. Every counted detection rule is a `RuleNeed` (telemetry/priority.py, with the events bridged to
its own); an event *serves* a rule when the logs hold it carrying every field of one way the rule can match
(the readiness verdict's test, through the `Lookup` the caller gives: readiness's index of what was seen).
`priority.next_collection` then picks, step by step, the event that lets the most (weighted) waiting rules
fire, each step counting only the rules the steps above it have not unlocked yet. Each step says how to
collect the event where the definitions know (the Sysmon configuration element, the audit policy), and,
when the logs hold the event already but without the fields the rules need, which fields are missing.
Catch-all events (a whole log source: `windows/any`, `aws/any`) are never recommended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from ruleatlas.telemetry.catalog import LOGSOURCE_KIND, TelemetryCatalog, parse_event_key
from ruleatlas.telemetry.collect import CollectHint, collect_hint
from ruleatlas.telemetry.observed import Observed
from ruleatlas.telemetry.priority import EventRow, RuleNeed, StepJson, fires, next_collection
from ruleatlas.telemetry.products import ANY_EVENT, WINDOWS_PRODUCT
from ruleatlas.telemetry.readiness import SeenIndex

Lookup = Callable[[str, str, str], tuple[bool, frozenset[str]]]
"""(provider, event key, channel) -> (the logs hold the event, its field names lower-cased)."""
EventNeeds = dict[EventRow, tuple[str, list[list[str]]]]

DEFAULT_STEPS = 15
RULES_SHOWN = 25  # rules listed per step (the count is exact)


class _Served:
    """Whether the logs serve a rule on an event, each event looked up once."""

    def __init__(
        self,
        event_needs: dict[str, EventNeeds],
        lookup: Lookup,
        telemetry: TelemetryCatalog | None,
        pipeline_only: dict[str, set[EventRow]] | None = None,
    ) -> None:
        self.event_needs = event_needs
        # per rule, the bridged events the scanner does not feed to it: they never make it fire here, as
        # readiness counts it (partial), and collecting them is not recommended for it
        self.pipeline_only = pipeline_only or {}
        self.lookup = lookup
        self.telemetry = telemetry
        self.seen: dict[tuple[str, str, str], tuple[bool, frozenset[str]]] = {}
        self.defined: dict[EventRow, frozenset[str] | None] = {}
        common = telemetry.logsources.common_fields if telemetry is not None else ()
        self.common = frozenset(f.lower() for f in common)

    def carried(self, event: EventRow) -> frozenset[str] | None:
        """The fields the event's definition lists (and those every Windows event has), None if unknown."""
        if event not in self.defined:
            provider = self.telemetry.provider(event[0]) if self.telemetry is not None else None
            found = provider.events.get(parse_event_key(event[1])) if provider is not None else None
            self.defined[event] = (
                frozenset(found.field_keys()) | self.common if found is not None and found.fields else None
            )
        return self.defined[event]

    def possible(self, need: RuleNeed, event: EventRow) -> bool:
        """Collecting the event can serve the rule: it is not in the logs yet, or the fields the rule lacks
        on it are fields its definition has (a logging option away: 4688's command line), not fields only
        enrichment adds."""
        if event in self.pipeline_only.get(need.uid, ()):
            return False
        channel, alternatives = self.alternatives(need, event)
        seen, fields = self.observed(event, channel)
        carried = self.carried(event)
        if not seen or carried is None:
            return True
        return any(
            all(f.lower() in fields or f.lower() in carried for f in alt) for alt in alternatives or [[]]
        )

    def observed(self, event: EventRow, channel: str) -> tuple[bool, frozenset[str]]:
        key = (event[0], event[1], channel)
        found = self.seen.get(key)
        if found is None:
            found = self.seen[key] = self.lookup(*key)
        return found

    def alternatives(self, need: RuleNeed, event: EventRow) -> tuple[str, list[list[str]]]:
        return self.event_needs.get(need.uid, {}).get(event, ("", [[]]))

    def __call__(self, need: RuleNeed, event: EventRow) -> bool:
        if event in self.pipeline_only.get(need.uid, ()):
            return False
        channel, alternatives = self.alternatives(need, event)
        seen, fields = self.observed(event, channel)
        if not seen:
            return False
        return any(all(f.lower() in fields for f in alt) for alt in alternatives or [[]])

    def missing(self, need: RuleNeed, event: EventRow) -> list[str]:
        """The fewest fields the rule lacks on an event the logs hold ([] when it is not held)."""
        channel, alternatives = self.alternatives(need, event)
        seen, fields = self.observed(event, channel)
        if not seen:
            return []
        lacking = [[f for f in alt if f.lower() not in fields] for alt in alternatives or [[]]]
        return min(lacking, key=len)


def platform_of(telemetry: TelemetryCatalog | None, provider_name: str) -> str:
    """The platform of a provider as the tables name it; a provider or channel the definitions do not know
    is a Windows one (as the telemetry pages count it); a stand-in log source of no platform (Zeek, a proxy)
    is "other"."""
    provider = telemetry.provider(provider_name) if telemetry is not None else None
    if provider is None:
        return "windows"
    return provider.platform or ("other" if provider.kind == LOGSOURCE_KIND else "windows")


def _eligible(telemetry: TelemetryCatalog | None, platforms: set[str] | None) -> Callable[[EventRow], bool]:
    def eligible(event: EventRow) -> bool:
        if event[1] == ANY_EVENT:
            return False
        provider = telemetry.provider(event[0]) if telemetry is not None else None
        if provider is not None and provider.kind == LOGSOURCE_KIND and provider.name == WINDOWS_PRODUCT:
            return False
        return platforms is None or platform_of(telemetry, event[0]) in platforms

    return eligible


class PlanStep(StepJson):
    rank: int
    label: str  # "Sysmon 1"
    title: str  # the event's title, when it says more than the label
    collect: CollectHint | None
    in_logs: bool  # the logs show the event, without some field the rules need
    missing_fields: list[str]
    path: NotRequired[str]  # the event's site path (`readiness --next` adds it)


class CollectionPlan(TypedDict):
    """What to collect next: how many detection rules fire now and wait, and the steps."""

    platforms: list[str]
    rules: int
    firing: int
    waiting: int
    unlocked: int
    steps: list[PlanStep]


def next_steps(
    needs: list[RuleNeed],
    event_needs: dict[str, EventNeeds],
    lookup: Lookup,
    telemetry: TelemetryCatalog | None,
    limit: int = DEFAULT_STEPS,
    platforms: set[str] | None = None,
    pipeline_only: dict[str, set[EventRow]] | None = None,
) -> CollectionPlan:
    """The plan as JSON: how many detection rules fire now and wait, and the steps. `platforms`: recommend
    only events of these platforms (those the logs show: a Windows estate is not told to collect CloudTrail);
    None: any. `pipeline_only`: per rule, the bridged events the scanner does not feed to it."""
    served = _Served(event_needs, lookup, telemetry, pipeline_only)
    usable = [n for n in needs if n.parts and all(n.parts)]
    firing = sum(1 for n in usable if fires(n, served, set()))
    steps = next_collection(
        usable, served, limit=limit, eligible=_eligible(telemetry, platforms), possible=served.possible
    )
    out: list[PlanStep] = []
    unlocked_total = 0
    for rank, step in enumerate(steps, 1):
        provider = telemetry.provider(step.event[0]) if telemetry is not None else None
        event = provider.events.get(parse_event_key(step.event[1])) if provider is not None else None
        seen, _ = served.observed(step.event, "")
        lacking: Counter[str] = Counter()
        for need in step.unlocked:
            lacking.update(served.missing(need, step.event))
        unlocked_total += len(step.unlocked)
        data = step.to_json()
        label = f"{provider.label if provider is not None else step.event[0]} {step.event[1]}"
        out.append(
            {
                "rank": rank,
                "provider": data["provider"],
                "event_key": data["event_key"],
                "rules": data["rules"],
                "weighted": data["weighted"],
                "alone": data["alone"],
                "by_vendor": data["by_vendor"],
                "unlocks": data["unlocks"][:RULES_SHOWN],
                "label": label,
                "title": event.title
                if event is not None and event.title not in (step.event[1], label)
                else "",
                "collect": collect_hint(provider.name if provider is not None else "", event),
                "in_logs": seen or bool(lacking),
                "missing_fields": [f for f, _ in lacking.most_common(8)],
            }
        )
    return {
        "platforms": sorted(platforms) if platforms is not None else [],
        "rules": len(usable),
        "firing": firing,
        "waiting": len(usable) - firing,
        "unlocked": unlocked_total,
        "steps": out,
    }


def print_next(plan: CollectionPlan, write: Callable[[str], Any]) -> None:
    """The plan for a terminal."""
    where = f" on {', '.join(plan['platforms'])} (the platforms of these logs)" if plan["platforms"] else ""
    write(
        f"\nWhat to collect next{where}: {plan['firing']:,} of {plan['rules']:,} detection rules can fire on "
        "these logs (events bridged to theirs included, where the scanner feeds them to the rule); the "
        f"{len(plan['steps'])} steps below unlock {plan['unlocked']:,} more.\n"
    )
    for step in plan["steps"]:
        title = f" ({step['title']})" if step["title"] else ""
        gain = f"+{step['rules']:,} rules (weighted {step['weighted']})"
        write(f"{step['rank']:>3}. {step['label']}{title}: {gain}\n")
        if step["collect"]:
            write(f"     {step['collect']['kind']}: {step['collect']['text']}\n")
        if step["missing_fields"]:
            write(f"     in your logs, but without {', '.join(step['missing_fields'])}\n")
        for rule in step["unlocks"][:5]:
            write(f"     - {rule['uid']} [{rule['level'] or 'no level'}] {rule['title']}\n")
        if step["rules"] > 5:
            write(f"     ... and {step['rules'] - 5:,} more\n")


@dataclass(slots=True, frozen=True)
class _Row:
    """An event to look up in readiness's index (its `CoveredEvent`)."""

    provider: str
    channel: str
    event_key: str
    needs: list[list[str]]


def plan_from_logs(
    needs: list[RuleNeed],
    event_needs: dict[str, EventNeeds],
    observed: Observed,
    telemetry: TelemetryCatalog | None,
    limit: int = DEFAULT_STEPS,
    pipeline_only: dict[str, set[EventRow]] | None = None,
) -> CollectionPlan:
    """`next_steps` over what readiness observed in the logs, judged by readiness's own index of it, for the
    platforms the logs show."""
    index = SeenIndex(observed)

    def lookup(provider: str, key: str, channel: str) -> tuple[bool, frozenset[str]]:
        seen = index.lookup(_Row(provider, channel, key, []), telemetry)
        return seen.seen, frozenset(seen.fields)

    platforms = {platform_of(telemetry, sample.provider) for sample in observed.events.values()}
    return next_steps(needs, event_needs, lookup, telemetry, limit, platforms or None, pipeline_only)
