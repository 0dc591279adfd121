"""A second opinion on the engine: pySigma's SQLite backend run in SQLite over the same flattened events.

Both sides see the same events (`readers.read_events` over ../shared/logs) and the same rules (SigmaHQ's
rules/, rules-emerging-threats/, rules-threat-hunting/). Our side compiles the IR (`compile_rules`) and scans
(`Scanner`: routing, literal prefilter, generated matchers); the other side converts each rule file with
pySigma 1.5.1 and pysigma-backend-sqlite into a WHERE clause and runs it over one in-memory table of the
events. What is compared is, for each rule, the set of events it matches: (event, rule) pairs.

The same footing on both sides:

- Fields. One column per field name of the events (their Sigma names, as our readers give them); values
  are text, as the backend expects (numbers as their decimal text, booleans 'true'/'false', a list as its
  elements joined by newlines, null as NULL); columns are `TEXT COLLATE NOCASE`, as Zircolite builds them,
  so that `=` folds case as Sigma requires. SQLite folds the case of column names and Sigma does not (EVTX
  System `ProcessID` beside Sysmon's `ProcessId`), so a pipeline maps each exact field name to a column of
  its own (`Columns`), and any field no event has to one all-NULL column (absent reads as NULL).
- Keyword searches. The backend has none; the same pipeline maps them (`apply_keyword`) to a column holding
  every value text of the event, one per line, so a keyword `x` becomes `LIKE '%x%'` over all values.
- Placeholders. `|expand` gets the same values on both sides (`PLACEHOLDERS`).
- `null`. The backend writes `IS NULL`; the engine reads Sigma's `null` as "no value", empty text
  included (an empty EVTX element reads as '': docs/engine-contract.md), so the backend is given the same
  meaning (`field_null_expression`). With plain `IS NULL`, the one difference on ../shared/logs is
  "HackTool - CACTUSTORCH Remote Thread Creation" on the empty `StartModule` of
  sideloading_uacbypass_rundll32_injection_c2.evtx record 15.
- Log sources. The backend ignores `logsource` unless a pipeline maps it; our scan routes events by
  (Channel, EventID). Both sides are restricted to the events our routing gives the rule
  (`routing.route_applies`; routing itself is checked against pySigma's tables in test_routing.py), so
  what is compared is detection logic over the events a scan tests. `routing=False` compares every rule
  over every event instead (bench/second_opinion.py --all-events).
- Regular expressions. SQLite has no REGEXP of its own: it is registered as Python's `re.search`; the
  backend writes Sigma's flags as an inline prefix such as `(?i)`.

A disagreement is explained by `explain`, which accepts a cause only when the disagreement vanishes once
the one difference the cause names is taken away.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.fields import FieldFunctionTransformation
from sigma.processing.transformations.placeholder import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule

from ruleatlas.engine.compile import CompiledRule, CompiledSet, compile_rules
from ruleatlas.engine.fieldmap import with_audit_aliases
from ruleatlas.engine.routing import Pair, event_key, route_applies
from ruleatlas.engine.scan import Scanner
from ruleatlas.engine.values import iter_texts
from ruleatlas.logs.event import Event, InputProblem
from ruleatlas.logs.readers import read_events
from ruleatlas.model import Kind, Rule, walk_preds
from ruleatlas.sources.sigma import read_sigma_tree

LOG_FOLDERS = ("evtx-attack-samples", "evtx-to-mitre-attack", "otrf-security-datasets")
RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
# `|expand` placeholders get the same values on both sides (SigmaHQ leaves them to the user)
PLACEHOLDERS: dict[str, tuple[str, ...]] = {"known_cdcs": ("dc01.corp.example", "10.0.0.10")}

TABLE = "logs"
KEY_COLUMN = "__key__"  # index of the event's routing key (Channel, EventID) in EventTable.keys
ABSENT_COLUMN = "__absent__"  # every field no event has maps here: always NULL
KEYWORDS_COLUMN = "__keywords__"  # every value text of the event, one per line: where keyword searches look
QUERY_PREFIX = f"SELECT * FROM {TABLE} WHERE "


# --- events ---------------------------------------------------------------------------------------------


def log_files(logs: Path) -> list[Path]:
    """The log files under ../shared/logs: EVTX and OTRF's JSON lines (a folder's MANIFEST.json is no log)."""
    return [
        path
        for folder in LOG_FOLDERS
        for path in sorted((logs / folder).rglob("*"))
        if path.is_file() and path.suffix in (".evtx", ".json") and path.name != "MANIFEST.json"
    ]


def load_events(files: Sequence[Path]) -> tuple[list[Event], list[InputProblem]]:
    """The events as both sides see them: Security audit events carry their taxonomy aliases (the scanner
    adds them itself; the SQL side gets them as columns, as the windows-audit pipeline would map them)."""
    problems: list[InputProblem] = []
    events = [
        Event(dict(with_audit_aliases(e.fields)), e.file, e.record, e.timestamp)
        for e in read_events(files, problems=problems)
    ]
    return events, problems


def sql_text(value: object) -> str | None:
    """An event value as the table holds it: text, or NULL."""
    if value is None or isinstance(value, dict):
        return None  # an object's leaves are reachable by their dotted names
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        texts = [text for text in (sql_text(item) for item in value) if text is not None]
        return "\n".join(texts) if texts else None
    return str(value)


@dataclass(slots=True)
class Columns:
    """Field name -> SQL column: one column per exact spelling (SQLite folds the case of column names)."""

    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Iterable[Event]) -> Columns:
        seen: dict[str, None] = {}
        for event in events:
            seen.update(dict.fromkeys(event.fields))
        columns = cls()
        taken: set[str] = {ABSENT_COLUMN, KEYWORDS_COLUMN, KEY_COLUMN, "row"}
        for name in sorted(seen):
            column, number = name, 1
            while column.casefold() in taken:
                number += 1
                column = f"{name}~{number}"
            taken.add(column.casefold())
            columns.names[name] = column
        return columns

    def column(self, name: str | None) -> str:
        """The pipeline's field mapping: None is a keyword search."""
        if name is None:
            return KEYWORDS_COLUMN
        return self.names.get(name, ABSENT_COLUMN)

    def all(self) -> list[str]:
        return [*self.names.values(), ABSENT_COLUMN, KEYWORDS_COLUMN]


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _regexp(pattern: str, value: object) -> int | None:
    """SQLite's `value REGEXP pattern`: a search, as Sigma's `re` is."""
    if value is None or pattern is None:
        return None
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return 1 if compiled.search(str(value)) else 0


