"""Collection priority: which events are worth collecting, by the detection rules each one enables.

A rule needs telemetry as a list of *parts*, each a set of events any one of which serves it: a single-event
rule has one part (its covered events: Sysmon 1 or Security 4688 for a process_creation rule, and the
events bridged to them that carry its fields, telemetry/bridges.py); a temporal correlation has one part
per rule it correlates, all of which must fire.

The priority of an event is the sum, over the detection rules it can serve, of the rule's weight spread over
what the rule needs:

    priority(e) = sum over rules r, over the parts p of r that contain e:  w(level(r)) / (|parts(r)| * |p|)

- `w(level) = 2 ** LEVELS.index(level)`: informational 1, low 2, medium 4, high 8, critical 16 (each level
  counts twice the one below); a rule without a level weighs as a medium one.
- A part served by several events (Sysmon 1 or 4688) gives each of them an equal share: collecting either
  is enough, so neither gets the whole rule; a part an event serves alone gives it the rule's full share.
- Summed over every event a rule needs, its shares add up to its weight: the priorities of all events add
  up to the weighted number of rules, so a priority reads as "weighted rules this event carries".

Besides the score each event counts the rules it serves alone (the only event of a part of a single-part
rule), the rules it shares with other events, and those where it is one of several required parts, by vendor
and by level. `next_collection` answers the readiness question: given the events a user's logs already
serve, which event to collect next, then which after it, with the rules each one unlocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from ruleatlas.model import DETECTION_KINDS, LEVELS, TEMPORAL_TYPES, RuleKind

EventRow = tuple[str, str]
"""(provider name, event key text), as the telemetry tables name an event."""

DEFAULT_LEVEL = "medium"  # the weight of a rule whose vendor gives no level
# The rule classes priority counts (the model's detection classes), and those of a correlation that needs
# every rule it correlates, as the store's text columns spell them.
COUNTED_KINDS: tuple[str, ...] = tuple(sorted(str(k) for k in DETECTION_KINDS))
CORRELATION_KIND = str(RuleKind.CORRELATION)
ALL_PARTS_TYPES = frozenset(str(t) for t in TEMPORAL_TYPES)


def level_weight(level: str) -> float:
    """`2 ** LEVELS.index(level)`; an unknown or missing level weighs as DEFAULT_LEVEL."""
    name = level if level in LEVELS else DEFAULT_LEVEL
    return float(2 ** LEVELS.index(name))


@dataclass(slots=True, frozen=True)
class RuleNeed:
    """What one detection rule needs: `parts`, each a set of events any one of which serves it."""

    uid: str
    vendor: str
    level: str
    title: str
    parts: tuple[frozenset[EventRow], ...]

    @property
    def weight(self) -> float:
        return level_weight(self.level)

    def events(self) -> frozenset[EventRow]:
        return frozenset().union(*self.parts) if self.parts else frozenset()


class PriorityDoc(TypedDict):
    """An event's priority as pages and the API show it (`EventPriority.to_json`)."""

    provider: str
    event_key: str
    priority: float
    rules: int
    alone: int
    shared: int
    required: int
    by_vendor: dict[str, int]
    by_level: dict[str, int]


@dataclass(slots=True)
class EventPriority:
    """One event's priority and the rules behind it."""

    event: EventRow
    score: float = 0.0
    alone: int = 0  # single-part rules only this event serves
    shared: int = 0  # single-part rules other events can serve too
    required: int = 0  # rules with several parts, of which this event serves one
    by_vendor: dict[str, int] = field(default_factory=dict)
    by_level: dict[str, int] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.alone + self.shared + self.required

    def to_json(self) -> PriorityDoc:
        return {
            "provider": self.event[0],
            "event_key": self.event[1],
            "priority": round(self.score, 2),
            "rules": self.total,
            "alone": self.alone,
            "shared": self.shared,
            "required": self.required,
            "by_vendor": dict(sorted(self.by_vendor.items())),
            "by_level": {lv: self.by_level[lv] for lv in (*reversed(LEVELS), "") if lv in self.by_level},
        }


def collection_priority(needs: Iterable[RuleNeed]) -> dict[EventRow, EventPriority]:
    """Every event some rule needs, with its priority (the formula of the module's docstring)."""
    out: dict[EventRow, EventPriority] = {}
    for need in needs:
        parts = [p for p in need.parts if p]
        if not parts:
            continue
        weight = need.weight
        vendor, uid = need.vendor, need.uid
        level = need.level if need.level in LEVELS else ""
        several = len(parts) > 1
        # an event in two parts of one rule counts the rule once (a single part holds each event once)
        counted: set[EventRow] = set()
        for part in parts:
            share = weight / (len(parts) * len(part))
            alone = len(part) == 1
            for event in part:
                entry = out.get(event)
                if entry is None:
                    entry = out[event] = EventPriority(event)
                entry.score += share
                if several:
                    if event in counted:
                        continue
                    counted.add(event)
                    entry.required += 1
                elif alone:
                    entry.alone += 1
                else:
                    entry.shared += 1
                by_vendor, by_level = entry.by_vendor, entry.by_level
                by_vendor[vendor] = by_vendor.get(vendor, 0) + 1
                by_level[level] = by_level.get(level, 0) + 1
                entry.rules.append(uid)
    return out


