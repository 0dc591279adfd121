"""Sigma correlation rules run over a stream of rule matches (spec v2.1 "Sigma Correlation Rules").

The scanner calls `Correlator.feed(rule, event)` for every base-rule match, in event-time order, and
`flush()` at the end of input. Chaining happens inside: when a correlation fires, its alert is fed to the
correlations that refer to it, and `feed` returns the child's alert followed by its parents'. Alerts are
never to be fed back.

Semantics, and the choices made where the spec leaves room:

- Window: sliding, `timespan` long, ending at each event. It holds the group's entries whose time t' has
  `t - timespan <= t' <= t` (both ends inclusive, as pySigma's SQL executor's `RANGE timespan PRECEDING`).
- Firing: a correlation fires at the first event whose window satisfies the condition; the alert carries that
  window's metric and events; then the group's window is reset (emptied), so the next alert needs the
  condition to hold again on later events. This is one alert per group per window, with no event in two
  alerts of the same correlation (Hayabusa restarts its count after the counted records; rsigma calls this
  the `reset` action). Because the decision is made at the event that closes the window, nothing is pending
  at the end of input and `flush()` returns no alerts; it releases the state.
- Upper bounds (lt, lte, eq, neq) are tested on the window ending at each event, like pySigma's SQL
  executor: `lt: 3` holds at a group's first event. All condition operators must hold (the spec's ranges).
- Metrics: event_count counts distinct events (an event matching two referenced rules counts once, as
  pySigma's `DISTINCT` event ids); value_count counts distinct values of `field` (several fields: distinct
  combinations); temporal counts the referenced rules seen; temporal_ordered the longest run of referenced
  rules seen in their listed order (equal times: in arrival order); value_sum/value_avg sum and average
  exactly; value_percentile interpolates linearly between closest ranks; value_median is percentile 50.
- Group-by and value_count values compare case-insensitively, numbers equal to their text ("4624" = 4624),
  as pySigma's SQL executor (lower-cased keys, `COLLATE NOCASE`). The alert shows the first event's values.
- Skipped and counted in `skips` (per correlation and reason), never silently dropped: events without a
  timestamp; events missing a group-by field (pySigma's SQL executor drops NULL keys and reports
  `missing_group_key`); value_* events whose field is missing or not a number; an event already counted
  through another rule of the same correlation (temporal types count it once per rule); events older than
  their group's open window (input not in time order; slightly late events are put in order and kept); the
  oldest entries of a window over `max_group_entries`.
- Memory: a group keeps the entries within `timespan` of its newest entry; a group whose newest entry is older
  than `timespan` before the newest time seen is dropped (time-based expiry); a window holds at most
  `max_group_entries`, and a correlation at most `max_groups` open groups (the least recently fed one is
  dropped first: a long `timespan` over many distinct values, such as one group per host over a year,
  would otherwise grow without bound). Each drop is counted in `skips` with the entries it cost.
- `generate`: `outputs(rule)` is False for the rules (and intermediate correlations) referred to by a
  correlation with `generate: false`, the default: the scan reports their own matches only when it is True
  (pySigma's `disable_output`).
"""

from __future__ import annotations

import json
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from ruleatlas.engine.correlate_rules import (
    NUMERIC_TYPES,
    CompiledCorrelation,
    compile_correlations,
)
from ruleatlas.engine.correlate_window import Entry, GroupWindow, make_aggregate
from ruleatlas.logs.event import Event, lookup
from ruleatlas.model import TEMPORAL_TYPES, Problem, Rule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_GROUP_ENTRIES = 100_000
MAX_GROUPS = 50_000  # open groups per correlation; beyond it the least recently fed group is dropped
SWEEP_EVERY = 4096  # feeds between sweeps of groups that went quiet

NO_TIMESTAMP = "event has no timestamp"
LATE = "event older than its group's open window (input not in time order)"
DUPLICATE = "event already counted through another rule of this correlation"
WINDOW_FULL = "window over max_group_entries: oldest entry dropped"
GROUPS_FULL = "open groups over max_groups: the least recently fed group dropped with its entries"

FieldGetter = Callable[[str], object]


@dataclass(slots=True)
class CorrelationAlert:
    rule: Rule
    type: str
    group: dict[str, object]
    window_start: datetime
    window_end: datetime
    count: float | int
    events: list[Event]


@dataclass(slots=True)
class CorrelationSkip:
    """How many inputs a correlation could not use, and why."""

    rule: Rule
    reason: str
    count: int


