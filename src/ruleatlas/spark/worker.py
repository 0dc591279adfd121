"""The executor side of the Spark engine: compile once per Python worker, scan inputs, run correlations.

This module must stay importable (never defined in a driver script): Spark pickles functions of `__main__`
by value, so a cache kept there would be a fresh dict in every task and the rules would compile again for
each one. Here `_COMPILED` lives as long as the Python worker, which Spark reuses across tasks
(`spark.python.worker.reuse`, on by default).

Rows produced by `scan_files` / `scan_documents` are plain tuples, tagged by their first item:

- `("match", rule, timestamp, event_json, matched_json, source)`: a reported match, a row of
  `MATCH_SCHEMA` (rule: (uid, id, title, level); source: (file, record); event and matched as the JSONL
  writer's, in JSON text);
- `("feed", family, key, time_us, order, uid, file, record, timestamp, fields_json)`: a match a correlation
  needs (its rule's matches may be hidden by `generate: false`), keyed for the second stage;
- `("problem", kind, rule, file, where, at, count, message)`: an input that could not be read, or a rule
  that failed while matching.

The second stage (`correlate_group`) gives `("correlation", rule, timestamp, correlation_json,
events_json)` rows (`ALERT_SCHEMA`) and `("skip", (uid, reason), count)` rows, summed over the keys by
the driver (`skip_problem`).

`order` is (input number, event number in it, rule index): the input order the local engine feeds its
correlator in when event times are equal.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ruleatlas.engine.compile import RUNNABLE_KINDS, CompiledRule, CompiledSet, compile_rules
from ruleatlas.engine.correlate import Correlator, correlation_alert_json, iso_time
from ruleatlas.engine.correlate_keys import PartitionKeys
from ruleatlas.engine.output import match_json
from ruleatlas.engine.scan import RuleMatch, Scanner
from ruleatlas.engine.scan_rules import LoadedRules, Selection, load_rules
from ruleatlas.logs.event import Event, InputProblem, parse_time
from ruleatlas.logs.readers import InputSource, events_from_document, read_source
from ruleatlas.model import Rule
from ruleatlas.spark.bundle import RuleBundle, unpack

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
Row = tuple[Any, ...]
Order = tuple[int, int, int]


@dataclass(slots=True)
class Compiled:
    """One worker's compiled rules and what the two stages need of them."""

    scanner: Scanner
    rules: list[CompiledRule]
    correlations: list[Rule]
    base_rules: list[Rule]
    keys: PartitionKeys | None
    hidden: frozenset[int]  # rule indexes whose own matches are not reported (`generate: false`)
    fed: frozenset[int]  # rule indexes a correlation needs


_COMPILED: dict[str, Compiled] = {}
COMPILES = 0  # how many times this worker compiled the rules (Counts reads it)
EVENTS = 0  # events this worker read


def compiled_for(bundle: RuleBundle) -> Compiled:
    key = repr(bundle)  # rules, options, selection and placeholders
    found = _COMPILED.get(key)
    if found is None:
        from pyspark import SparkFiles

        root = Path(SparkFiles.getRootDirectory())
        folder = unpack(Path(SparkFiles.get(bundle.archive)), root)
        found = _COMPILED[key] = compile_paths([folder / entry for entry in bundle.entries], bundle)
    return found


def compile_selected(
    paths: list[Path], selection: Selection, placeholders: dict[str, list[str]]
) -> tuple[CompiledSet, LoadedRules]:
    """The rules `ruleatlas scan` runs for these paths and options (scan_cli._scan does the same)."""
    loaded = load_rules(paths, selection)
    rules = loaded.rules
    if selection.filters and not any(rule.correlation is not None for rule in rules):
        rules = [rule for rule in rules if selection.reports(rule)]  # nothing else needs the others
    return compile_rules(rules, placeholders=placeholders, kinds=RUNNABLE_KINDS | selection.kinds), loaded


def compile_paths(paths: list[Path], bundle: RuleBundle) -> Compiled:
    """Read and compile the rules (the driver reports their problems; a worker only runs them)."""
    global COMPILES
    COMPILES += 1
    selection = bundle.selection
    compiled, _loaded = compile_selected(paths, selection, bundle.placeholders)
    rules = list(compiled.rules)
    scanner = Scanner(compiled, routing=bundle.routing, prefilter=bundle.prefilter)
    correlations = list(compiled.correlations) if bundle.correlations else []
    base_rules = [rule.rule for rule in rules]
    # matches of rules the selection (--level, --tag) leaves out are not reported, as run_scan's `reports`
    unreported = {i for i, rule in enumerate(rules) if selection.filters and not selection.reports(rule.rule)}
    if not correlations:
        return Compiled(scanner, rules, [], base_rules, None, frozenset(unreported), frozenset())
    correlator = Correlator(correlations, base_rules)
    keys = PartitionKeys(correlations, base_rules)
    hidden = unreported | {i for i, rule in enumerate(rules) if not correlator.outputs(rule.rule)}
    fed = frozenset(i for i, rule in enumerate(rules) if rule.uid in keys.referenced_uids)
    return Compiled(scanner, rules, correlations, base_rules, keys, frozenset(hidden), fed)


# --- stage 1: matching ----------------------------------------------------------------------------------


def scan_files(
    bundle: RuleBundle, time_field: str | None, files: Iterable[tuple[int, str, bytes]]
) -> Iterator[Row]:
    """Rows for whole files: (input number, file name, content), read by the local engine's readers."""
    state = compiled_for(bundle)
    for number, name, content in files:
        problems: list[InputProblem] = []
        yield from _scan_events(state, number, _file_events(name, content, time_field, problems))
        yield from _problems(problems)
    yield from _failures(state)