def ranked(priorities: Iterable[EventPriority]) -> list[EventPriority]:
    """Highest priority first; ties by more rules, then by name."""
    return sorted(priorities, key=lambda p: (-round(p.score, 6), -p.total, p.event))


# -- what to collect next ---------------------------------------------------------------------------------


class UnlockedRule(TypedDict):
    uid: str
    vendor: str
    level: str
    title: str
    path: NotRequired[str]  # the rule's site path (`readiness --next` adds it)


class StepJson(TypedDict):
    """One step of a collection plan: the event to collect and the rules it lets fire."""

    provider: str
    event_key: str
    rules: int
    weighted: float
    alone: int
    by_vendor: dict[str, int]
    unlocks: list[UnlockedRule]


@dataclass(slots=True)
class NextStep:
    """One recommendation: collect `event`, which makes `unlocked` rules able to fire (given the steps above
    it); `alone` is how many it would unlock if it were the only one added."""

    event: EventRow
    unlocked: list[RuleNeed]
    gain: float
    alone: int

    def to_json(self) -> StepJson:
        by_vendor: dict[str, int] = {}
        for need in self.unlocked:
            by_vendor[need.vendor] = by_vendor.get(need.vendor, 0) + 1
        return {
            "provider": self.event[0],
            "event_key": self.event[1],
            "rules": len(self.unlocked),
            "weighted": round(self.gain, 2),
            "alone": self.alone,
            "by_vendor": dict(sorted(by_vendor.items())),
            "unlocks": [
                {"uid": n.uid, "vendor": n.vendor, "level": n.level, "title": n.title} for n in self.unlocked
            ],
        }


def fires(need: RuleNeed, served: Callable[[RuleNeed, EventRow], bool], added: set[EventRow]) -> bool:
    """Every part of the rule has an event the logs serve, or one of `added`."""
    return all(any(e in added or served(need, e) for e in part) for part in need.parts if part)


def next_collection(
    needs: Iterable[RuleNeed],
    served: Callable[[RuleNeed, EventRow], bool],
    *,
    limit: int = 20,
    eligible: Callable[[EventRow], bool] = lambda event: True,
    possible: Callable[[RuleNeed, EventRow], bool] = lambda need, event: True,
) -> list[NextStep]:
    """Greedy collection plan: at each step the eligible event whose addition lets the most (weighted)
    rules fire that cannot fire now, as the last missing event of each. `served(rule, event)`: the logs hold
    `event` with the fields `rule` needs there; `possible(rule, event)`: collecting `event` can serve `rule`
    at all (not when the rule needs a field the event never carries). Rules that fire already, or that no
    eligible event can complete, are left out."""
    waiting = [
        n for n in needs if n.parts and all(n.parts) and not fires(n, served, set())
    ]  # rules that cannot fire now
    added: set[EventRow] = set()
    alone_counts: dict[EventRow, int] = {}
    for need in waiting:
        for event in _completing(need, served, set()):
            if possible(need, event):
                alone_counts[event] = alone_counts.get(event, 0) + 1
    steps: list[NextStep] = []
    while waiting and len(steps) < limit:
        gains: dict[EventRow, list[RuleNeed]] = {}
        for need in waiting:
            for event in _completing(need, served, added):
                if eligible(event) and possible(need, event):
                    gains.setdefault(event, []).append(need)
        if not gains:
            break
        best = min(
            gains,
            key=lambda e: (-sum(n.weight for n in gains[e]), -len(gains[e]), e),
        )
        unlocked = sorted(gains[best], key=lambda n: (-n.weight, n.vendor, n.uid))
        steps.append(NextStep(best, unlocked, sum(n.weight for n in unlocked), alone_counts.get(best, 0)))
        added.add(best)
        done = {n.uid for n in unlocked}
        waiting = [n for n in waiting if n.uid not in done]
    return steps


def _completing(
    need: RuleNeed, served: Callable[[RuleNeed, EventRow], bool], added: set[EventRow]
) -> set[EventRow]:
    """The events each of which, added alone, lets `need` fire: those of its one unserved part (none when
    two or more parts are unserved: no single event completes it)."""
    open_parts = [p for p in need.parts if not any(e in added or served(need, e) for e in p)]
    return set(open_parts[0]) if len(open_parts) == 1 else set()


def by_platform(
    priorities: Mapping[EventRow, EventPriority], platform_of: Callable[[str], str]
) -> dict[str, list[EventPriority]]:
    """Ranked priorities grouped by the platform of each event's provider."""
    groups: dict[str, list[EventPriority]] = {}
    for row, entry in priorities.items():
        groups.setdefault(platform_of(row[0]), []).append(entry)
    return {k: ranked(v) for k, v in sorted(groups.items())}