class _Run:
    """A compiled correlation and its open group windows, least recently fed first."""

    __slots__ = ("groups", "spec")

    def __init__(self, spec: CompiledCorrelation) -> None:
        self.spec = spec
        self.groups: OrderedDict[tuple[str, ...], GroupWindow] = OrderedDict()

    def sweep(self, now: int) -> None:
        cutoff = now - self.spec.span_us
        while self.groups:
            first = next(iter(self.groups.values()))
            if first.newest is not None and first.newest >= cutoff:
                break
            self.groups.popitem(last=False)


class Correlator:
    def __init__(
        self,
        correlations: Sequence[Rule],
        base_rules: Sequence[Rule],
        *,
        max_group_entries: int = MAX_GROUP_ENTRIES,
        max_groups: int = MAX_GROUPS,
    ) -> None:
        specs, problems = compile_correlations(correlations, base_rules)
        self.problems: list[Problem] = problems
        self._runs = [_Run(spec) for spec in specs]
        self._max_entries = max(1, max_group_entries)
        self._max_groups = max(1, max_groups)
        self._by_match: dict[str, list[tuple[_Run, int]]] = {}
        self._by_alert: dict[str, list[tuple[_Run, int]]] = {}
        hidden: set[str] = set()
        for run in self._runs:
            for number, slot in enumerate(run.spec.slots):
                for target in slot.rules:
                    table = self._by_alert if target.correlation is not None else self._by_match
                    table.setdefault(target.uid, []).append((run, number))
                    if not run.spec.generate:
                        hidden.add(target.uid)
        self.hidden_uids: frozenset[str] = frozenset(hidden)
        self._skips: Counter[tuple[str, str]] = Counter()
        self._skip_rules = {run.spec.rule.uid: run.spec.rule for run in self._runs}
        self._seq = 0
        self._alerts = 0
        self._clock: int | None = None
        self._since_sweep = 0

    @property
    def correlations(self) -> list[Rule]:
        """The correlation rules that run (the others have a Problem)."""
        return [run.spec.rule for run in self._runs]

    @property
    def referenced_uids(self) -> frozenset[str]:
        """The base rules whose matches the correlator wants to be fed."""
        return frozenset(self._by_match)

    def outputs(self, rule: Rule) -> bool:
        """Whether `rule`'s own matches (or alerts) are to be reported, per the `generate` of correlations."""
        return rule.uid not in self.hidden_uids

    @property
    def skips(self) -> list[CorrelationSkip]:
        return [
            CorrelationSkip(self._skip_rules[uid], reason, count)
            for (uid, reason), count in sorted(self._skips.items())
        ]

    def open_entries(self) -> int:
        """Entries held in open windows, across all correlations (for memory checks)."""
        return sum(len(window.entries) for run in self._runs for window in run.groups.values())

    def feed(self, match_rule: Rule, event: Event) -> list[CorrelationAlert]:
        targets = self._by_match.get(match_rule.uid)
        if not targets:
            return []
        if event.timestamp is None:
            for run, _slot in targets:
                self._skip(run, NO_TIMESTAMP)
            return []
        time = _micros(event.timestamp)
        alerts: list[CorrelationAlert] = []
        get: FieldGetter = partial(lookup, event.fields)
        for run, slot in targets:
            self._process(run, slot, time, get, (event,), _event_key(event), alerts)
        self._tick(time)
        return alerts

    def flush(self) -> list[CorrelationAlert]:
        """End of input: every window was decided at its last event, so this only releases the state."""
        for run in self._runs:
            run.groups.clear()
        self._clock = None
        return []

    # --- internals -----------------------------------------------------------------------------------------

    def _skip(self, run: _Run, reason: str) -> None:
        self._skips[(run.spec.rule.uid, reason)] += 1

    def _tick(self, time: int) -> None:
        if self._clock is None or time > self._clock:
            self._clock = time
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self._since_sweep = 0
            for run in self._runs:
                run.sweep(self._clock)

    def _process(
        self,
        run: _Run,
        slot_number: int,
        time: int,
        get: FieldGetter,
        events: tuple[Event, ...],
        key: Hashable,
        out: list[CorrelationAlert],
    ) -> None:
        spec = run.spec
        slot = spec.slots[slot_number]
        shown: dict[str, object] = {}
        parts: list[str] = []
        for name, field_name in zip(spec.group_by, slot.group_fields, strict=True):
            value = get(field_name)
            if value is None:
                self._skip(run, f"group-by field '{field_name}' missing")
                return
            shown[name] = value
            parts.append(comparable(value))
        value = self._value(run, slot.value_fields, get)
        if value is _MISSING:
            return

        group_key = tuple(parts)
        window = run.groups.get(group_key)
        if window is None:
            window = GroupWindow(shown, make_aggregate(spec), spec.type in TEMPORAL_TYPES)
            if len(run.groups) >= self._max_groups:
                _, dropped = run.groups.popitem(last=False)
                self._skips[(spec.rule.uid, GROUPS_FULL)] += len(dropped.entries)
            run.groups[group_key] = window
        else:
            run.groups.move_to_end(group_key)
        newest = window.newest
        if newest is not None and time < newest - spec.span_us:
            self._skip(run, LATE)
            return
        self._seq += 1
        entry = Entry(time, self._seq, slot_number, key, value, events)
        if window.has(entry):
            self._skip(run, DUPLICATE)
            return
        window.insert(entry)
        latest = time if newest is None else max(time, newest)
        window.evict_before(latest - spec.span_us)
        while len(window.entries) > self._max_entries:
            window.drop_oldest()
            self._skip(run, WINDOW_FULL)
        run.sweep(latest)

        metric = window.aggregate.metric(window.entries)
        if metric is None or not spec.holds(metric):
            return
        evidence = window.aggregate.evidence(window.entries) or list(window.entries)
        run.groups.pop(group_key, None)  # reset: the next alert needs new events
        alert = _alert(spec, window.group, metric, evidence)
        out.append(alert)
        self._chain(alert, out)

    def _value(self, run: _Run, fields: tuple[str, ...], get: FieldGetter) -> object:
        ctype = run.spec.type
        if ctype != "value_count" and ctype not in NUMERIC_TYPES:
            return None
        values = [get(name) for name in fields]
        for name, value in zip(fields, values, strict=True):
            if value is None:
                self._skip(run, f"value field '{name}' missing")
                return _MISSING
        if ctype == "value_count":
            return tuple(comparable(v) for v in values) if len(values) > 1 else comparable(values[0])
        number = to_number(values[0])
        if number is None:
            self._skip(run, f"value field '{fields[0]}' is not a number")
            return _MISSING
        return number

    def _chain(self, alert: CorrelationAlert, out: list[CorrelationAlert]) -> None:
        targets = self._by_alert.get(alert.rule.uid)
        if not targets:
            return
        self._alerts += 1
        key = ("alert", self._alerts)
        get = partial(_alert_field, alert)
        time = _micros(alert.window_end)
        for run, slot in targets:
            self._process(run, slot, time, get, tuple(alert.events), key, out)