@dataclass(slots=True)
class EventTable:
    conn: sqlite3.Connection
    keys: list[Pair | None]  # distinct routing keys; KEY_COLUMN holds an index into this list


def _connect(columns: Columns, kind: str = "TEXT") -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.create_function("REGEXP", 2, _regexp, deterministic=True)
    defs = ", ".join(f'"{c}" {kind} COLLATE NOCASE' for c in columns.all())
    conn.execute(f'CREATE TABLE {TABLE} (row INTEGER PRIMARY KEY, "{KEY_COLUMN}" INTEGER, {defs})')
    return conn


def _row(fields: dict[str, object], columns: Columns) -> dict[str, str | None]:
    values = {columns.names[name]: sql_text(value) for name, value in fields.items() if name in columns.names}
    values[KEYWORDS_COLUMN] = "\n".join(iter_texts(fields))
    return values


def build_table(events: Sequence[Event], columns: Columns) -> EventTable:
    conn = _connect(columns)
    keys: dict[Pair | None, int] = {}
    order = columns.all()
    position = {column: i for i, column in enumerate(order)}
    rows = []
    for index, event in enumerate(events):
        values: list[str | None] = [None] * len(order)
        for column, value in _row(event.fields, columns).items():
            values[position[column]] = value
        rows.append((index, keys.setdefault(event_key(event.fields), len(keys)), *values))
    marks = ", ".join("?" * (len(order) + 2))
    conn.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", rows)
    conn.execute(f'CREATE INDEX by_key ON {TABLE} ("{KEY_COLUMN}")')
    return EventTable(conn, list(keys))


# --- rules ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Conversion:
    """One rule as pySigma's SQLite backend converts it: a WHERE clause, or why there is none."""

    path: str  # relative to the Sigma root, as Rule.source.path
    rule_id: str
    where: str | None
    error: str | None = None


