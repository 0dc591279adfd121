"""A second opinion on the engine: pySigma's SQLite backend run in SQLite over the same flattened events.

Both sides see the same events (`readers.read_events` over ../shared/logs) and the same rules (SigmaHQ's
rules/, rules-emerging-threats/, rules-threat-hunting/): our side compiles the IR (`compile_rules`), the other
side converts each rule file with pySigma 1.5.1 and pysigma-backend-sqlite into a WHERE clause and runs it over
one in-memory table of the events. What is compared is, for each event, the set of rules that match it.

Same footing on both sides:

- Fields. The table has one column per field name of the events (their Sigma names, exactly as our readers give
  them); values are text as the backend expects (numbers as their decimal text, booleans 'true'/'false', a
  list as its elements joined by newlines, null as NULL); columns are `TEXT COLLATE NOCASE` as Zircolite builds
  them, so `=` folds case as Sigma requires. SQLite column names are case-insensitive while Sigma's field names
  are not (EVTX `ProcessID` of System vs Sysmon's `ProcessId`), so the pipeline maps each field name to its own
  column (`Columns`), and a field no event has to one all-NULL column (absent reads as NULL, as it should).
- Log sources. pySigma's backend ignores `logsource` without a pipeline that maps it; our scan routes events by
  (Channel, EventID). Both sides are restricted to the events our routing gives the rule (`routing.route_applies`)
  — routing itself is tested in test_routing.py against pySigma's own tables — so the comparison is of detection
  logic, over the events the scan would test.
- Regular expressions. SQLite has no REGEXP of its own; it is registered as Python's `re.search`, the
  backend putting Sigma's flags as an inline `(?i)`-style prefix.

Our side is the real scan (`Scanner`, routing and literal prefilter on), checked against plain matching of every
routed event, so a prefilter or routing-index mistake shows too.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.fields import FieldFunctionTransformation
from sigma.processing.transformations.placeholder import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule

from ruleatlas.engine.compile import CompiledSet, compile_rules
from ruleatlas.engine.event import Event, InputProblem
from ruleatlas.engine.readers import read_events
from ruleatlas.engine.routing import Pair, event_key, route_applies
from ruleatlas.engine.scan import Scanner
from ruleatlas.engine.values import iter_texts
from ruleatlas.model import Rule
from ruleatlas.sources.sigma import read_sigma_tree

LOG_FOLDERS = ("evtx-attack-samples", "evtx-to-mitre-attack", "otrf-security-datasets")
RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
TABLE = "logs"
ABSENT_COLUMN = "__absent__"  # every field no event has maps here: always NULL
KEYWORDS_COLUMN = "__keywords__"  # every value text of the event, one per line: where keyword searches look
# `|expand` placeholders get the same values on both sides (SigmaHQ leaves them to the user)
PLACEHOLDERS: dict[str, tuple[str, ...]] = {"known_cdcs": ("dc01.corp.example", "10.0.0.10")}
KEY_COLUMN = "__key__"  # index of the event's routing key (Channel, EventID)


# --- events ---------------------------------------------------------------------------------------------


def log_files(logs: Path) -> list[Path]:
    """The log files of ../shared/logs: EVTX and the OTRF JSON lines; the folders' MANIFEST.json are not logs."""
    files = [
        path
        for folder in LOG_FOLDERS
        for path in sorted((logs / folder).rglob("*"))
        if path.is_file() and path.suffix in (".evtx", ".json") and path.name != "MANIFEST.json"
    ]
    return files


def load_events(files: Sequence[Path]) -> tuple[list[Event], list[InputProblem]]:
    problems: list[InputProblem] = []
    return list(read_events(files, problems=problems)), problems


