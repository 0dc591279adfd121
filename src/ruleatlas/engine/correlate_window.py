"""The per-group window of a correlation, and the aggregates that measure it.

A window holds the entries (one per base-rule match or chained alert) of one group whose time lies within
`timespan` of the group's newest entry. Aggregates are updated as entries come and go, so measuring a window
costs O(1) (counts, sums), O(log n) (percentiles: a sorted list) or one pass (ordered temporal).
One class per correlation type, keyed by the spec's type names in `AGGREGATES`.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from ruleatlas.engine.correlate_rules import Clause, CompiledCorrelation
from ruleatlas.logs.event import Event


@dataclass(slots=True)
class Entry:
    time: int  # microseconds since the epoch, UTC
    seq: int  # arrival number: orders entries with equal times as they were fed
    slot: int  # which of the correlation's `rules` matched
    key: Hashable  # identity of the event (or chained alert), to count an event once
    value: object  # value_count: a distinct key; value_*: a number; otherwise None
    events: tuple[Event, ...]

    @property
    def order(self) -> tuple[int, int]:
        return self.time, self.seq


class Aggregate:
    """The measure of one window; `metric` is None while there is nothing to measure."""

    __slots__ = ()

    def add(self, entry: Entry) -> None:
        pass

    def remove(self, entry: Entry) -> None:
        pass

    def metric(self, entries: Sequence[Entry]) -> int | float | None:
        raise NotImplementedError

    def evidence(self, entries: Sequence[Entry]) -> list[Entry]:
        return list(entries)


class EventCount(Aggregate):
    __slots__ = ()

    def metric(self, entries: Sequence[Entry]) -> int | None:
        return len(entries) or None


class ValueCount(Aggregate):
    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: Counter[object] = Counter()

    def add(self, entry: Entry) -> None:
        self.values[entry.value] += 1

    def remove(self, entry: Entry) -> None:
        self.values[entry.value] -= 1
        if not self.values[entry.value]:
            del self.values[entry.value]

    def metric(self, entries: Sequence[Entry]) -> int | None:
        return len(self.values) or None


class ValueSum(Aggregate):
    # Exact arithmetic: a float sum updated by adding and subtracting would drift across a long window.
    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.total: int | Fraction = 0
        self.count = 0

    def add(self, entry: Entry) -> None:
        self.total += _exact(entry.value)
        self.count += 1

    def remove(self, entry: Entry) -> None:
        self.total -= _exact(entry.value)
        self.count -= 1

    def metric(self, entries: Sequence[Entry]) -> int | float | None:
        if not self.count:
            return None
        if isinstance(self.total, Fraction) and self.total.denominator != 1:
            return float(self.total)
        return int(self.total)


class ValueAvg(ValueSum):
    __slots__ = ()

    def metric(self, entries: Sequence[Entry]) -> float | None:
        return float(self.total / self.count) if self.count else None


class ValuePercentile(Aggregate):
    """Linear interpolation between closest ranks (numpy's default; pySigma's SQL executor, rsigma agree)."""

    __slots__ = ("rank", "sorted_values")

    def __init__(self, rank: float) -> None:
        self.rank = rank
        self.sorted_values: list[float] = []

    def add(self, entry: Entry) -> None:
        bisect.insort(self.sorted_values, _float(entry.value))

    def remove(self, entry: Entry) -> None:
        values = self.sorted_values
        del values[bisect.bisect_left(values, _float(entry.value))]

    def metric(self, entries: Sequence[Entry]) -> float | None:
        return percentile(self.sorted_values, self.rank)


class Temporal(Aggregate):
    """How many of the referenced rules matched in the window (or whether an extended condition holds)."""

    __slots__ = ("clauses", "slots")

    def __init__(self, clauses: tuple[Clause, ...] | None) -> None:
        self.slots: Counter[int] = Counter()
        self.clauses = clauses

    def add(self, entry: Entry) -> None:
        self.slots[entry.slot] += 1

    def remove(self, entry: Entry) -> None:
        self.slots[entry.slot] -= 1
        if not self.slots[entry.slot]:
            del self.slots[entry.slot]

    def metric(self, entries: Sequence[Entry]) -> int | None:
        if self.clauses is not None and not any(clause.slots <= self.slots.keys() for clause in self.clauses):
            return None
        return len(self.slots) or None


class TemporalOrdered(Temporal):
    """The longest run of referenced rules matched in their listed order (ties in time: in arrival order)."""

    __slots__ = ()

    def metric(self, entries: Sequence[Entry]) -> int | None:
        if self.clauses is None:
            return len(self.chain(entries, None)) or None
        return len(self.slots) if self._complete_chain(entries) is not None else None

    def evidence(self, entries: Sequence[Entry]) -> list[Entry]:
        if self.clauses is None:
            return self.chain(entries, None)
        return self._complete_chain(entries) or []

    def _complete_chain(self, entries: Sequence[Entry]) -> list[Entry] | None:
        assert self.clauses is not None
        for clause in self.clauses:
            if clause.slots <= self.slots.keys():
                chain = self.chain(entries, clause.slots)
                if len(chain) == len(clause.slots):
                    return chain
        return None

    @staticmethod
    def chain(entries: Sequence[Entry], only: frozenset[int] | None) -> list[Entry]:
        """The longest sequence of entries whose slots strictly increase, the earliest one found first."""
        best: dict[int, list[Entry]] = {}  # slot -> longest chain ending with that slot
        for entry in entries:
            if only is not None and entry.slot not in only:
                continue
            before = max((c for s, c in best.items() if s < entry.slot), key=len, default=[])
            if len(before) + 1 > len(best.get(entry.slot, ())):
                best[entry.slot] = [*before, entry]
        return max(best.values(), key=len, default=[])


def make_aggregate(spec: CompiledCorrelation) -> Aggregate:
    maker = AGGREGATES[spec.type]
    if spec.type in ("value_percentile", "value_median"):
        return ValuePercentile(spec.percentile if spec.percentile is not None else 50.0)
    if spec.type in ("temporal", "temporal_ordered"):
        return maker(spec.clauses)  # type: ignore[call-arg]
    return maker()


AGGREGATES: dict[str, type[Aggregate]] = {
    "event_count": EventCount,
    "value_count": ValueCount,
    "temporal": Temporal,
    "temporal_ordered": TemporalOrdered,
    "value_sum": ValueSum,
    "value_avg": ValueAvg,
    "value_percentile": ValuePercentile,
    "value_median": ValuePercentile,
}


def percentile(sorted_values: Sequence[float], rank: float) -> float | None:
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * rank / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _exact(value: object) -> int | Fraction:
    if isinstance(value, int):
        return value
    return Fraction(_float(value))


def _float(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


@dataclass(slots=True)
class GroupWindow:
    """One group's entries in time order, with the aggregate that measures them."""

    group: dict[str, object]
    aggregate: Aggregate
    per_slot_keys: bool  # temporal types: the same event may stand for two rules
    entries: deque[Entry] = field(default_factory=deque)
    keys: Counter[Hashable] = field(default_factory=Counter)

    @property
    def newest(self) -> int | None:
        return self.entries[-1].time if self.entries else None

    def dedup_key(self, entry: Entry) -> Hashable:
        return (entry.key, entry.slot) if self.per_slot_keys else entry.key

    def has(self, entry: Entry) -> bool:
        return self.dedup_key(entry) in self.keys

    def insert(self, entry: Entry) -> None:
        entries = self.entries
        if not entries or entries[-1].order <= entry.order:
            entries.append(entry)
        else:  # an event fed out of time order: keep the entries sorted
            position = len(entries)
            while position and entries[position - 1].order > entry.order:
                position -= 1
            entries.insert(position, entry)
        self.keys[self.dedup_key(entry)] += 1
        self.aggregate.add(entry)

    def evict_before(self, cutoff: int) -> None:
        while self.entries and self.entries[0].time < cutoff:
            self.drop_oldest()

    def drop_oldest(self) -> None:
        entry = self.entries.popleft()
        key = self.dedup_key(entry)
        self.keys[key] -= 1
        if not self.keys[key]:
            del self.keys[key]
        self.aggregate.remove(entry)