def rule_files(sigma_root: Path) -> list[Path]:
    return [path for top in RULE_FOLDERS for path in sorted((sigma_root / top).rglob("*.yml"))]


def sql_backend(columns: Columns) -> sqliteBackend:
    """The backend with the one pipeline it needs here: placeholder values, field name -> column."""
    pipeline = ProcessingPipeline(
        [
            ProcessingItem(ValueListPlaceholderTransformation(), identifier="placeholders"),
            ProcessingItem(
                FieldFunctionTransformation({}, columns.column, apply_keyword=True), identifier="columns"
            ),
        ],
        vars={name: list(values) for name, values in PLACEHOLDERS.items()},
    )
    backend = sqliteBackend(pipeline)
    # the engine's `null` is "no value": absent, null or empty text (an empty EVTX element reads as '')
    backend.field_null_expression = "({field} IS NULL OR {field} = '')"
    return backend


def convert_text(text: str, path: str, backend: sqliteBackend) -> list[Conversion]:
    """Every detection rule of one Sigma file, converted (or the reason it is not)."""
    out: list[Conversion] = []
    collection = SigmaCollection.from_yaml(text, collect_errors=True)
    for rule in collection.rules:
        if not isinstance(rule, SigmaRule):
            continue
        rule_id = str(rule.id or "")
        if rule.errors:
            out.append(Conversion(path, rule_id, None, _reason(rule.errors[0])))
            continue
        try:
            queries = backend.convert_rule(rule)
        except Exception as exc:  # the backend refuses: kept with its reason
            out.append(Conversion(path, rule_id, None, _reason(exc)))
            continue
        wheres = [q.removeprefix(QUERY_PREFIX) for q in queries]
        where = wheres[0] if len(wheres) == 1 else " OR ".join(f"({w})" for w in wheres)
        out.append(Conversion(path, rule_id, where))
    return out


def convert_rules(sigma_root: Path, columns: Columns) -> list[Conversion]:
    backend = sql_backend(columns)
    return [
        conversion
        for path in rule_files(sigma_root)
        for conversion in convert_text(
            path.read_text(encoding="utf-8"), path.relative_to(sigma_root).as_posix(), backend
        )
    ]


