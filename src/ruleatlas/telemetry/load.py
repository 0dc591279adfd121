"""`load_telemetry`: build the telemetry catalog from ../shared/providers and, optionally, a SigmaHQ checkout.

What comes from where (paths relative to the providers folder; see its SOURCE.md files):

- fields, types, descriptions, samples of 63 providers: windows-event-fields.json (derived from OSSEM-DD and
  the 2020 OSSEM Security dictionaries);
- Sysmon events and fields: the Sysmon schema manifests (ossem-dd/resources/schemas/sysmon/*.xml, newest
  schema first); Sysmon titles as the Sysmon documentation names them, from OSSEM-DD's Sysmon dictionaries;
- message templates of 864 providers: manifests/event-messages-scheatkode/event-messages.json; Service Control
  Manager fields and channel: the WEPExplorer manifest in manifests/nasbench-evtx-etw-resources/;
- which provider writes to which channel: OSSEM-DM relationships, event samples, manifests, the channel names
  themselves, and logsources.CHANNEL_PROVIDERS for the irregular ones.

Titles: Sysmon from its documentation's names (detection.wiki style: 1 "Process creation", 3 "Network
connection"), falling back to the schema's template title; every other provider from the first line of its own
manifest message ("A new process has been created."), then the OSSEM title, then "Event <id>".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruleatlas.logs.sigma_windows import SYSMON_CHANNEL
from ruleatlas.model import Problem
from ruleatlas.telemetry import readers
from ruleatlas.telemetry.catalog import (
    EventDef,
    FieldDef,
    ProviderDef,
    TelemetryCatalog,
    event_sort_key,
    name_key,
    provider_label,
)
from ruleatlas.telemetry.logsources import (
    CHANNEL_PROVIDERS,
    ETW_CATEGORY_PROVIDERS,
    SPEC_ETW,
    LogsourceTable,
    Target,
    build_logsource_table,
)
from ruleatlas.telemetry.platforms import add_platforms
from ruleatlas.telemetry.products import add_logsource_providers

SYSMON = "Microsoft-Windows-Sysmon"
_TITLE_PREFIX = re.compile(r"^Event(?:\s+ID)?\s+\d+\s*[:\-]\s*", re.IGNORECASE)
_INSERTION = re.compile(r"%%\d+|%\d+(?:![^!]*!)?")
_WORDS = re.compile(r"[A-Za-z]{3}")
_OPCODE_TAG = re.compile(rb"^- etw_opcode_(.+?)\s*$", re.MULTILINE)
_TITLE_NOISE = re.compile(r"[^a-z0-9]+")
# Classic (event-message-file) providers publish 32-bit message ids whose top two bits are the severity.
CLASSIC_SEVERITY = ("Success", "Informational", "Warning", "Error")


def classic_level(message_id: int) -> str:
    """The severity a classic provider's full message id carries (0xC0001B58 -> "Error"), else ""."""
    return CLASSIC_SEVERITY[(message_id >> 30) & 3] if message_id > 0xFFFF else ""


def _clean_task(task: str) -> str:
    """OSSEM-DD's generated "task_0" is a number, not a task name."""
    return "" if re.fullmatch(r"task_\d+|None", task) else task


def _same_title(a: str, b: str) -> bool:
    return _TITLE_NOISE.sub("", a.lower()) == _TITLE_NOISE.sub("", b.lower())


