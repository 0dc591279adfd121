"""What a set of logs holds, event type by event type, gathered while streaming them.

`Observed.add(fields)` takes one event (the engine readers' `Event.fields`) and keeps, per (provider,
EventID): how many were seen, on which channels, the field names present, and optionally the first event
as an example and the values of fields that look enum-like. What it keeps is bounded by the number of event
types and fields, never by the number of events: the readiness report and the event pages' samples read
gigabytes of logs in constant memory.

Providers are named as the telemetry catalog names them (`Provider_Name`, or the OTRF JSON `SourceName`,
matched whatever its spelling); an event without one is given the provider that defines its EventID on its
channel. An event with no EventID is a platform record when its shape says which (a CloudTrail record, an
Okta event...: telemetry/platforms/samples.py), its fields then named by their dotted paths
(`userIdentity.arn`) as rules name them; any other is counted as not attributable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict, TypeGuard

from ruleatlas.telemetry.catalog import EventKey, TelemetryCatalog, event_sort_key, name_key
from ruleatlas.telemetry.platforms.samples import dotted, platform_event

# A field is enum-like when it takes at most this many distinct short values over the samples of an event.
MAX_ENUM_VALUES = 8
MAX_ENUM_VALUE_CHARS = 40
MIN_ENUM_EVENTS = 2
EXAMPLE_VALUE_CHARS = 400
EXAMPLE_FIELDS = 80
PROVIDER_FIELDS = ("Provider_Name", "SourceName", "ProviderName")
# Fields that identify a record rather than describe what happened: never shown as enum values.
NOT_ENUMS = frozenset(
    name.lower()
    for name in (
        "EventID",
        "Channel",
        "Provider_Name",
        "Provider_Guid",
        "ProviderGuid",
        "SourceName",
        "Computer",
        "Hostname",
        "TimeCreated",
        "@timestamp",
        "@version",
        "UtcTime",
        "EventRecordID",
        "RecordNumber",
        "ProcessID",
        "ThreadID",
        "ExecutionProcessID",
        "ExecutionThreadID",
        "Message",
        "Keywords",
        "ActivityID",
        "RelatedActivityID",
        "UserID",
        "Qualifiers",
        "EventReceivedTime",
        "host",
        "port",
        "tags",
        "type",
    )
)


def value_text(value: object) -> str:
    """A field value as one line of text (lists joined with ", "; nested objects as JSON-ish text)."""
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if value is None:
        return ""
    return str(value)


class EventSampleJson(TypedDict):
    """One event type of the samples as the catalog stores it."""

    provider: str
    event_id: EventKey
    count: int
    channels: dict[str, int]
    fields: dict[str, int]  # field -> events that carried it
    example: dict[str, str]
    example_source: str  # "file, record N"
    enums: dict[str, list[list[str | int]]]  # field -> [value, events] pairs, most frequent first


class ObservedJson(TypedDict):
    """What the log samples hold (`Observed.to_json`), kept in the catalog."""

    total: int
    unattributed: int
    events: list[EventSampleJson]
    problems: NotRequired[list[str]]  # the build's samples pass adds what it could not read


@dataclass(slots=True)
class EventSample:
    """One event type as seen in the logs."""

    provider: str
    event_id: EventKey
    count: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    fields: dict[str, int] = field(default_factory=dict)  # name -> events that had it
    example: dict[str, str] = field(default_factory=dict)
    example_source: str = ""
    values: dict[str, Counter[str] | None] = field(default_factory=dict)  # None: too many distinct values

    def enum_values(self) -> dict[str, list[tuple[str, int]]]:
        """Fields that took few distinct values over at least MIN_ENUM_EVENTS events, with their counts."""
        out: dict[str, list[tuple[str, int]]] = {}
        for name, counter in self.values.items():
            if counter is None or sum(counter.values()) < MIN_ENUM_EVENTS:
                continue
            if len(counter) == sum(counter.values()) and len(counter) > 1:
                continue  # every event a different value: an identifier, not an enum
            out[name] = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        return dict(sorted(out.items()))

    def to_json(self) -> EventSampleJson:
        return {
            "provider": self.provider,
            "event_id": self.event_id,
            "count": self.count,
            "channels": dict(self.channels.most_common()),
            "fields": self.fields,
            "example": self.example,
            "example_source": self.example_source,
            "enums": {k: [list(pair) for pair in v] for k, v in self.enum_values().items()},
        }


@dataclass(slots=True)
class SampleRecord:
    """An event type as the catalog stores it (EventSample.to_json read back)."""

    provider: str
    event_id: EventKey
    count: int
    channels: dict[str, int]
    fields: dict[str, int]
    example: dict[str, str]
    example_source: str
    enums: dict[str, list[tuple[str, int]]]

    @classmethod
    def from_json(cls, data: EventSampleJson) -> SampleRecord:
        return cls(
            provider=data["provider"],
            event_id=data["event_id"] if isinstance(data["event_id"], str) else int(data["event_id"]),
            count=int(data["count"]),
            channels=dict(data.get("channels", {})),
            fields=dict(data.get("fields", {})),
            example=dict(data.get("example", {})),
            example_source=data.get("example_source", ""),
            enums={k: [(str(v), int(n)) for v, n in pairs] for k, pairs in data.get("enums", {}).items()},
        )


class Observed:
    """Event types seen in a stream of events. `examples`/`values` keep the first event and enum candidates
    (the event pages want them; readiness does not)."""

    def __init__(
        self, telemetry: TelemetryCatalog | None, *, examples: bool = False, values: bool = False
    ) -> None:
        self.telemetry = telemetry
        self.keep_examples = examples
        self.keep_values = values
        self.events: dict[tuple[str, EventKey], EventSample] = {}
        self.total = 0
        self.unattributed = 0  # events without an EventID
        self.unattributed_fields: dict[str, int] = {}
        self._names: dict[tuple[str, str, int], str] = {}  # (raw provider, channel, id) -> catalog name

    def provider_of(self, raw: str, channel: str, event_id: int) -> str:
        key = (raw, channel, event_id)
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = self._resolve(raw, channel, event_id)
        return found

    def _resolve(self, raw: str, channel: str, event_id: int) -> str:
        telemetry = self.telemetry
        if telemetry is None:
            return raw or channel
        if raw:
            provider = telemetry.provider(raw)
            return provider.name if provider is not None else raw
        candidates = telemetry.providers_for_channel(channel)
        defined = [n for n in candidates if telemetry.event(n, event_id) is not None]
        return (defined or candidates or [channel])[0]

    def add(self, fields: dict[str, object], source: str = "") -> None:
        self.total += 1
        event_id = fields.get("EventID")
        if isinstance(event_id, str) and event_id.strip().isdigit():
            event_id = int(event_id.strip())
        if not isinstance(event_id, int) or isinstance(event_id, bool):
            platform = platform_event(fields, self.telemetry) if self.telemetry is not None else None
            if platform is None:
                self.unattributed += 1
                if len(self.unattributed_fields) < 500:
                    for name in fields:
                        self.unattributed_fields[name] = self.unattributed_fields.get(name, 0) + 1
                return
            known = self.telemetry.provider(platform[0]) if self.telemetry is not None else None
            self._add(
                known.name if known is not None else platform[0],
                platform[1],
                "",
                dict(dotted(fields)),
                source,
            )
            return
        raw = next((str(fields[k]) for k in PROVIDER_FIELDS if isinstance(fields.get(k), str)), "")
        channel = fields.get("Channel")
        channel = channel if isinstance(channel, str) else ""
        self._add(self.provider_of(raw, channel, event_id), event_id, channel, fields, source)

    def _add(
        self, provider: str, event_id: EventKey, channel: str, fields: dict[str, object], source: str
    ) -> None:
        key = (provider, event_id)
        sample = self.events.get(key)
        if sample is None:
            sample = self.events[key] = EventSample(provider, event_id)
        sample.count += 1
        if channel:
            sample.channels[channel] += 1
        seen = sample.fields
        for name in fields:
            seen[name] = seen.get(name, 0) + 1
        if self.keep_examples and not sample.example:
            for name, value in list(fields.items())[:EXAMPLE_FIELDS]:
                text = value_text(value)
                if len(text) > EXAMPLE_VALUE_CHARS:
                    text = text[: EXAMPLE_VALUE_CHARS - 1] + "…"
                sample.example[name] = text
            sample.example_source = source
        if self.keep_values:
            self._count_values(sample, fields)

    @staticmethod
    def _count_values(sample: EventSample, fields: dict[str, object]) -> None:
        values = sample.values
        for name, value in fields.items():
            counter = values.get(name, ())
            if counter is None:
                continue
            if name.lower() in NOT_ENUMS or isinstance(value, dict | list):
                values[name] = None
                continue
            text = value_text(value)
            if len(text) > MAX_ENUM_VALUE_CHARS:
                values[name] = None
                continue
            if counter == ():
                counter = values[name] = Counter()
            assert isinstance(counter, Counter)
            counter[text] += 1
            if len(counter) > MAX_ENUM_VALUES:
                values[name] = None

    def channel_event_ids(self) -> dict[str, set[EventKey]]:
        out: dict[str, set[EventKey]] = {}
        for sample in self.events.values():
            for channel in sample.channels:
                out.setdefault(channel, set()).add(sample.event_id)
        return out

    def to_json(self) -> ObservedJson:
        return {
            "total": self.total,
            "unattributed": self.unattributed,
            "events": [
                self.events[k].to_json()
                for k in sorted(self.events, key=lambda k: (k[0], event_sort_key(k[1])))
            ],
        }


def observed_json(data: object) -> ObservedJson | None:
    """Stored samples (the catalog's blob, the build's cache) as `Observed.to_json` wrote them, else None."""
    return data if _is_observed(data) else None


def _is_observed(data: object) -> TypeGuard[ObservedJson]:
    return isinstance(data, dict) and isinstance(data.get("events"), list)


def sample_index(data: ObservedJson | None) -> dict[tuple[str, EventKey], SampleRecord]:
    """Samples by (provider name key, EventID or platform event key), from `Observed.to_json()` as stored."""
    out: dict[tuple[str, EventKey], SampleRecord] = {}
    for item in data.get("events", ()) if data is not None else ():
        record = SampleRecord.from_json(item)
        out.setdefault((name_key(record.provider), record.event_id), record)
    return out