def _file_events(
    name: str, content: bytes, time_field: str | None, problems: list[InputProblem]
) -> Iterator[Event]:
    """The events of one file's bytes, exactly as `ruleatlas scan` reads the file (EVTX, JSON, JSONL, gzip).

    The readers read by path (the EVTX parser seeks, gzip is probed first), so the bytes go to a
    temporary file on the executor's local disk first; events and problems then carry the input's name.
    """
    with tempfile.NamedTemporaryFile(prefix="ruleatlas-input-", dir=_scratch()) as tmp:
        tmp.write(content)
        tmp.flush()
        found: list[InputProblem] = []
        for event in read_source(InputSource(Path(tmp.name)), time_field=time_field, problems=found):
            event.file = name
            yield event
        for problem in found:
            problem.file = name
            problem.message = problem.message.replace(tmp.name, name)
        problems.extend(found)


def _scratch() -> str | None:
    local = os.environ.get("SPARK_LOCAL_DIRS", "")
    return local.split(",")[0] or None


def scan_documents(
    bundle: RuleBundle, time_field: str | None, partition: int, rows: Iterable[tuple[str | None, str, Any]]
) -> Iterator[Row]:
    """Rows for events given as JSON text: (JSON text, file, record); the record may be None."""
    state = compiled_for(bundle)
    problems: list[InputProblem] = []

    def events() -> Iterator[Event]:
        for position, (text, file, record) in enumerate(rows, 1):
            number = record if isinstance(record, int) else position
            if text is None:
                problems.append(InputProblem(file, number, "no event JSON (null)", where="row"))
                continue
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                problems.append(InputProblem(file, number, f"not JSON: {exc}", where="row"))
                continue
            yield from events_from_document(obj, file, number, time_field, problems, "row")

    yield from _scan_events(state, partition, events())
    yield from _problems(problems)
    yield from _failures(state)


def _scan_events(state: Compiled, number: int, events: Iterable[Event]) -> Iterator[Row]:
    global EVENTS
    rules = state.rules
    match_ids = state.scanner.match_ids
    hidden, fed, keys = state.hidden, state.fed, state.keys
    for position, event in enumerate(events):
        EVENTS += 1
        for rule_id in match_ids(event):
            rule = rules[rule_id]
            order: Order = (number, position, rule_id)
            if rule_id not in hidden:
                yield _match_row(rule, event)
            if keys is not None and rule_id in fed:
                yield from _feed_rows(keys, rule, event, order)


def _match_row(rule: CompiledRule, event: Event) -> Row:
    data = match_json(RuleMatch(rule, event))  # the JSONL writer's record: the same event and matched
    return (
        "match",
        _rule(rule.rule, rule.uid),
        data["timestamp"],
        _dumps(data["event"]),
        _dumps(data["matched"]),
        (event.file, event.record),
    )


def _rule(rule: Rule, uid: str) -> tuple[str, str | None, str | None, str | None]:
    return (uid, rule.id, rule.title, rule.level)


def _feed_rows(keys: PartitionKeys, rule: CompiledRule, event: Event, order: Order) -> Iterator[Row]:
    moment = event.timestamp
    time_us = (moment - EPOCH) // MICROSECOND if moment is not None else None
    fields = orjson.dumps(event.fields, default=str).decode()
    stamp = iso_time(moment) if moment is not None else None
    for family, key in keys.keys(rule.uid, event.fields):
        yield (
            "feed",
            family,
            json.dumps(key),
            time_us,
            order,
            rule.uid,
            event.file,
            event.record,
            stamp,
            fields,
        )


def _problems(problems: Iterable[InputProblem]) -> Iterator[Row]:
    for p in problems:
        yield ("problem", "input", None, p.file, p.where, p.record, 1, p.message)


def _failures(state: Compiled) -> Iterator[Row]:
    scanner = state.scanner
    for failure in scanner.failures.values():
        yield (
            "problem",
            "rule_failure",
            failure.uid,
            failure.file,
            "record",
            failure.record,
            failure.count,
            failure.message,
        )
    scanner.failures = {}


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# --- stage 2: correlations, one correlator per (family, key) -------------------------------------------


def correlate_group(bundle: RuleBundle, family: int, items: Iterable[Row]) -> Iterator[Row]:
    """Alert rows (and skip counts) of one family's key: its matches fed in time, then input, order."""
    state = compiled_for(bundle)
    assert state.keys is not None
    correlator = Correlator(state.keys.correlations(family), state.base_rules)
    by_uid = {rule.uid: rule.rule for rule in state.rules}
    # the local engine's order: untimed first (the correlator counts them as skipped), then time, input
    fed = sorted(items, key=lambda item: (item[3] is not None, item[3] or 0, item[4]))
    alerts = []
    for _tag, _family, _key, _time, _order, uid, file, record, stamp, fields in fed:
        event = Event(orjson.loads(fields), file, record, parse_time(stamp) if stamp else None)
        alerts.extend(correlator.feed(by_uid[uid], event))
    alerts.extend(correlator.flush())
    selection = bundle.selection
    for alert in alerts:
        if correlator.outputs(alert.rule) and (not selection.filters or selection.reports(alert.rule)):
            data = correlation_alert_json(alert)
            yield (
                "correlation",
                _rule(alert.rule, alert.rule.uid),
                iso_time(alert.window_end),
                _dumps(data["correlation"]),
                _dumps(data["events"]),
            )
    for skip in correlator.skips:
        yield ("skip", (skip.rule.uid, skip.reason), skip.count)


def skip_problem(uid_reason: tuple[str, str], count: int) -> Row:
    """A correlation's skipped inputs, summed over its keys, as a problem row (the local engine's note)."""
    uid, reason = uid_reason
    message = f"correlation {uid}: {count} inputs not used: {reason}"
    return ("correlation_skip", uid, None, None, None, count, message)