class _Builder:
    """Collects providers from several sources, merging spellings of one provider name."""

    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.root = root
        self.problems = problems
        self.providers: dict[str, ProviderDef] = {}  # name_key -> provider
        self.alt_titles: dict[tuple[str, int], list[str]] = {}
        self.channel_pairs: list[tuple[str, str]] = []
        self.dm_titles: dict[tuple[str, int], str] = {}
        self.dm_audit: dict[tuple[str, int], list[str]] = {}

    def provider(self, name: str, source: str) -> ProviderDef:
        key = name_key(name)
        found = self.providers.get(key)
        if found is None:
            found = self.providers[key] = ProviderDef(name=name)
        elif found.name != name and name not in found.aliases:
            found.aliases = (*found.aliases, name)
        if source not in found.sources:
            found.sources = (*found.sources, source)
        return found

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    # -- windows-event-fields.json ------------------------------------------------------------------------

    def add_event_fields(self, data: Any, path: Path) -> dict[str, Any]:
        """All providers but Sysmon (read from its schemas); returns the Sysmon entries, whose descriptions
        the schema lacks."""
        providers = data.get("providers") if isinstance(data, dict) else None
        if not isinstance(providers, dict):
            self.problems.append(Problem(str(path), "no 'providers' object", hint="see providers/SOURCE.md"))
            return {}
        sysmon: dict[str, Any] = {}
        for name, entry in providers.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("events"), dict):
                self.problems.append(Problem(str(path), f"provider {name!r}: no 'events' object"))
                continue
            if name == SYSMON:
                sysmon = entry["events"]
                continue
            source = f"{self.rel(path)} ({entry.get('source', '')})".replace(" ()", "")
            provider = self.provider(name, source)
            channel = str(entry.get("channel") or "")
            if channel:
                self.channel_pairs.append((name, channel))
            for text, event in entry["events"].items():
                parsed = self._event_from_fields(name, text, event, path)
                if parsed is not None:
                    provider.events[parsed.event_id] = parsed
                    if parsed.channel:
                        self.channel_pairs.append((name, parsed.channel))
        return sysmon

    def _event_from_fields(self, provider: str, text: str, event: Any, path: Path) -> EventDef | None:
        try:
            event_id = int(text)
            versions: dict[str, Any] = event["versions"]
        except (ValueError, KeyError, TypeError):
            self.problems.append(
                Problem(str(path), f"{provider} event {text!r}: no numeric id or no versions")
            )
            return None
        numbered = sorted((int(v), v) for v in versions if v.isdigit())
        order = [v for _, v in reversed(numbered)] + [v for v in versions if not v.isdigit()]
        fields: list[FieldDef] = []
        seen: set[str] = set()
        channel = ""
        newest = (versions[order[0]] or {}) if order else {}
        for version in order:
            body = versions[version] or {}
            channel = channel or str(body.get("channel_seen_in_sample") or "")
            for item in body.get("fields") or []:
                name = str(item.get("name") or "")
                if name and name not in seen:
                    seen.add(name)
                    fields.append(
                        FieldDef(
                            name,
                            str(item.get("type") or ""),
                            str(item.get("description") or ""),
                            str(item.get("sample") or ""),
                        )
                    )
        titles = [str(t) for t in (event.get("titles") or [event.get("title") or ""]) if t]
        if titles:
            self.alt_titles[(name_key(provider), event_id)] = titles
        return EventDef(
            event_id=event_id,
            description=str(event.get("description") or ""),
            version=numbered[-1][0] if numbered else None,
            channel=channel,
            fields=fields,
            level=str(newest.get("level") or ""),
            task=_clean_task(str(newest.get("task") or "")),
            opcode=self._opcode(newest.get("ossem_file")),
        )

    def _opcode(self, ossem_file: object) -> str:
        """The `etw_opcode_<name>` tag of the OSSEM-DD dictionary the event came from (the derived JSON keeps
        level and task but not the opcode). A dictionary that is not there only leaves the opcode empty."""
        if not isinstance(ossem_file, str) or not ossem_file:
            return ""
        try:
            with (self.root / ossem_file).open("rb") as handle:
                found = _OPCODE_TAG.search(handle.read())
        except OSError:
            return ""
        opcode = found.group(1).decode("utf-8", "replace") if found else ""
        return "" if opcode.startswith("opcode_") else opcode  # "opcode_128": a number, not a name

    # -- Sysmon -------------------------------------------------------------------------------------------

    def add_sysmon(self, fallback: dict[str, Any], fields_path: Path) -> None:
        schema_dir = self.root / readers.SYSMON_SCHEMAS_DIR
        schema = readers.read_sysmon_schemas(schema_dir, self.problems)
        doc_titles = readers.read_sysmon_dictionary_titles(
            self.root / readers.SYSMON_DICTIONARY_DIR, self.problems
        )
        if not schema and not fallback:
            return
        provider = self.provider(SYSMON, self.rel(schema_dir) if schema else self.rel(fields_path))
        self.channel_pairs.append((SYSMON, SYSMON_CHANNEL))
        for (
            text,
            entry,
        ) in fallback.items():  # already derived from the newest schema; descriptions come from here
            parsed = self._event_from_fields(SYSMON, text, entry, fields_path)
            if parsed is not None:
                provider.events[parsed.event_id] = parsed
        for event_id, node in schema.items():
            old = provider.events.get(event_id)
            described = {f.name: f for f in old.fields} if old else {}
            notes = []
            schema_names = {n for n, _ in [*node.fields, *node.older_fields]}
            only_ossem = [n for n in described if n not in schema_names]
            if only_ossem:
                notes.append(
                    f"OSSEM-DD also lists {', '.join(only_ossem)}; the fields are the Sysmon schema's "
                    f"({node.schema_file}), which does not have them."
                )
            fields = [
                FieldDef(
                    n,
                    t,
                    described[n].description if n in described else "",
                    described[n].sample if n in described else "",
                )
                for n, t in [*node.fields, *node.older_fields]
            ]
            names = [n for n, _ in node.fields]
            message = f"{node.template}:\n" + "\n".join(f"{n}: %{i}" for i, n in enumerate(names, 1))
            provider.events[event_id] = EventDef(
                event_id=event_id,
                description=old.description if old else "",
                message=message if node.template else "",
                version=node.version,
                channel=SYSMON_CHANNEL,
                fields=fields,
                level=node.level,
                task=node.rulename,
                notes=notes,
            )
            self.alt_titles[(name_key(SYSMON), event_id)] = [node.template]
        for key, event in provider.events.items():
            event.channel = SYSMON_CHANNEL
            if not isinstance(key, int):
                continue
            doc = doc_titles.get(key)
            fallback_titles = self.alt_titles.get((name_key(SYSMON), key), [])
            event.title = _clean_title(doc or "") or next(
                (t for t in map(_clean_title, fallback_titles) if t), f"Event {key}"
            )
            template = next((t for t in fallback_titles if t), "")
            if doc and template and not _same_title(event.title, template):
                event.notes.append(
                    "Title as the Sysmon documentation names it; "
                    f"the schema's template title is {template!r}."
                )

    # -- manifests ----------------------------------------------------------------------------------------

    def add_wep_manifests(self) -> None:
        for manifest in readers.read_wep_manifests(self.root / readers.WEP_MANIFESTS_DIR, self.problems):
            provider = self.provider(manifest.name, self.rel(self.root / readers.WEP_MANIFESTS_DIR))
            provider.guid = provider.guid or manifest.guid
            for channel in manifest.channels:
                self.channel_pairs.append((manifest.name, channel))
            for item in manifest.events:  # events come in version order; the newest one wins
                event = provider.events.setdefault(item.event_id, EventDef(item.event_id))
                event.level = classic_level(item.message_id) or event.level
                if item.version is not None and event.version is not None and item.version < event.version:
                    continue
                event.version = item.version
                event.message = item.message or event.message
                if item.fields:  # "__binLength"-style fields are manifest plumbing, not event data
                    new = [FieldDef(n, t) for n, t in item.fields if not n.startswith("__")]
                    taken = {f.name for f in new}
                    others = [f.name for f in event.fields if f.name not in taken]
                    if others:
                        event.notes.append(
                            f"The provider's manifest names the fields {', '.join(f.name for f in new)}; "
                            f"other sources also list {', '.join(others)}."
                        )
                    event.fields = new + [f for f in event.fields if f.name not in taken]
                if len(manifest.channels) == 1:
                    event.channel = event.channel or manifest.channels[0]

    def add_messages(self, path: Path) -> None:
        data = readers.read_json(path, self.problems)
        providers = data.get("providers") if isinstance(data, dict) else None
        if data is not None and not isinstance(providers, dict):
            self.problems.append(Problem(str(path), "no 'providers' object", hint="see manifests/SOURCE.md"))
        source = self.rel(path)
        for name, rows in (providers or {}).items():
            if not isinstance(rows, list):
                self.problems.append(Problem(str(path), f"provider {name!r}: rows are not a list"))
                continue
            newest: dict[int, str] = {}
            levels: dict[int, str] = {}
            for row in rows:  # rows of one id come in version order: keep the last
                try:
                    event_id = int(row["event_id"])
                    newest[event_id] = str(row.get("message") or "")
                    level = classic_level(int(row.get("id") or 0))
                    if level:
                        levels[event_id] = level
                except (KeyError, TypeError, ValueError):
                    self.problems.append(
                        Problem(str(path), f"provider {name!r}: row without event_id: {row!r}")
                    )
            provider = self.provider(name, source)
            for event_id, message in newest.items():
                event = provider.events.setdefault(event_id, EventDef(event_id))
                if message and not event.message:
                    event.message = message
                if event_id in levels and not event.level:
                    event.level = levels[event_id]

    def add_relationships(self, path: Path) -> None:
        """OSSEM-DM: which channel a provider writes to, and event names ("Module logging.") for titles."""
        for item in readers.read_relationship_events(path, self.problems):
            if item.channel:
                self.channel_pairs.append((item.provider, item.channel))
            if item.name and not item.name.startswith("EventID("):
                self.dm_titles.setdefault((name_key(item.provider), item.event_id), item.name.rstrip("."))
            if item.audit:
                policies = self.dm_audit.setdefault((name_key(item.provider), item.event_id), [])
                if item.audit not in policies:
                    policies.append(item.audit)

    def audit_tasks(self) -> None:
        """A Security event's task is its audit subcategory, which the manifests here do not name ("task_0");
        OSSEM-DM's relationships do ("Detailed Tracking / Process Creation"): it tells which audit policy
        makes Windows write the event."""
        for (key, event_id), policies in self.dm_audit.items():
            provider = self.providers.get(key)
            event = provider.events.get(event_id) if provider is not None else None
            if event is not None and not event.task:
                event.task = "; ".join(sorted(policies))

    # -- titles, channels ---------------------------------------------------------------------------------

    def title_events(self) -> None:
        for key, provider in self.providers.items():
            if provider.name == SYSMON:
                continue
            for event_id, event in provider.events.items():
                if event.title or not isinstance(event_id, int):
                    continue
                ossem = self.alt_titles.get((key, event_id), [])
                from_message = _message_title(event.message)
                ossem_title = _best_ossem_title([t for t in ossem if t.lower().startswith("event id")])
                event.title = (
                    from_message
                    or ossem_title
                    or self.dm_titles.get((key, event_id), "")
                    or _best_ossem_title(ossem)
                    or f"Event {event_id}"
                )
                if from_message and ossem_title and not _same_title(from_message, ossem_title):
                    event.notes.append(
                        f"Title from the provider's message template; OSSEM calls it {ossem_title!r}."
                    )