_MISSING = object()


def _alert(
    spec: CompiledCorrelation, group: dict[str, object], metric: int | float, evidence: list[Entry]
) -> CorrelationAlert:
    evidence.sort(key=lambda entry: entry.order)
    events: list[Event] = []
    seen: set[Hashable] = set()
    for entry in evidence:
        for event in entry.events:
            key = _event_key(event)
            if key not in seen:
                seen.add(key)
                events.append(event)
    return CorrelationAlert(
        rule=spec.rule,
        type=spec.type,
        group=dict(group),
        window_start=_datetime(evidence[0].time),
        window_end=_datetime(max(entry.time for entry in evidence)),
        count=metric,
        events=events,
    )


def _alert_field(alert: CorrelationAlert, name: str) -> object:
    """A chained alert's field: its group value, else a value all its events that have the field agree on."""
    if name in alert.group:
        return alert.group[name]
    found: object = None
    for event in alert.events:
        value = lookup(event.fields, name)
        if value is None:
            continue
        if found is None:
            found = value
        elif comparable(value) != comparable(found):
            return None
    return found


def _event_key(event: Event) -> Hashable:
    if event.record is not None:
        return event.file, event.record
    return "object", id(event)  # held by the window while the key matters, so the id is not reused


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def _datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def comparable(value: object) -> str:
    """The text a group-by or value_count value is compared by: case-folded, numbers as their text."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, sort_keys=True, default=str).casefold()


def to_number(value: object) -> int | float | None:
    """A finite number from a number or from text that reads as one; None otherwise (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# --- output ---------------------------------------------------------------------------------------


def correlation_alert_json(alert: CorrelationAlert) -> dict[str, object]:
    """The JSONL shape of an alert: rule, correlation (type, group, window, count) and its events' ids."""
    rule = alert.rule
    return {
        "rule": {"uid": rule.uid, "id": rule.id, "title": rule.title, "level": rule.level},
        "correlation": {
            "type": alert.type,
            "group": {name: _json_value(value) for name, value in alert.group.items()},
            "window": {"start": iso_time(alert.window_start), "end": iso_time(alert.window_end)},
            "count": alert.count,
        },
        "events": [_event_ref(event) for event in alert.events],
    }


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event_ref(event: Event) -> dict[str, object]:
    record: object = event.record
    if record is None:
        record = to_number(event.fields.get("EventRecordID"))
    return {
        "file": event.file,
        "record": record,
        "timestamp": iso_time(event.timestamp) if event.timestamp is not None else None,
    }


def _json_value(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)
