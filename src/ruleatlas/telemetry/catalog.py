"""Telemetry definitions: providers, their channels and events, each event's fields.

`TelemetryCatalog` is what `load_telemetry` builds from ../shared/providers and what the catalog file stores
(`to_json` / `from_json`); event coverage and the provider/event pages read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruleatlas.model import Problem
from ruleatlas.telemetry.logsources import LogsourceTable

FORMAT_VERSION = 4  # 4: Security events name their audit subcategory (task)
_NAME_NOISE = re.compile(r"[\s\-_]")

# ProviderDef.kind: an event provider the data defines (Windows), or a stand-in for a Sigma log source
# without event ids (`logsource`: one provider per product, its events the product's categories/services,
# each a catch-all for every event of that log source).
WINDOWS_KIND = "windows"
LOGSOURCE_KIND = "logsource"
# A service, namespace or log of a non-Windows platform (telemetry/platforms/): its events are named actions
# (CloudTrail eventName, Okta eventType, auditd record type), never catch-alls.
PLATFORM_KIND = "platform"
# PlatformDef.status: the events come from a maintained definition (a package's data), or only from what
# rules and samples name.
DEFINED = "defined"
SEEN = "seen"

EventKey = int | str
"""A Windows EventID, or the Sigma category/service name of a catch-all event."""


def event_sort_key(key: EventKey) -> tuple[int, int, str]:
    """Numeric ids in order, then named (catch-all) events by name."""
    return (0, key, "") if isinstance(key, int) else (1, 0, key)


def parse_event_key(text: str) -> EventKey:
    """`"4688"` -> 4688 (canonical decimal only: "04688" stays text); any other text stays a name."""
    canonical = text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))
    return int(text) if canonical else text


def name_key(name: str) -> str:
    """Provider and channel names are spelled several ways ("Microsoft Windows Security Auditing",
    "Microsoft-Windows-AppXDeploymentServer"); compare them without case, spaces, dashes and underscores."""
    return _NAME_NOISE.sub("", name).lower()


def provider_label(provider_name: str, channel: str = "") -> str:
    """The short label pages show: the channel for the classic logs (Security, System, Application,
    Windows PowerShell), otherwise the provider without its Microsoft-Windows- prefix (Sysmon, PowerShell)."""
    if channel and "/" not in channel:
        return channel
    for prefix in ("Microsoft-Windows-", "Microsoft-"):
        if provider_name.startswith(prefix) and len(provider_name) > len(prefix):
            return provider_name[len(prefix) :]
    return provider_name or channel


@dataclass(slots=True)
class FieldDef:
    name: str
    type: str = ""
    description: str = ""
    sample: str = ""

    def to_json(self) -> list[str]:
        row = [self.name, self.type, self.description, self.sample]
        while len(row) > 1 and not row[-1]:
            row.pop()
        return row

    @classmethod
    def from_json(cls, row: list[str]) -> FieldDef:
        return cls(*row)


@dataclass(slots=True)
class EventDef:
    """One event of one provider, as of its newest known version.

    `fields` are the newest version's fields in template order, then any field only older versions have.
    `message` is the message template (`%1 … %n`); `channel` is set only where the data names the event's
    channel (otherwise the provider's channels apply). `level`, `task`, `opcode` as the provider's manifest
    names them. `notes` say where sources disagree and which one was kept (the provider's own schema or
    manifest wins). A catch-all event (`event_id` a name) stands for every event of a log source.
    """

    event_id: EventKey
    title: str = ""
    description: str = ""
    message: str = ""
    version: int | None = None
    channel: str = ""
    fields: list[FieldDef] = field(default_factory=list)
    level: str = ""
    task: str = ""
    opcode: str = ""
    notes: list[str] = field(default_factory=list)
    named: bool = False  # a platform event keyed by its action name (not a catch-all despite its str key)

    @property
    def catch_all(self) -> bool:
        return isinstance(self.event_id, str) and not self.named

    def field_keys(self) -> set[str]:
        return {f.name.lower() for f in self.fields}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.event_id}
        for key in ("title", "description", "message", "channel", "level", "task", "opcode"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.version is not None:
            out["version"] = self.version
        if self.fields:
            out["fields"] = [f.to_json() for f in self.fields]
        if self.notes:
            out["notes"] = self.notes
        if self.named:
            out["named"] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventDef:
        event_id = data["id"]
        return cls(
            event_id=event_id if isinstance(event_id, str) else int(event_id),
            title=data.get("title", ""),
            description=data.get("description", ""),
            message=data.get("message", ""),
            version=data.get("version"),
            channel=data.get("channel", ""),
            fields=[FieldDef.from_json(row) for row in data.get("fields", ())],
            level=data.get("level", ""),
            task=data.get("task", ""),
            opcode=data.get("opcode", ""),
            notes=list(data.get("notes", ())),
            named=bool(data.get("named", False)),
        )


class LazyEvents(dict[EventKey, EventDef]):
    """A provider's events read from the cached catalog, each kept as its JSON until it is read.

    The catalog holds ~85,000 events (AWS operations, Google Cloud methods, Windows manifests) of which a
    one-rule rebuild reads a few (those its rule covers); building every EventDef and FieldDef when the
    cached catalog is read would cost most of such a rebuild. Keys, `in` and `len` never convert; reading a
    value converts it once; `items()`/`values()` convert all.
    """

    __slots__ = ()

    def put_raw(self, data: dict[str, Any]) -> None:
        event_id = data["id"]
        key = event_id if isinstance(event_id, str) else int(event_id)
        dict.__setitem__(self, key, data)  # type: ignore[misc]  # the JSON stands in for its EventDef

    def __getitem__(self, key: EventKey) -> EventDef:
        value: Any = dict.__getitem__(self, key)
        if isinstance(value, dict):
            value = EventDef.from_json(value)
            dict.__setitem__(self, key, value)
        return value  # type: ignore[no-any-return]

    def get(self, key: EventKey, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 - self.get is this method

    def items(self) -> Any:
        return [(k, self[k]) for k in self]

    def values(self) -> Any:
        return [self[k] for k in self]

    def setdefault(self, key: EventKey, default: Any = None) -> Any:
        if key not in self:
            dict.__setitem__(self, key, default)
        return self[key]

    def __eq__(self, other: object) -> bool:  # by the events, converted or not
        if not isinstance(other, dict):
            return NotImplemented
        return len(self) == len(other) and dict(self.items()) == dict(other.items())

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # a dict: mutable, no hash

    def json_rows(self, keys: list[EventKey]) -> list[dict[str, Any]]:
        """The events of `keys` as `EventDef.to_json` gives them; an unconverted one is its JSON already."""
        rows = []
        for key in keys:
            value: Any = dict.__getitem__(self, key)
            rows.append(value if isinstance(value, dict) else value.to_json())
        return rows


@dataclass(slots=True)
class ProviderDef:
    """An event provider (`Microsoft-Windows-Sysmon`) with its display label (`Sysmon`) and events.

    `kind` is WINDOWS_KIND, or LOGSOURCE_KIND for the stand-in provider of a Sigma log source product
    (`linux`, `aws`, ...) whose events are catch-alls; `description` says what such a provider stands for.
    """

    name: str
    label: str = ""
    guid: str = ""
    channels: list[str] = field(default_factory=list)
    events: dict[EventKey, EventDef] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    kind: str = WINDOWS_KIND
    description: str = ""
    platform: str = ""  # PlatformDef.key of a PLATFORM_KIND provider

    def sorted_events(self) -> list[EventDef]:
        return [self.events[k] for k in sorted(self.events, key=event_sort_key)]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label}
        if self.guid:
            out["guid"] = self.guid
        if self.channels:
            out["channels"] = self.channels
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.kind != WINDOWS_KIND:
            out["kind"] = self.kind
        if self.description:
            out["description"] = self.description
        if self.platform:
            out["platform"] = self.platform
        out["sources"] = list(self.sources)
        keys = sorted(self.events, key=event_sort_key)
        if isinstance(self.events, LazyEvents):
            out["events"] = self.events.json_rows(keys)
        else:
            out["events"] = [self.events[k].to_json() for k in keys]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProviderDef:
        events = LazyEvents()
        for raw in data.get("events", ()):
            events.put_raw(raw)
        return cls(
            name=data["name"],
            label=data.get("label", ""),
            guid=data.get("guid", ""),
            channels=list(data.get("channels", ())),
            events=events,
            sources=tuple(data.get("sources", ())),
            aliases=tuple(data.get("aliases", ())),
            kind=data.get("kind", WINDOWS_KIND),
            description=data.get("description", ""),
            platform=data.get("platform", ""),
        )


@dataclass(slots=True)
class PlatformDef:
    """A platform of the telemetry home page (AWS, Okta, auditd...): where its events come from.

    `source` names the package and version the events were read from ("botocore 1.44.18"), or says that they
    are only those rules and samples name (`status` SEEN). `action` says which log field names an event
    (the rule field coverage matches). `note` says what is missing (a header not installed...).
    """

    key: str
    label: str
    status: str = SEEN
    source: str = ""
    action: str = ""
    description: str = ""
    note: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            k: getattr(self, k) for k in ("key", "label", "status", "source", "action", "description", "note")
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> PlatformDef:
        return cls(**{k: str(v) for k, v in data.items()})


@dataclass(slots=True)
class TelemetryCatalog:
    """Every provider the data defines, the Sigma log source table, and what went wrong while loading."""

    providers: dict[str, ProviderDef] = field(default_factory=dict)
    logsources: LogsourceTable = field(default_factory=LogsourceTable)
    platforms: dict[str, PlatformDef] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _by_key: dict[str, str] = field(default_factory=dict, repr=False)
    # lookup tables derived from the providers on first use (platforms/actions.py), never stored
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.derived.clear()
        self._by_key = {}
        for name, provider in self.providers.items():
            for spelling in (name, *provider.aliases):
                self._by_key.setdefault(name_key(spelling), name)

    def provider(self, name: str) -> ProviderDef | None:
        """The provider called `name`, whatever its spelling (case, spaces, dashes)."""
        found = self._by_key.get(name_key(name))
        return self.providers.get(found) if found else None

    def event(self, provider_name: str, event_id: EventKey) -> EventDef | None:
        provider = self.provider(provider_name)
        return provider.events.get(event_id) if provider else None

    def providers_for_channel(self, channel: str) -> list[str]:
        """Names of the providers known to write to `channel` (defined or not)."""
        key = name_key(channel)
        for known, names in self.logsources.channel_providers.items():
            if name_key(known) == key:
                return list(names)
        return []

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (json.dumps it); `from_json` takes it back."""
        return {
            "format": FORMAT_VERSION,
            "providers": [self.providers[k].to_json() for k in sorted(self.providers)],
            "logsources": self.logsources.to_json(),
            "platforms": [p.to_json() for p in self.platforms.values()],
            "problems": [{k: v for k, v in vars_of(p).items() if v not in (None, "")} for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TelemetryCatalog:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"telemetry catalog format {data.get('format')!r}, expected {FORMAT_VERSION}")
        providers = [ProviderDef.from_json(p) for p in data.get("providers", ())]
        return cls(
            providers={p.name: p for p in providers},
            logsources=LogsourceTable.from_json(data.get("logsources", {})),
            platforms={p["key"]: PlatformDef.from_json(p) for p in data.get("platforms", ())},
            problems=[Problem(**p) for p in data.get("problems", ())],
        )


def vars_of(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "message": problem.message,
        "line": problem.line,
        "hint": problem.hint,
        "severity": problem.severity,
        "rule_uid": problem.rule_uid,
    }
