"""Route events to the rules whose log source can produce them, by (Channel, EventID).

The tables are pySigma's own (house rule 4), read by logs/sigma_windows.py (which the rule pages' event
coverage reads too): the sysmon pipeline's category -> Sysmon EventID, the windows pipelines' service ->
Channel, category -> Channel + EventID (PowerShell) and the windows-audit pipeline's category -> Security
EventID (process_creation -> 4688, registry_* -> 4657). A rule routes to every (Channel, EventID) any of
these pipelines gives its log source; `EventID` None means any event of the channel.

Soundness first: a Windows rule whose log source these tables do not cover (unknown categories or
services, no product) is not routed: it is tested against every event. A rule for another product
(linux, zeek, aws, ...) is not tested on Windows event log records (events with a Channel): its log
source says they are not its events. An event without a Channel is tested against every rule; an event
whose EventID is not a number, against every rule of its channel. The index also narrows a rule to the
EventIDs its detection requires (`required_event_ids`), which changes no match.
`route_applies` is the plain definition the index must agree with (tests compare the two).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ruleatlas.logs.sigma_windows import windows_tables
from ruleatlas.model import All, Any, Expr, Kind, Pred, Ref, Rule

Pair = tuple[str, int | None]  # (case-folded Channel, EventID or None for any)

# pySigma's tables as the routing reads them (logs/sigma_windows.py reads them for the rule pages too).
SERVICE_CHANNELS: dict[str, tuple[str, ...]] = dict(windows_tables().services)
CATEGORY_EVENTS: dict[str, frozenset[tuple[str, int]]] = {
    category: frozenset((e.channel, e.event_id) for e in events)
    for category, events in windows_tables().categories.items()
}


@dataclass(slots=True, frozen=True)
class Route:
    """Where a rule's events come from; `pairs` use case-folded channel names.

    `windows` False: a rule for another product (linux, zeek, aws, ...), which no Windows event log record
    (an event with a Channel) can be meant for; it is tested on events without a Channel only.
    """

    pairs: frozenset[Pair]
    windows: bool = True

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(channel for channel, _ in self.pairs)


NOT_WINDOWS = Route(frozenset(), windows=False)


def route_for(logsource: Mapping[str, str]) -> Route | None:
    """The (Channel, EventID) pairs a log source can match, or None when it cannot be routed."""
    product = str(logsource.get("product", "") or "").lower()
    if product != "windows":
        return NOT_WINDOWS if product else None
    service = logsource.get("service")
    category = logsource.get("category")
    service_pairs: set[Pair] | None = None
    if service:
        channels = SERVICE_CHANNELS.get(str(service).lower())
        if channels is None:
            return None
        service_pairs = {(channel.casefold(), None) for channel in channels}
    category_pairs: set[Pair] | None = None
    if category and str(category).lower() in CATEGORY_EVENTS:
        category_pairs = {
            (channel.casefold(), eid) for channel, eid in CATEGORY_EVENTS[str(category).lower()]
        }
    if service_pairs is not None and category_pairs is not None:
        wanted = {channel for channel, _ in service_pairs}
        narrowed = {pair for pair in category_pairs if pair[0] in wanted}
        return Route(frozenset(narrowed or service_pairs))
    if service_pairs is not None:
        return Route(frozenset(service_pairs))
    if category_pairs is not None:
        return Route(frozenset(category_pairs))
    return None


def event_key(fields: Mapping[str, object]) -> Pair | None:
    """The routing key of an event: (case-folded Channel, EventID), or None when it has no Channel."""
    channel = fields.get("Channel")
    if not isinstance(channel, str):
        return None
    event_id = fields.get("EventID")
    if isinstance(event_id, bool):
        event_id = None
    elif isinstance(event_id, str):
        event_id = int(event_id) if event_id.isdigit() else None
    elif not isinstance(event_id, int):
        event_id = None
    return channel.casefold(), event_id


def route_applies(route: Route | None, key: Pair | None) -> bool:
    """The definition the index implements: may a rule with `route` match an event with `key`?"""
    if route is None or key is None:
        return True
    if not route.windows:
        return False
    channel, event_id = key
    if event_id is None:
        return channel in route.channels
    return (channel, event_id) in route.pairs or (channel, None) in route.pairs


def narrow(route: Route | None, event_ids: frozenset[int] | None) -> Route | None:
    """A rule's route cut down to the EventIDs its detection requires (`required_event_ids`)."""
    if route is None or not route.windows or event_ids is None:
        return route
    pairs: set[Pair] = set()
    for channel, event_id in route.pairs:
        if event_id is None:
            pairs.update((channel, wanted) for wanted in event_ids)
        elif event_id in event_ids:
            pairs.add((channel, event_id))
    return Route(frozenset(pairs))