def _clean_title(text: str) -> str:
    """ "Event ID 4688: A new process..." -> "A new process..."; OSSEM-DD's generated "Event 4103 - None" and
    "Event 4688 - task_0" (the ETW task name) say nothing and give ""."""
    title = _TITLE_PREFIX.sub("", text.strip()).strip()
    if re.fullmatch(r"task_\d+|None|Generic_Task|", title):
        return ""
    return title


def _best_ossem_title(titles: list[str]) -> str:
    # "Event ID 4688: A new process has been created" (2020 dictionaries) beats "Event 4688 - <task name>"
    ranked = sorted(titles, key=lambda t: not t.lower().startswith("event id"))
    return next((t for t in map(_clean_title, ranked) if t), "")


def _message_title(message: str) -> str:
    """The first line of a message template, its insertion strings shown as "…"."""
    line = next((part.strip() for part in message.splitlines() if part.strip()), "")
    line = " ".join(_INSERTION.sub("…", line).rstrip(":").split())
    if not _WORDS.search(line):
        return ""
    return line if len(line) <= 200 else line[:199].rstrip() + "…"


def _associate_channels(
    table: LogsourceTable, catalog: TelemetryCatalog, pairs: list[tuple[str, str]]
) -> None:
    """channel -> providers, from the hand table, the data's own pairs, then the channel names themselves."""
    result: dict[str, list[str]] = {}

    def add(channel: str, name: str) -> None:
        provider = catalog.provider(name)
        canonical = provider.name if provider else name
        names = result.setdefault(channel, [])
        if canonical not in names:
            names.append(canonical)
        if provider and channel not in provider.channels:
            provider.channels.append(channel)

    for channel, names in CHANNEL_PROVIDERS.items():
        for name in names:
            add(channel, name)
    for name, channel in pairs:
        add(channel, name)
    named = [c for channels in table.services.values() for c in channels]
    named += [t.channel for targets in table.categories.values() for t in targets]
    for channel in dict.fromkeys(named):
        if channel in CHANNEL_PROVIDERS or not channel:
            continue
        provider = catalog.provider(channel.split("/", 1)[0])
        if provider is not None:
            add(channel, provider.name)
    table.channel_providers = result


