"""Readiness: which of the catalog's rules can fire on the telemetry a set of logs holds, and why not.

The logs are streamed through the log readers (`ruleatlas.logs`) into an `Observed`: per event type
(provider, EventID), how often it was seen, on which channels, and which field names it carried (bounded by
the number of event types and fields, so memory stays flat however large the logs). Then, for every rule
counted in the catalog (deprecated and unsupported left out), over the events it covers (the build's
`tel_rule_events`):

- **fires**: some covered event was seen, carrying every field of at least one way the rule can match
  (`needs`, telemetry/fields.py: the condition in disjunctive form, fields under `not` needing nothing);
- **blocked**, *event never seen*: none of its events is in the logs;
- **blocked**, *field never present*: its events were seen, but each lacks a field that every way of
  matching needs;
- **unknown**: the rule covers no event (the uncovered-rules page says why).

Events bridged to a rule's own (telemetry/bridged.py) count too, and the verdict says so: a rule none of
whose own events fires, but which a bridged event in the logs serves, **fires** *through an event bridge*
when the scanner feeds that event to it (or the scanner does not run the rule: other vendors' languages),
and is **partial** (*served once a pipeline maps it*) when the scanner does not route that event to it.

Catch-all events are seen through their channel (Windows services) or any Windows event (`windows/any`);
the catch-alls of products without event ids (linux, aws, ...) cannot be recognised in event logs and count as
never seen. Platform events (a CloudTrail eventName, an Okta eventType...) are recognised in JSON logs by
their record's shape (telemetry/platforms/samples.py), so cloud and SaaS rules get verdicts too. The ATT&CK
techniques effectively covered are those of the rules that fire.

Corrupt EVTX files and invalid JSON lines are reported (file, record or line, cause) and skipped; the rest is
read. The report itself is assembled in telemetry/report.py, its page in web/readiness_page.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, Protocol, TypedDict

from ruleatlas.logs.readers import InputProblem, InputSource, plan_inputs, read_source
from ruleatlas.telemetry.catalog import (
    LOGSOURCE_KIND,
    PLATFORM_KIND,
    EventKey,
    TelemetryCatalog,
    name_key,
    parse_event_key,
)
from ruleatlas.telemetry.observed import Observed
from ruleatlas.telemetry.products import ANY_EVENT, WINDOWS_PRODUCT

FIRES, PARTIAL, BLOCKED, UNKNOWN = "fires", "partial", "blocked", "unknown"
EVENT_NEVER_SEEN = "event never seen"
FIELD_NEVER_PRESENT = "field never present"
NO_COVERAGE = "no event coverage"
THROUGH_BRIDGE = "through an event bridge"
NEEDS_PIPELINE = "served once a pipeline maps it"


class CoveredEvent(Protocol):
    """One event a rule covers, with the fields each way of matching it needs (store.telemetry.RuleNeeds)."""

    @property
    def provider(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def event_key(self) -> str: ...
    @property
    def needs(self) -> list[list[str]]: ...


class BridgedCoveredEvent(CoveredEvent, Protocol):
    """An event that serves a rule through a bridge (store.telemetry.BridgedNeeds)."""

    @property
    def bridge(self) -> str: ...
    @property
    def scanned(self) -> bool | None: ...


@dataclass(slots=True)
class Seen:
    """What the logs showed for one covered event of a rule."""

    seen: bool
    count: int = 0
    fields: set[str] = field(default_factory=set)  # lower-cased


class SeenIndex:
    """Lookups over what was observed: by provider and id, by channel and id, by channel, and overall."""

    def __init__(self, observed: Observed) -> None:
        self.by_provider: dict[tuple[str, EventKey], Seen] = {}
        self.by_channel_id: dict[tuple[str, EventKey], Seen] = {}
        self.by_channel: dict[str, Seen] = {}
        self.windows = Seen(False)
        for sample in observed.events.values():
            fields = {f.lower() for f in sample.fields}
            self._add(self.by_provider, (name_key(sample.provider), sample.event_id), sample.count, fields)
            for channel in sample.channels:
                self._add(self.by_channel_id, (name_key(channel), sample.event_id), sample.count, fields)
                self._add(self.by_channel, name_key(channel), sample.count, fields)
            self.windows.seen = True
            self.windows.count += sample.count
            self.windows.fields |= fields

    @staticmethod
    def _add(index: dict[Any, Seen], key: Any, count: int, fields: set[str]) -> None:
        found = index.get(key)
        if found is None:
            index[key] = found = Seen(True)
        found.count += count
        found.fields |= fields

    def lookup(self, row: CoveredEvent, telemetry: TelemetryCatalog | None) -> Seen:
        provider = telemetry.provider(row.provider) if telemetry is not None else None
        key = parse_event_key(row.event_key)
        if provider is not None and provider.kind == LOGSOURCE_KIND:
            if provider.name != WINDOWS_PRODUCT:
                return Seen(False)  # linux, aws, ...: not recognisable in event logs
            if key == ANY_EVENT:
                return self.windows
            return self.by_channel.get(name_key(row.channel), Seen(False)) if row.channel else Seen(False)
        if provider is not None and provider.kind == PLATFORM_KIND:  # CloudTrail, Okta...: by event name
            return self.by_provider.get((name_key(provider.name), key), Seen(False))
        if not isinstance(key, int):
            return Seen(False)
        found = self.by_provider.get((name_key(provider.name if provider else row.provider), key))
        if found is None and row.channel:
            found = self.by_channel_id.get((name_key(row.channel), key))
        if found is None and provider is None:  # the row names the channel where the provider is unknown
            found = self.by_channel_id.get((name_key(row.provider), key))
        return found or Seen(False)


def _event_label(row: CoveredEvent, telemetry: TelemetryCatalog | None) -> str:
    provider = telemetry.provider(row.provider) if telemetry is not None else None
    return f"{provider.label if provider is not None else row.provider} {row.event_key}"


def _lacking(row: CoveredEvent, seen: Seen) -> list[str]:
    """The fewest fields one way of matching lacks on what the logs showed of the event."""
    lacking = [[f for f in alt if f.lower() not in seen.fields] for alt in row.needs] or [[]]
    return min(lacking, key=len)


class Verdict(TypedDict):
    """Whether a rule can fire on the logs read, and why not."""

    verdict: str  # FIRES, PARTIAL, BLOCKED or UNKNOWN
    reason: str  # "" when it fires on its own events
    detail: NotRequired[str]
    events: list[str]  # the events it fires on (its own, or bridged ones)


def _bridged_verdict(
    bridged: Sequence[BridgedCoveredEvent], index: SeenIndex, telemetry: TelemetryCatalog | None
) -> Verdict | None:
    """The verdict through bridged events in the logs carrying the rule's fields, or None (none is)."""
    scanned: list[str] = []
    mapped: list[str] = []
    for row in bridged:
        seen = index.lookup(row, telemetry)
        if not seen.seen or _lacking(row, seen):
            continue
        label = _event_label(row, telemetry)
        named = f"{label} (bridge: {row.bridge.replace('_', ' ')})"
        (mapped if row.scanned is False else scanned).append(named)
    if scanned:
        return {
            "verdict": FIRES,
            "reason": THROUGH_BRIDGE,
            "detail": "also served by " + ", ".join(scanned),
            "events": scanned,
        }
    if mapped:
        return {
            "verdict": PARTIAL,
            "reason": NEEDS_PIPELINE,
            "detail": f"served by {', '.join(mapped)} once your pipeline maps "
            f"{'them' if len(mapped) > 1 else 'it'}: the scanner does not route "
            f"{'them' if len(mapped) > 1 else 'it'} to this rule",
            "events": [],
        }
    return None


