"""Microsoft Defender XDR: the advanced hunting tables of pySigma-backend-kusto, with their columns.

pySigma-backend-kusto's Microsoft XDR pipeline ships the advanced hunting schema it validates queries
against (`sigma/pipelines/microsoftxdr/tables.py`: `MICROSOFT_XDR_TABLES`, table -> column -> data type and
description). Each table is one provider (`Defender XDR DeviceEvents`) whose defined event, keyed by the
table's name, stands for every row of the table and carries its columns. A row's `ActionType` says what
happened (`DeviceEvents`: `CreateRemoteThreadApiCall`, `NamedPipeEvent`...); no package lists the ActionTypes,
so the events a rule names by ActionType are the ones rules and samples name ("seen"), under the table's
provider. The file is read as data (`ast.literal_eval` of the one assignment), never imported: importing
the pipeline would load pySigma's processing machinery for a table of names.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from ruleatlas.model import Kind, Problem
from ruleatlas.telemetry.catalog import (
    DEFINED,
    PLATFORM_KIND,
    EventDef,
    FieldDef,
    PlatformDef,
    ProviderDef,
    TelemetryCatalog,
)
from ruleatlas.telemetry.platforms.packages import package_dir, package_label, summary

KEY = "defender_xdr"
DISTRIBUTION = "pySigma-backend-kusto"
TABLES_FILE = Path("pipelines") / "microsoftxdr" / "tables.py"
TABLES_NAME = "MICROSOFT_XDR_TABLES"
PROVIDER_PREFIX = "Defender XDR "
ACTION_FIELD = "ActionType"
# The ActionType names of one table share a prefix (Microsoft's advanced hunting schema reference); a rule
# that reads several tables has each ActionType it names attributed to the table of its prefix, else to
# DeviceEvents, the table of the miscellaneous ActionTypes.
ACTION_TYPE_TABLES: tuple[tuple[str, str], ...] = (
    ("Process", "DeviceProcessEvents"),
    ("File", "DeviceFileEvents"),
    ("Registry", "DeviceRegistryEvents"),
    ("ImageLoaded", "DeviceImageLoadEvents"),
    ("Logon", "DeviceLogonEvents"),
    ("Connection", "DeviceNetworkEvents"),
    ("InboundConnection", "DeviceNetworkEvents"),
    ("ListeningConnection", "DeviceNetworkEvents"),
)
MISC_TABLE = "DeviceEvents"


def provider_name(table: str) -> str:
    return PROVIDER_PREFIX + table


def table_of(action_type: str, tables: list[str]) -> str:
    """Which of a rule's `tables` an ActionType belongs to (`ACTION_TYPE_TABLES`); the first table when
    none matches and the rule does not read DeviceEvents."""
    for prefix, table in ACTION_TYPE_TABLES:
        if action_type.startswith(prefix) and table in tables:
            return table
    return MISC_TABLE if MISC_TABLE in tables else tables[0]


def read_tables(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    """`MICROSOFT_XDR_TABLES` of the pipeline's tables.py: table -> column -> {data_type, description}.
    Raises ValueError when the file holds no such literal assignment."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == TABLES_NAME for t in node.targets)
            and isinstance(value := ast.literal_eval(node.value), dict)
        ):
            return _checked(value)
    raise ValueError(f"no {TABLES_NAME} assignment")


def _checked(value: dict[Any, Any]) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for table, columns in value.items():
        if isinstance(table, str) and isinstance(columns, dict):
            out[table] = {
                str(c): {str(k): str(v) for k, v in info.items()} if isinstance(info, dict) else {}
                for c, info in columns.items()
            }
    return out


def load_defender_xdr(problems: list[Problem]) -> tuple[PlatformDef, list[ProviderDef]]:
    platform = PlatformDef(
        key=KEY,
        label="Defender XDR",
        status=DEFINED,
        source=package_label(DISTRIBUTION) + " (tables and columns; ActionTypes seen in rules and samples)",
        action="table and ActionType",
        description="Microsoft Defender XDR advanced hunting tables and their columns; each table's "
        "ActionTypes as rules and samples name them.",
    )
    root = package_dir("sigma")
    path = root / TABLES_FILE if root is not None else None
    if path is None or not path.is_file():
        platform.note = f"{DISTRIBUTION} is not installed: no Defender XDR tables are defined."
        return platform, []
    try:
        tables = read_tables(path)
    except (OSError, SyntaxError, ValueError) as exc:
        platform.note = f"{path} could not be read: {exc}"
        problems.append(
            Problem(
                str(path),
                f"Defender XDR tables not read: {exc}",
                severity="warning",
                hint=f"reinstall {DISTRIBUTION}",
            )
        )
        return platform, []
    providers = []
    for table, columns in sorted(tables.items()):
        provider = ProviderDef(
            name=provider_name(table),
            label=f"Defender XDR · {table}",
            kind=PLATFORM_KIND,
            platform=KEY,
            sources=(platform.source,),
            description=f"The advanced hunting table {table}.",
        )
        provider.events[table] = EventDef(
            event_id=table,
            title=f"Every {table} row",
            description=f"Any row of {table}, whatever its ActionType.",
            fields=[
                FieldDef(name, info.get("data_type", ""), summary(info.get("description", "")))
                for name, info in columns.items()
            ],
            named=True,
        )
        providers.append(provider)
    return platform, providers


def resolve_tables(
    telemetry: TelemetryCatalog, tables: list[str], values: dict[str, list[tuple[Kind, str]]]
) -> tuple[list[tuple[str, str]], list[str], set[str]] | None:
    """The events of a query on Defender XDR `tables` (in query order): (provider, ActionType) for each
    ActionType the query compares positively, else every row of each table; with the note's sentences and
    the providers of the tables. None when none of `tables` is a Defender XDR table of the catalog."""
    known = [t for t in tables if telemetry.provider(provider_name(t)) is not None]
    if not known:
        return None
    events: list[tuple[str, str]] = []
    notes: list[str] = []
    action_types = values.get(ACTION_FIELD.lower(), [])
    named = [v for k, v in action_types if k == Kind.EQ]
    for kind, value in action_types:
        if kind != Kind.EQ:
            notes.append(f"The query's ActionType {kind} {value!r} is a pattern, not one ActionType.")
    for value in named:
        event = (provider_name(table_of(value, known)), value)
        if event not in events:
            events.append(event)
    if len(known) > 1 and named:
        notes.append("Each ActionType is listed under the table its name belongs to.")
    covered = {provider for provider, _ in events}
    whole = [t for t in known if provider_name(t) not in covered]
    events.extend((provider_name(t), t) for t in whole)
    if whole and not named:
        notes.append(f"The query tests no ActionType: listed every row of {', '.join(whole)}.")
    elif whole:
        notes.append(f"No ActionType of the query belongs to {', '.join(whole)}: listed every row of it.")
    return events, notes, {provider_name(t) for t in known}