def _resolve_targets(table: LogsourceTable, catalog: TelemetryCatalog) -> None:
    """Give each category target the provider that writes its event on its channel."""
    for targets in table.categories.values():
        for target in targets:
            if target.provider:
                continue
            names = table.channel_providers.get(target.channel, [])
            defined = [n for n in names if catalog.event(n, target.event_id) is not None]
            target.provider = (defined or names or [""])[0]


def _etw_targets(table: LogsourceTable, catalog: TelemetryCatalog, problems: list[Problem]) -> None:
    """file_access / file_rename: the Kernel-File events carrying every field tests/logsource.json lists for
    the category; where several do, those whose name holds the category's verb ("rename" -> RenamePath)."""
    for category, provider_name in ETW_CATEGORY_PROVIDERS.items():
        provider = catalog.provider(provider_name)
        wanted = {f.lower() for f in table.category_fields.get(category, [])}
        if provider is None or not wanted:
            problems.append(
                Problem(
                    "logsources",
                    f"category {category}: cannot pick {provider_name} events",
                    hint="needs the provider's definitions and SigmaHQ tests/logsource.json (sigma_dir)",
                    severity="warning",
                )
            )
            continue
        matching = [
            (i, e)
            for i, e in sorted(provider.events.items(), key=lambda item: event_sort_key(item[0]))
            if isinstance(i, int) and wanted <= e.field_keys()
        ]
        verb = category.split("_", 1)[-1]
        named = [(i, e) for i, e in matching if verb in e.title.lower()]
        for event_id, _event in named or matching:
            target = Target("", event_id, provider=provider.name, origins=(SPEC_ETW,))
            table.categories.setdefault(category, []).append(target)