def sql_text(value: object) -> str | None:
    """An event value as the table holds it (text, or NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        texts = [t for t in (sql_text(item) for item in value) if t is not None]
        return "\n".join(texts) if texts else None
    if isinstance(value, dict):
        return None  # its leaves are reachable by their dotted names
    return str(value)


@dataclass(slots=True)
class Columns:
    """Field name -> SQL column: one column per exact spelling, since SQLite folds identifiers' case."""

    names: dict[str, str] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, events: Iterable[Event]) -> Columns:
        columns = cls()
        seen: dict[str, None] = {}
        for event in events:
            seen.update(dict.fromkeys(event.fields))
        for name in sorted(seen):
            folded = name.casefold()
            column = name
            number = 1
            while column.casefold() in columns._taken:
                number += 1
                column = f"{name}~{number}"
            columns._taken.add(column.casefold())
            columns.names[name] = column
        return columns

    def column(self, name: str | None) -> str:
        if name is None:
            return KEYWORDS_COLUMN
        return self.names.get(name, ABSENT_COLUMN)


def _regexp(pattern: str, value: object) -> int | None:
    if value is None:
        return None
    return 1 if _compiled(pattern).search(str(value)) else 0


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _PATTERNS.get(pattern)
    if found is None:
        found = _PATTERNS[pattern] = re.compile(pattern)
    return found


@dataclass(slots=True)
class EventTable:
    conn: sqlite3.Connection
    keys: list[Pair | None]  # distinct routing keys; the table's KEY_COLUMN indexes this list


def build_table(events: Sequence[Event], columns: Columns) -> EventTable:
    conn = sqlite3.connect(":memory:")
    conn.create_function("REGEXP", 2, _regexp, deterministic=True)
    names = list(columns.names.values())
    defs = ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in [*names, ABSENT_COLUMN, KEYWORDS_COLUMN])
    conn.execute(f'CREATE TABLE {TABLE} (row INTEGER PRIMARY KEY, "{KEY_COLUMN}" INTEGER, {defs})')
    keys: dict[Pair | None, int] = {}
    position = {name: i for i, name in enumerate(columns.names)}
    width = len(names)
    rows = []
    for index, event in enumerate(events):
        values: list[object] = [None] * width
        for name, value in event.fields.items():
            values[position[name]] = sql_text(value)
        key = keys.setdefault(event_key(event.fields), len(keys))
        rows.append((index, key, *values, None, "\n".join(iter_texts(event.fields))))
    marks = ", ".join("?" * (width + 4))
    conn.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", rows)
    conn.execute(f'CREATE INDEX by_key ON {TABLE} ("{KEY_COLUMN}")')
    return EventTable(conn, list(keys))


# --- rules ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Conversion:
    """One rule as pySigma's SQLite backend converts it: a WHERE clause, or why there is none."""

    path: str  # relative to the Sigma root
    rule_id: str
    title: str
    where: str | None
    error: str | None = None


def rule_files(sigma_root: Path) -> list[Path]:
    return [p for top in RULE_FOLDERS for p in sorted((sigma_root / top).rglob("*.yml"))]


def sql_backend(columns: Columns) -> sqliteBackend:
    """The backend with the one pipeline it needs here: placeholder values, and field name -> column."""
    pipeline = ProcessingPipeline(
        [
            ProcessingItem(ValueListPlaceholderTransformation(), identifier="placeholders"),
            ProcessingItem(
                FieldFunctionTransformation({}, columns.column, apply_keyword=True), identifier="columns"
            ),
        ],
        vars={name: list(values) for name, values in PLACEHOLDERS.items()},
    )
    return sqliteBackend(pipeline)


def convert_rules(sigma_root: Path, columns: Columns) -> list[Conversion]:
    backend = sql_backend(columns)
    out: list[Conversion] = []
    prefix = f"SELECT * FROM {TABLE} WHERE "
    for path in rule_files(sigma_root):
        rel = path.relative_to(sigma_root).as_posix()
        collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), collect_errors=True)
        for rule in collection.rules:
            if not isinstance(rule, SigmaRule):
                continue
            rule_id = str(rule.id or "")
            if rule.errors:
                out.append(Conversion(rel, rule_id, rule.title, None, _reason(rule.errors[0])))
                continue
            try:
                queries = backend.convert_rule(rule)
            except Exception as exc:  # the backend refuses: recorded with its reason
                out.append(Conversion(rel, rule_id, rule.title, None, _reason(exc)))
                continue
            wheres = [q[len(prefix) :] if q.startswith(prefix) else q for q in queries]
            where = wheres[0] if len(wheres) == 1 else " OR ".join(f"({w})" for w in wheres)
            out.append(Conversion(rel, rule_id, rule.title, where))
    return out


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def our_rules(sigma_root: Path) -> CompiledSet:
    result = read_sigma_tree(sigma_root)
    rules = [rule for rule in result.rules if rule.folder in RULE_FOLDERS]
    return compile_rules(rules, placeholders=PLACEHOLDERS)


