"""A rule's bridged events: the events that can serve it through an event bridge (telemetry/bridges.py),
kept apart from the events it covers itself.

A rule on Sysmon 1 whose fields Security 4688 also carries is served by either: 4688 is one of its *bridged*
events when its own event coverage did not list it already. Each bridged event says which direct event it
stands in for, through which bridge (the Sigma category), the ways of matching in its own field names, and
whether the scanner feeds it to the rule:

- `scanned` True: `ruleatlas scan` routes the event to the rule (engine/routing.py over pySigma's tables,
  logs/sigma_windows.py), so a scan fires on it;
- `scanned` False: the scanner does not route it to the rule: the event carries what the rule needs, but a
  pipeline must map the rule onto it first ("served by Security 4688 once your pipeline maps it");
- `scanned` None: a rule the scanner does not run (other vendors' languages): a statement about telemetry.

The routing verdict comes from the caller (the build, which may use the engine: this layer may not), so
pages, the API, readiness and priority all read one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ruleatlas.telemetry.bridges import BridgeIndex
from ruleatlas.telemetry.catalog import TelemetryCatalog, parse_event_key, provider_label
from ruleatlas.telemetry.fields import RuleEventFields

Routed = Callable[[str, int | str, tuple[tuple[str, str], ...]], bool]
"""(channel, event key, renames: the rule's field -> the event's name for it, where they differ) -> the
scanner feeds such an event to the rule and matches the rule's names on it."""


def bridge_label(category: str) -> str:
    """How pages name a bridge: its Sigma category in words ("process creation")."""
    return category.replace("_", " ")


@dataclass(slots=True, frozen=True)
class BridgedEvent:
    """One event that serves a rule through a bridge, beside the rule's own events."""

    provider: str
    event_key: str
    label: str  # "Security 4688"
    channel: str
    title: str
    via_provider: str  # the rule's own event it stands in for
    via_key: str
    via_label: str
    category: str  # the bridge: a Sigma category
    needs: tuple[tuple[str, ...], ...]  # the ways of matching, in this event's field names
    renames: tuple[tuple[str, str], ...]  # (the rule's field, this event's name for it) where they differ
    scanned: bool | None

    @property
    def event(self) -> tuple[str, str]:
        return (self.provider, self.event_key)

    def sentence(self) -> str:
        """The page's sentence for it."""
        bridge = f"bridge: {bridge_label(self.category)}"
        if self.scanned is False:
            return (
                f"served by {self.label} once your pipeline maps it ({bridge}): the scanner does not route "
                f"{self.label} to this rule"
            )
        return f"also served by {self.label} ({bridge})"

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "event_key": self.event_key,
            "label": self.label,
            "channel": self.channel,
            "title": self.title,
            "via": {"provider": self.via_provider, "event_key": self.via_key, "label": self.via_label},
            "bridge": self.category,
            "needs": [list(alt) for alt in self.needs],
            "renames": [list(pair) for pair in self.renames],
            "scanned": self.scanned,
            "text": self.sentence(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BridgedEvent:
        via = data.get("via") or {}
        return cls(
            str(data["provider"]),
            str(data["event_key"]),
            str(data.get("label") or ""),
            str(data.get("channel") or ""),
            str(data.get("title") or ""),
            str(via.get("provider") or ""),
            str(via.get("event_key") or ""),
            str(via.get("label") or ""),
            str(data.get("bridge") or ""),
            tuple(tuple(str(f) for f in alt) for alt in data.get("needs") or ()),
            tuple((str(a), str(b)) for a, b in data.get("renames") or ()),
            data.get("scanned") if isinstance(data.get("scanned"), bool) else None,
        )


def _channel(telemetry: TelemetryCatalog, category: str, provider: str, key: str) -> str:
    """The event's channel: its definition's, else the log source table's for the bridge's category (pySigma
    names Security for 4688), else the provider's only one."""
    found = telemetry.provider(provider)
    event = found.events.get(parse_event_key(key)) if found is not None else None
    if event is not None and event.channel:
        return event.channel
    for target in telemetry.logsources.categories.get(category, ()):
        if target.provider == provider and str(target.event_id) == key and target.channel:
            return target.channel
    channels = found.channels if found is not None else []
    return channels[0] if len(channels) == 1 else ""


def _label(telemetry: TelemetryCatalog, provider: str, key: str, channel: str) -> tuple[str, str]:
    """(label, title) of a catalog event."""
    found = telemetry.provider(provider)
    event = found.events.get(parse_event_key(key)) if found is not None else None
    if found is None:
        return f"{provider} {key}", ""
    label = provider_label(found.name, channel) if channel else found.label or found.name
    # a table's every-row event (Defender XDR) is keyed by the table its provider already names
    shown = label if label.endswith(f" {key}") else f"{label} {key}"
    return shown, event.title if event is not None else ""


def bridged_events(
    events: Iterable[RuleEventFields],
    index: BridgeIndex,
    telemetry: TelemetryCatalog,
    routed: Routed | None = None,
) -> list[BridgedEvent]:
    """The events bridged to a rule's own (`events`, with the fields it needs on each) that carry every field
    of one way it matches, on providers it covers no event of; each once, from the first own event that
    reaches it. `routed`: whether the scanner feeds an event to this rule (None: it does not run the rule)."""
    own = list(events)
    direct = {(e.provider, e.event_key) for e in own}
    # a provider the rule covers events of already: its coverage chose them (a registry_set rule covers
    # Sysmon 13, not the key creations of Sysmon 12 that 4657's bridge also holds)
    providers = {e.provider for e in own}
    out: list[BridgedEvent] = []
    found: set[tuple[str, str]] = set()
    for event in own:
        row = (event.provider, event.event_key)
        alternatives = [list(alt) for alt in event.needs]
        for target, needs in index.bridged_needs(row, alternatives).items():
            if target in direct or target in found or target[0] in providers:
                continue
            bridge = index.bridge_between(row, target)
            if bridge is None:
                continue
            found.add(target)
            mine, other = bridge.member(row), bridge.member(target)
            rule_name = {own.lower(): rule for own, rule in reversed(event.fields)}
            renames: list[tuple[str, str]] = []
            if mine is not None and other is not None:
                for alt in alternatives:
                    for name in alt:
                        theirs = other.own_name(mine.sigma_name(name))
                        if theirs is None:
                            continue
                        pair = (rule_name.get(name.lower(), name), theirs)
                        if pair[0] != theirs and pair not in renames:
                            renames.append(pair)
            channel = _channel(telemetry, bridge.category, *target)
            label, title = _label(telemetry, *target, channel)
            via_label, _ = _label(telemetry, *row, event.channel)
            scanned = None if routed is None else routed(channel, parse_event_key(target[1]), tuple(renames))
            out.append(
                BridgedEvent(
                    target[0],
                    target[1],
                    label,
                    channel,
                    title,
                    row[0],
                    row[1],
                    via_label,
                    bridge.category,
                    tuple(dict.fromkeys(tuple(alt) for alt in needs)),
                    tuple(renames),
                    scanned,
                )
            )
    return out
