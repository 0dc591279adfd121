"""One log event as the engine sees it, and the problems met while reading inputs.

`Event.fields` uses the names Sigma rules use (see docs/engine-contract.md); readers build it,
matchers read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# Time fields tried, in order, when the user names none (EVTX records carry their own time).
DEFAULT_TIME_FIELDS = ("@timestamp", "timestamp", "TimeCreated", "UtcTime")


_KNOWN: object = object()  # Event._time_field once the timestamp is known


class Event:
    """An event's fields, where it was read, and its time.

    Readers may leave the time to be found when first asked (`time_field`, and `time_fallback` when that
    finds none: see `event_time`): most events match no rule, and only matched events are asked their
    time, so the parsing is saved for most of them.
    """

    __slots__ = ("_time_fallback", "_time_field", "_timestamp", "fields", "file", "record")

    def __init__(
        self,
        fields: dict[str, object],
        file: str,
        record: int | None,
        timestamp: datetime | None = None,
        time_field: object = _KNOWN,
        time_fallback: object = None,
    ) -> None:
        self.fields = fields
        self.file = file
        self.record = record
        self._timestamp = timestamp
        self._time_field = time_field  # a field name, None (the default names) or _KNOWN
        self._time_fallback = time_fallback

    @property
    def timestamp(self) -> datetime | None:
        if self._time_field is not _KNOWN:
            name = self._time_field
            assert name is None or isinstance(name, str)
            self._timestamp = event_time(self.fields, name) or parse_time(self._time_fallback)
            self._time_field = _KNOWN
        return self._timestamp

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.fields, self.file, self.record, self.timestamp) == (
            other.fields,
            other.file,
            other.record,
            other.timestamp,
        )

    __hash__ = None  # type: ignore[assignment]  # its fields are a dict: not hashable

    def __repr__(self) -> str:
        return f"Event(file={self.file!r}, record={self.record!r}, timestamp={self.timestamp!r})"

    def __reduce__(self) -> tuple[type[Event], tuple[object, ...]]:
        # to worker results: with the time found, so the sentinel never crosses processes
        return (Event, (self.fields, self.file, self.record, self.timestamp))


@dataclass(slots=True)
class InputProblem:
    """An input the engine could not (fully) use: which file, which record/line/chunk, and why.

    `record` is the EVTX record id, or the line number for JSON/JSONL inputs, or None for the whole file.
    `where` says what `record` counts ("record", "line", "chunk", "element").
    """

    file: str
    record: int | None
    message: str
    where: str = "record"

    def __str__(self) -> str:
        place = self.file if self.record is None else f"{self.file}: {self.where} {self.record}"
        return f"{place}: {self.message}"


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from ISO text (naive means UTC), or from epoch seconds/milliseconds."""
    if type(value) is str:
        # fast path, once per EVTX record: text such as "2019-04-27T15:57:25.868863Z" is already UTC
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds after 1973 vs seconds
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        if text.isdigit():
            return parse_time(int(text))
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def lookup(fields: dict[str, object], name: str) -> object:
    """A field by name, or by dotted path through nested objects when the flat name is absent."""
    if name in fields:
        return fields[name]
    if "." not in name:
        return None
    node: object = fields
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def event_time(fields: dict[str, object], time_field: str | None) -> datetime | None:
    if time_field is not None:
        return parse_time(lookup(fields, time_field))
    for name in DEFAULT_TIME_FIELDS:
        value = fields.get(name)
        if value is not None:
            parsed = parse_time(value)
            if parsed is not None:
                return parsed
    return None