# --- comparing ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Comparison:
    """Per rule uid, the events (indexes) each side matches, over the events routed to the rule."""

    engine: dict[str, set[int]]  # our scan (Scanner: routing, prefilter, compiled matchers)
    plain: dict[str, set[int]]  # our compiled rule on every routed event, no prefilter
    sql: dict[str, set[int]]  # pySigma's query in SQLite
    not_compared: dict[str, str]  # rule uid -> why there is no SQL answer
    pairs: int = 0  # (rule, event) pairs both sides decided

    def disagreements(self) -> list[Disagreement]:
        out = []
        for uid, found in self.sql.items():
            ours = self.engine[uid]
            out.extend(Disagreement(uid, index, engine=True) for index in sorted(ours - found))
            out.extend(Disagreement(uid, index, engine=False) for index in sorted(found - ours))
        return out

    def scan_differences(self) -> dict[str, tuple[set[int], set[int]]]:
        """Rules whose scan result differs from plain matching: uid -> (scan only, plain only)."""
        return {
            uid: (self.engine[uid] - self.plain[uid], self.plain[uid] - self.engine[uid])
            for uid in self.engine
            if self.engine[uid] != self.plain[uid]
        }


@dataclass(slots=True, frozen=True)
class Disagreement:
    uid: str
    event: int  # index into the events
    engine: bool  # True: only our engine matches; False: only SQL does


def rule_key(rule: Rule) -> tuple[str, str]:
    return rule.source.path, rule.id.lower()


def sql_matches(table: EventTable, where: str, allowed: Sequence[int] | None = None) -> set[int]:
    """Rows matching `where`, among rows whose routing key index is in `allowed` (None: every row)."""
    if allowed is None:
        query = f"SELECT row FROM {TABLE} WHERE {where}"
    else:
        keys = ", ".join(str(k) for k in allowed)
        query = f'SELECT row FROM {TABLE} WHERE "{KEY_COLUMN}" IN ({keys}) AND ({where})'
    return {row for (row,) in table.conn.execute(query)}


def compare(
    events: Sequence[Event], compiled: CompiledSet, conversions: Sequence[Conversion], table: EventTable
) -> Comparison:
    converted = {(c.path, c.rule_id.lower()): c for c in conversions}
    scanner = Scanner(compiled)
    engine: dict[str, set[int]] = {rule.uid: set() for rule in compiled.rules}
    for index, event in enumerate(events):
        for position in scanner.match_ids(event):
            engine[scanner.rules[position].uid].add(index)
    key_index = {key: i for i, key in enumerate(table.keys)}
    by_key: list[list[int]] = [[] for _ in table.keys]
    for index, event in enumerate(events):
        by_key[key_index[event_key(event.fields)]].append(index)
    out = Comparison(engine=engine, plain={}, sql={}, not_compared={})
    for position, rule in enumerate(compiled.rules):
        allowed = [i for i, key in enumerate(table.keys) if route_applies(scanner.routes[position], key)]
        routed = [index for i in allowed for index in by_key[i]]
        out.plain[rule.uid] = {index for index in routed if rule.match(events[index].fields)}
        conversion = converted.get(rule_key(rule.rule))
        if conversion is None:
            out.not_compared[rule.uid] = "pySigma read no rule of this file and id"
            continue
        if conversion.where is None:
            out.not_compared[rule.uid] = f"pySigma cannot convert it: {conversion.error}"
            continue
        try:
            out.sql[rule.uid] = sql_matches(table, conversion.where, allowed)
        except sqlite3.Error as exc:
            out.not_compared[rule.uid] = f"SQLite refuses the query: {exc}"
            continue
        out.pairs += len(routed)
    return out