def load_telemetry(
    providers_dir: Path, sigma_dir: Path | None = None, audit_header: Path | None = None
) -> TelemetryCatalog:
    """Providers -> channels -> events -> fields from `providers_dir` (../shared/providers), with the Sigma
    log source table from pySigma and, when `sigma_dir` (a SigmaHQ/sigma checkout) is given, its
    tests/thor.yml and tests/logsource.json; then the other platforms (platforms/: AWS, Google Cloud,
    Kubernetes from their packages, auditd from `audit_header` or the installed linux/audit.h, and the
    platforms only rules and samples name). Unreadable files become `catalog.problems`; the rest loads."""
    problems: list[Problem] = []
    root = Path(providers_dir)
    if not root.is_dir():
        problems.append(Problem(str(root), "providers folder not found", hint="point at ../shared/providers"))
    builder = _Builder(root, problems)
    fields_path = root / readers.EVENT_FIELDS_JSON
    fields_data = readers.read_json(fields_path, problems) if root.is_dir() else None
    sysmon_entries = builder.add_event_fields(fields_data, fields_path) if fields_data is not None else {}
    if root.is_dir():
        builder.add_sysmon(sysmon_entries, fields_path)
        builder.add_wep_manifests()
        builder.add_messages(root / readers.MESSAGES_JSON)
        builder.add_relationships(root / readers.OSSEM_DM_JSON)
        builder.audit_tasks()
    builder.title_events()

    table = build_logsource_table(Path(sigma_dir) if sigma_dir is not None else None, problems)
    catalog = TelemetryCatalog(
        providers={p.name: p for p in builder.providers.values()}, logsources=table, problems=problems
    )
    _associate_channels(table, catalog, builder.channel_pairs)
    _resolve_targets(table, catalog)
    _etw_targets(table, catalog, problems)
    for provider in catalog.providers.values():
        provider.label = provider_label(
            provider.name, provider.channels[0] if len(provider.channels) == 1 else ""
        )
    add_logsource_providers(catalog)
    add_platforms(catalog, audit_header)
    return catalog