def judge(
    rows: Sequence[CoveredEvent],
    index: SeenIndex,
    telemetry: TelemetryCatalog | None,
    bridged: Sequence[BridgedCoveredEvent] = (),
) -> Verdict:
    """The verdict of one rule from its covered events, then from its bridged events (`bridged`)."""
    firing: list[str] = []
    missing: list[str] = []
    unseen: list[str] = []
    for row in rows:
        seen = index.lookup(row, telemetry)
        label = _event_label(row, telemetry)
        if not seen.seen:
            unseen.append(label)
            continue
        best = _lacking(row, seen)
        if not best:
            firing.append(label)
        else:
            missing.append(f"{label} lacks {', '.join(best)}")
    if firing:
        return {"verdict": FIRES, "reason": "", "events": firing}
    through = _bridged_verdict(bridged, index, telemetry) if bridged else None
    if through is not None:
        return through
    if missing:
        return {
            "verdict": BLOCKED,
            "reason": FIELD_NEVER_PRESENT,
            "detail": "; ".join(missing),
            "events": [],
        }
    return {
        "verdict": BLOCKED,
        "reason": EVENT_NEVER_SEEN,
        "detail": ", ".join(unseen),
        "events": [],
    }


@dataclass(slots=True)
class LogsRead:
    observed: Observed
    files: int
    problems: list[InputProblem]
    skipped: dict[str, int]
    seconds: float


def read_logs(paths: Sequence[Path], telemetry: TelemetryCatalog | None) -> LogsRead:
    """Stream every event of `paths` into an Observed (field names only: no examples, no values kept)."""
    started = time.perf_counter()
    problems: list[InputProblem] = []
    plan = plan_inputs(paths, problems)
    problems.extend(plan.warnings)  # FIFOs and devices named like logs: skipped, and said so
    observed = Observed(telemetry)
    for path in plan.files:
        for event in read_source(InputSource(path), problems=problems):
            observed.add(event.fields)
    return LogsRead(observed, len(plan.files), problems, plan.skipped, time.perf_counter() - started)