def _reason(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def our_rules(sigma_root: Path) -> CompiledSet:
    rules = [rule for rule in read_sigma_tree(sigma_root).rules if rule.folder in RULE_FOLDERS]
    return compile_rules(rules, placeholders=PLACEHOLDERS)


def rule_key(rule: Rule) -> tuple[str, str]:
    return rule.source.path, rule.id.lower()


# --- comparing ------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Disagreement:
    uid: str
    event: int  # index into the events
    engine: bool  # True: only our engine matches; False: only SQL does


@dataclass(slots=True)
class Comparison:
    """Per rule uid, the events (indexes) each side matches, over the events routed to the rule."""

    engine: dict[str, set[int]]  # our scan
    sql: dict[str, set[int]]  # pySigma's query in SQLite, over the same events
    not_compared: dict[str, str]  # rule uid -> why there is no SQL answer
    pairs: int = 0  # (rule, event) pairs both sides decided

    def disagreements(self) -> list[Disagreement]:
        out = []
        for uid, found in self.sql.items():
            ours = self.engine[uid]
            out.extend(Disagreement(uid, index, engine=True) for index in sorted(ours - found))
            out.extend(Disagreement(uid, index, engine=False) for index in sorted(found - ours))
        return out

    def agreed_matches(self) -> int:
        return sum(len(self.engine[uid] & found) for uid, found in self.sql.items())

    def agreement(self) -> float:
        """Share of the decided (rule, event) pairs on which both sides give the same answer."""
        return 1.0 - len(self.disagreements()) / self.pairs if self.pairs else 1.0


def sql_matches(table: EventTable, where: str, allowed: Sequence[int] | None = None) -> set[int]:
    """Rows matching `where` among the rows whose routing key index is in `allowed` (None: every row)."""
    if allowed is None:
        query = f"SELECT row FROM {TABLE} WHERE {where}"
    else:
        keys = ", ".join(str(k) for k in allowed)
        query = f'SELECT row FROM {TABLE} WHERE "{KEY_COLUMN}" IN ({keys}) AND ({where})'
    return {row for (row,) in table.conn.execute(query)}


def compare(
    events: Sequence[Event],
    compiled: CompiledSet,
    conversions: Sequence[Conversion],
    table: EventTable,
    *,
    routing: bool = True,
) -> Comparison:
    """Both sides over the events routed to each rule (`routing` False: every rule over every event)."""
    converted = {(c.path, c.rule_id.lower()): c for c in conversions}
    scanner = Scanner(compiled, routing=routing)
    engine: dict[str, set[int]] = {rule.uid: set() for rule in compiled.rules}
    for index, event in enumerate(events):
        for position in scanner.match_ids(event):
            engine[scanner.rules[position].uid].add(index)
    per_key = Counter(event_key(event.fields) for event in events)
    out = Comparison(engine=engine, sql={}, not_compared={})
    for position, rule in enumerate(compiled.rules):
        conversion = converted.get(rule_key(rule.rule))
        if conversion is None or conversion.where is None:
            reason = (
                conversion.error if conversion is not None else "pySigma read no rule of this file and id"
            )
            out.not_compared[rule.uid] = f"no SQL query: {reason}"
            continue
        route = scanner.routes[position] if routing else None
        allowed = [i for i, key in enumerate(table.keys) if route_applies(route, key)]
        try:
            out.sql[rule.uid] = sql_matches(table, conversion.where, None if route is None else allowed)
        except sqlite3.Error as exc:
            out.not_compared[rule.uid] = f"SQLite refuses the query: {exc}"
            continue
        out.pairs += sum(per_key[table.keys[i]] for i in allowed)
    return out


# --- explaining disagreements ---------------------------------------------------------------------------
#
# A cause is accepted only when it is shown, not guessed: the disagreement must vanish once the one
# difference the cause names is taken away (the event re-run in a one-row table built the other way, or our
# rule re-run on the event as the table holds it). Causes are tried in this order; the first shown wins.

CAUSE_SCAN = "our scan: routing or prefilter decide otherwise than the compiled rule on the event"
CAUSE_NUMERIC = "backend/table: lt/le/gt/ge on a TEXT column compares strings ('10' < '5')"
CAUSE_UNICODE = "backend/SQLite: LIKE and NOCASE fold ASCII only, Sigma folds all of Unicode"
CAUSE_LIST = "harness: a list value is one joined SQL cell, Sigma matches any one element"
CAUSE_KEYWORD_SPAN = "harness: a keyword pattern with inner wildcards spans two values of the keyword column"
CAUSE_UNEXPLAINED = "unexplained"


def _casefold_cmp(a: str, b: str) -> int:
    fa, fb = a.casefold(), b.casefold()
    return (fa > fb) - (fa < fb)


def _like_casefold(pattern: str | None, value: object, escape: str | None = None) -> int | None:
    """SQL LIKE with Unicode case folding (the built-in one folds ASCII only)."""
    if pattern is None or value is None:
        return None
    parts = []
    chars = iter(pattern.casefold())
    for ch in chars:
        if escape is not None and ch == escape:
            parts.append(re.escape(next(chars, "")))
        elif ch in "%_":
            parts.append(".*" if ch == "%" else ".")
        else:
            parts.append(re.escape(ch))
    return 1 if re.fullmatch("".join(parts), str(value).casefold(), re.S) else 0


def one_row(
    fields: dict[str, object],
    columns: Columns,
    *,
    numeric: bool = False,
    unicode_fold: bool = False,
    keywords: str | None = None,
) -> EventTable:
    """A table of one event (row 0), built another way if asked: number-aware columns, Unicode case
    folding, or `keywords` as the whole keyword column."""
    conn = _connect(columns, "NUMERIC" if numeric else "TEXT")
    if unicode_fold:
        conn.create_collation("NOCASE", _casefold_cmp)
        conn.create_function("like", 2, _like_casefold, deterministic=True)
        conn.create_function("like", 3, _like_casefold, deterministic=True)
    values = _row(fields, columns)
    if keywords is not None:
        values[KEYWORDS_COLUMN] = keywords
    names = ", ".join(f'"{c}"' for c in values)
    marks = ", ".join("?" * len(values))
    conn.execute(f"INSERT INTO {TABLE} (row, {names}) VALUES (0, {marks})", tuple(values.values()))
    return EventTable(conn, [None])


def _as_table_holds(fields: dict[str, object]) -> dict[str, object]:
    return {name: sql_text(v) if isinstance(v, list | tuple) else v for name, v in fields.items()}


def explain(rule: CompiledRule, where: str, fields: dict[str, object], engine: bool, columns: Columns) -> str:
    """The cause (a CAUSE_* text) of a disagreement on one event; `engine` is what our scan said."""
    sql = not engine
    if rule.match(fields) != engine:
        return CAUSE_SCAN
    if bool(sql_matches(one_row(fields, columns, numeric=True), where)) == engine:
        return CAUSE_NUMERIC
    if bool(sql_matches(one_row(fields, columns, unicode_fold=True), where)) == engine:
        return CAUSE_UNICODE
    if (
        any(isinstance(v, list | tuple) for v in fields.values())
        and rule.match(_as_table_holds(fields)) == sql
    ):
        return CAUSE_LIST
    if sql and KEYWORDS_COLUMN in where:
        alone = (sql_matches(one_row(fields, columns, keywords=text), where) for text in iter_texts(fields))
        if not any(alone):  # only the joined texts match: the pattern spans two values
            return CAUSE_KEYWORD_SPAN
    return CAUSE_UNEXPLAINED


@dataclass(slots=True)
class Explained:
    disagreement: Disagreement
    cause: str
    where: str  # the SQL clause
    file: str
    record: int | None

    def __str__(self) -> str:
        side = "only our engine matches" if self.disagreement.engine else "only SQL matches"
        return (
            f"{self.disagreement.uid} on {self.file} record {self.record}: {side} [{self.cause}]; "
            f"SQL: {self.where[:400]}"
        )


def explain_all(
    comparison: Comparison,
    events: Sequence[Event],
    compiled: CompiledSet,
    conversions: Sequence[Conversion],
    columns: Columns,
) -> list[Explained]:
    rules = {rule.uid: rule for rule in compiled.rules}
    wheres = {(c.path, c.rule_id.lower()): c.where for c in conversions}
    out = []
    for disagreement in comparison.disagreements():
        rule = rules[disagreement.uid]
        where = wheres[rule_key(rule.rule)]
        assert where is not None
        event = events[disagreement.event]
        cause = explain(rule, where, event.fields, disagreement.engine, columns)
        out.append(Explained(disagreement, cause, where, event.file, event.record))
    return out


def cause_counts(explained: Iterable[Explained]) -> dict[str, int]:
    return dict(Counter(item.cause for item in explained).most_common())


# --- the whole run --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    """Everything one second-opinion run over ../shared used and found."""

    events: list[Event]
    problems: list[InputProblem]
    columns: Columns
    compiled: CompiledSet
    conversions: list[Conversion]
    comparison: Comparison
    explained: list[Explained]


def run(shared: Path, *, routing: bool = True) -> Run:
    events, problems = load_events(log_files(shared / "logs"))
    columns = Columns.of(events)
    table = build_table(events, columns)
    sigma_root = shared / "corpus" / "sigma"
    compiled = our_rules(sigma_root)
    conversions = convert_rules(sigma_root, columns)
    comparison = compare(events, compiled, conversions, table, routing=routing)
    explained = explain_all(comparison, events, compiled, conversions, columns)
    return Run(events, problems, columns, compiled, conversions, comparison, explained)


def features(rule: Rule) -> set[str]:
    """The Sigma features a rule uses (comparison kinds, modifiers, keyword search), for coverage figures."""
    out: set[str] = set()
    for stage in rule.stages:
        if stage.op != "search":
            continue
        for pred, _ in walk_preds(stage.expr):
            out.add("keyword" if pred.field is None else str(pred.kind))
            out.update(pred.transforms)
            if pred.cased:
                out.add("cased")
            if pred.kind is Kind.EQ and pred.value is None:
                out.add("null")
    return out