def _event_id_value(pred: Pred) -> int | None:
    value = pred.value
    if isinstance(value, bool) or pred.transforms:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def required_event_ids(rule: Rule) -> frozenset[int] | None:
    """EventIDs one of which an event must have for `rule` to match (`EventID: 4624` and the like), or None.

    From positive `EventID` equality with numbers (matched numerically: 4624 equals "4624"): All takes
    any child that has a set (the smallest), Any the union (None when a child has none), Not gives None.
    """
    conditions = [stage for stage in rule.stages if stage.op == "condition"]
    if not conditions or conditions[0].expr is None:
        return None
    searches = {stage.label: stage.expr for stage in rule.stages if stage.op == "search"}

    def walk(expr: Expr, active: frozenset[str]) -> frozenset[int] | None:
        if isinstance(expr, Pred):
            if expr.field == "EventID" and expr.kind is Kind.EQ:
                found = _event_id_value(expr)
                return None if found is None else frozenset({found})
            return None
        if isinstance(expr, Ref):
            target = searches.get(expr.name)
            if target is None or expr.name in active:
                return None
            return walk(target, active | {expr.name})
        if isinstance(expr, All):
            options = [r for r in (walk(item, active) for item in expr.items) if r is not None]
            return min(options, key=len) if options else None
        if isinstance(expr, Any):
            union: set[int] = set()
            for item in expr.items:
                found_ids = walk(item, active)
                if found_ids is None:
                    return None
                union |= found_ids
            return frozenset(union)
        return None  # Not, or anything else

    return walk(conditions[0].expr, frozenset())


class Router:
    """Per event key, the indexes of the rules to test (in rule order), computed once per key.

    `routes` are the rules' log source routes (the definition, `route_applies`); `event_ids`, when given,
    the EventIDs each rule's detection requires, which narrow the index further (a rule cannot match an
    event whose EventID its detection excludes, so the index gives the same matches). That holds for
    unrouted rules too: an unrouted rule that requires EventID 4624 is left out for events whose EventID
    is a number other than 4624 (events without a numeric EventID still get it).
    """

    def __init__(
        self, routes: Sequence[Route | None], event_ids: Sequence[frozenset[int] | None] | None = None
    ) -> None:
        self.routes = list(routes)
        ids = list(event_ids) if event_ids is not None else [None] * len(self.routes)
        self._index = [narrow(route, wanted) for route, wanted in zip(self.routes, ids, strict=True)]
        self.unrouted = tuple(i for i, route in enumerate(self.routes) if route is None)
        self._no_channel = tuple(range(len(self.routes)))
        self._cache: dict[Pair, tuple[int, ...]] = {}
        # the index by pair, so that a new key costs a few lookups rather than a pass over every rule
        self._any_event: list[int] = []  # unrouted, no EventID required
        self._unrouted_ids: dict[int, list[int]] = {}  # unrouted, by a required EventID
        self._unrouted_with_ids: list[int] = []
        self._by_pair: dict[Pair, list[int]] = {}  # (channel, EventID or None) -> routed rules
        self._by_channel: dict[str, set[int]] = {}  # channel -> routed rules with any pair on it
        for i, (route, wanted) in enumerate(zip(self._index, ids, strict=True)):
            if route is None:
                if wanted is None:
                    self._any_event.append(i)
                else:
                    self._unrouted_with_ids.append(i)
                    for event_id in wanted:
                        self._unrouted_ids.setdefault(event_id, []).append(i)
                continue
            if not route.windows:
                continue
            for pair in route.pairs:
                self._by_pair.setdefault(pair, []).append(i)
                self._by_channel.setdefault(pair[0], set()).add(i)

    def rules_for(self, key: Pair | None) -> tuple[int, ...]:
        if key is None:
            return self._no_channel
        found = self._cache.get(key)
        if found is None:
            channel, event_id = key
            chosen = set(self._any_event)
            if event_id is None:
                chosen.update(self._unrouted_with_ids)
                chosen.update(self._by_channel.get(channel, ()))
            else:
                chosen.update(self._unrouted_ids.get(event_id, ()))
                chosen.update(self._by_pair.get(key, ()))
                chosen.update(self._by_pair.get((channel, None), ()))
            found = tuple(sorted(chosen))
            self._cache[key] = found
        return found

    def routed_count(self) -> int:
        return len(self.routes) - len(self.unrouted)
