"""Scan output: a table for people, JSONL and CSV for programs, and a summary per rule and ATT&CK tactic.

JSONL: one compact object per line (no spaces after separators).
- match: {"type": "match", "rule": {uid, id, title, level}, "timestamp", "event" (its fields as read,
  Sigma-named), "matched" (the fields whose predicates matched), "source": {file, record}}
- correlation alert: {"type": "correlation", "rule": {...}, "timestamp" (window end), "correlation": {type,
  group: {field: value}, window: {start, end}, count}, "events": [{file, record, timestamp}, ...]}
CSV: one row per match or alert, the same facts flattened (nested values as JSON text).

Order: JSONL and CSV keep input order and stream (files in the order given, folders sorted, events in file
order; a correlation alert comes when it fires, after the match that completed it give or take the
correlator's time-ordering buffer). The table is for people: it is sorted by event time (untimed events
last, input order among equal times), so it is printed when the scan ends.

An event that cannot be written as it is never stops the output: text that is not valid Unicode (a lone
surrogate such as "\\ud800", valid in JSON and in Windows strings) is written escaped, and a value nested
too deeply to serialise is left out; each is reported for that event (`Writer.warnings`: written
escaped, nothing lost; `Writer.problems`: fields left out).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from ruleatlas.engine.correlate import correlation_alert_json
from ruleatlas.engine.fieldmap import with_audit_aliases
from ruleatlas.engine.scan import RuleMatch
from ruleatlas.logs.event import Event, InputProblem
from ruleatlas.model import ATTACK_TACTICS, OTHER_TACTIC_TAGS, Rule

FORMATS = ("table", "jsonl", "csv")

# ATT&CK tactic tags as Sigma writes them (sigma-appendix-tags.md), in matrix order.
TACTICS = (*(t.shortname for t in ATTACK_TACTICS), *OTHER_TACTIC_TAGS)
NO_TACTIC = "(no tactic)"


def tactics_of(rule: Rule) -> list[str]:
    found = []
    for tag in rule.tags:
        lower = tag.lower()
        if lower.startswith("attack.") and lower[7:].replace("_", "-") in TACTICS:
            found.append(lower[7:].replace("_", "-"))
    return found


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _rule_json(rule: Rule, uid: str) -> dict[str, str]:
    return {"uid": uid, "id": rule.id, "title": rule.title, "level": rule.level}


def shown_fields(event: Event) -> dict[str, object]:
    """The event's fields as read: dotted paths added for nested objects are left out (the objects stay)."""
    fields = event.fields
    out: dict[str, object] = {}
    for key, value in fields.items():
        if "." in key:
            head = key.split(".", 1)[0]
            if isinstance(fields.get(head), dict):
                continue
        out[key] = value
    return out


def match_json(match: RuleMatch) -> dict[str, Any]:
    event = match.event
    return {
        "type": "match",
        "rule": _rule_json(match.rule.rule, match.rule.uid),
        "timestamp": _iso(event.timestamp),
        "event": shown_fields(event),
        "matched": _matched(match),
        "source": {"file": event.file, "record": event.record},
    }


def _matched(match: RuleMatch) -> dict[str, object]:
    """The fields whose comparisons held, with their values: the scanner's view of the event (a Security
    4688 event answers to Image, CommandLine... as well), and no field the event does not have (a filter
    on an absent field held, but the field is no evidence)."""
    try:
        found = match.rule.matched_fields(with_audit_aliases(match.event.fields))
    except Exception as exc:  # display only: never lose the match over it
        return {"(matched_fields failed)": f"{type(exc).__name__}: {exc}"}
    return {name: value for name, value in found.items() if value is not None}


def alert_json(alert: Any) -> dict[str, Any]:
    data = correlation_alert_json(alert)
    return {
        "type": "correlation",
        "rule": data["rule"],
        "timestamp": _iso(alert.window_end),
        "correlation": data["correlation"],
        "events": data["events"],
    }


def _json_dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"))  # orjson's spacing


try:  # orjson writes a match line ~5x faster than json; json stays the fallback (and the reference)
    import orjson

    _ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME

    def _dumps(obj: object) -> str:
        try:
            return orjson.dumps(obj, default=str, option=_ORJSON_OPTIONS).decode("utf-8")
        except orjson.JSONEncodeError:
            # what orjson refuses and json writes: a lone surrogate (then escaped by the writer), nesting
            # deeper than orjson's 254 levels, integers over 64 bits
            return _json_dumps(obj)

except ImportError:  # pragma: no cover - orjson is a dependency
    _dumps = _json_dumps


NOT_UNICODE = "text that is not valid Unicode (a lone surrogate): written escaped"
TOO_DEEP = "nested too deeply to write as JSON: the event's fields were left out of the output"


def _escaped(text: str) -> str:
    """`text` with lone surrogates written as \\udXXX (what JSON's own escape looks like)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(slots=True)
class Summary:
    """Counts per rule (uid -> [title, level, matches]) and per tactic."""

    per_rule: dict[str, list[Any]] = field(default_factory=dict)
    per_tactic: Counter[str] = field(default_factory=Counter)
    rules_per_tactic: dict[str, set[str]] = field(default_factory=dict)
    alerts: int = 0

    def add(self, rule: Rule, uid: str) -> None:
        entry = self.per_rule.get(uid)
        if entry is None:
            self.per_rule[uid] = entry = [rule.title, rule.level, 0]
            for tactic in tactics_of(rule) or [NO_TACTIC]:
                self.rules_per_tactic.setdefault(tactic, set()).add(uid)
        entry[2] += 1
        for tactic in tactics_of(rule) or [NO_TACTIC]:
            self.per_tactic[tactic] += 1

    def write(self, out: TextIO) -> None:
        if not self.per_rule:
            out.write("no matches\n")
            return
        out.write(f"\nmatches per rule ({len(self.per_rule)} rules):\n")
        rows = sorted(self.per_rule.items(), key=lambda item: (-item[1][2], item[0]))
        for uid, (title, level, count) in rows:
            out.write(f"  {count:>7}  {level or '-':<13} {uid}  {title}\n")
        out.write("\nmatches per ATT&CK tactic:\n")
        order = {name: i for i, name in enumerate((*TACTICS, NO_TACTIC))}
        for tactic in sorted(self.per_tactic, key=lambda t: order.get(t, len(order))):
            out.write(
                f"  {self.per_tactic[tactic]:>7}  {tactic:<22} ({len(self.rules_per_tactic[tactic])} rules)\n"
            )


class Writer:
    """Base writer: keeps the summary; members write matches and alerts their own way."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.summary = Summary()
        self.problems: list[InputProblem] = []  # events whose fields could not be written (left out)
        self.warnings: list[InputProblem] = []  # events written escaped (valid JSON, nothing lost)

    def problem(self, event: Event, message: str) -> None:
        where = "record" if event.file.lower().endswith(".evtx") else "line"
        target = self.warnings if message == NOT_UNICODE else self.problems
        target.append(InputProblem(event.file, event.record, message, where=where))

    def write_line(self, line: str, event: Event | None) -> None:
        """One line out; text that cannot be encoded is escaped, and the event reported."""
        try:
            self.out.write(line)
        except UnicodeEncodeError:
            self.out.write(_escaped(line))
            if event is not None:
                self.problem(event, NOT_UNICODE)

    def match(self, match: RuleMatch) -> None:
        self.summary.add(match.rule.rule, match.rule.uid)
        self.write_match(match)

    def alert(self, alert: Any) -> None:
        self.summary.alerts += 1
        self.summary.add(alert.rule, alert.rule.uid)
        self.write_alert(alert)

    def write_match(self, match: RuleMatch) -> None:
        raise NotImplementedError

    def write_alert(self, alert: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.out.flush()


class JsonlWriter(Writer):
    def write_match(self, match: RuleMatch) -> None:
        data = match_json(match)
        self._write(data, match.event)

    def write_alert(self, alert: Any) -> None:
        self._write(alert_json(alert), alert.events[0] if alert.events else None)

    def _write(self, data: dict[str, Any], event: Event | None) -> None:
        try:
            line = _dumps(data)
        except (RecursionError, ValueError):  # a value nested deeper than the encoder goes
            data = {**data, "event": {}, "matched": {}, "not_written": TOO_DEEP}
            if event is not None:
                self.problem(event, TOO_DEEP)
            line = _dumps(data)
        try:
            self.out.write(line + "\n")
        except UnicodeEncodeError:
            # JSON's own escape: valid JSON, the text kept as it was read
            self.out.write(json.dumps(data, ensure_ascii=True, default=str, separators=(",", ":")) + "\n")
            if event is not None:
                self.problem(event, NOT_UNICODE)


CSV_COLUMNS = (
    "type",
    "timestamp",
    "rule_uid",
    "rule_id",
    "rule_title",
    "level",
    "computer",
    "channel",
    "event_id",
    "file",
    "record",
    "matched",
    "correlation_type",
    "group",
    "window_start",
    "window_end",
    "count",
    "events",
)


class CsvWriter(Writer):
    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.buffer = io.StringIO()
        self.csv = csv.writer(self.buffer)
        self._row(CSV_COLUMNS, None)

    def _row(self, row: Sequence[object], event: Event | None) -> None:
        """A row formatted in memory, then written as one line (so a bad one can be escaped whole)."""
        self.csv.writerow(row)
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        self.write_line(text, event)

    def write_match(self, match: RuleMatch) -> None:
        event, rule = match.event, match.rule.rule
        fields = event.fields
        try:
            matched = _dumps(_matched(match))
        except (RecursionError, ValueError):
            matched = TOO_DEEP
            self.problem(event, TOO_DEEP)
        self._row(
            [
                "match",
                _iso(event.timestamp) or "",
                match.rule.uid,
                rule.id,
                rule.title,
                rule.level,
                fields.get("Computer", fields.get("Hostname", "")),
                fields.get("Channel", ""),
                fields.get("EventID", ""),
                event.file,
                event.record if event.record is not None else "",
                matched,
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            event,
        )

    def write_alert(self, alert: Any) -> None:
        data = alert_json(alert)
        rule = alert.rule
        corr = data["correlation"]
        self._row(
            [
                "correlation",
                data["timestamp"] or "",
                rule.uid,
                rule.id,
                rule.title,
                rule.level,
                "",
                "",
                "",
                "",
                "",
                "",
                corr["type"],
                _dumps(corr["group"]),
                corr["window"]["start"],
                corr["window"]["end"],
                corr["count"],
                _dumps(data["events"]),
            ],
            alert.events[0] if alert.events else None,
        )


def _clip(text: str, width: int) -> str:
    text = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


@dataclass(slots=True, order=True)
class _Row:
    """A table row kept until the end: sorted by (untimed last, time, arrival)."""

    untimed: bool
    when: datetime | None
    seq: int
    level: str = field(compare=False)
    title: str = field(compare=False)
    computer: str = field(compare=False)
    text: str = field(compare=False)
    event: Event | None = field(compare=False)


class TableWriter(Writer):
    """Rows for people (time, level, rule, computer, matched fields), in time order, then the summary.

    Rows are kept as short text until the scan ends, then sorted by event time: the computer column is as
    wide as its longest name (never cut); the rule title and the matched fields are cut to the terminal."""

    def __init__(self, out: TextIO, width: int | None = None) -> None:
        super().__init__(out)
        self.width = width or shutil.get_terminal_size((160, 24)).columns
        self.rows: list[_Row] = []

    def _keep(
        self, when: datetime | None, level: str, title: str, computer: str, text: str, event: Event | None
    ) -> None:
        moment = when.astimezone(UTC) if when is not None and when.tzinfo is not None else when
        self.rows.append(_Row(moment is None, moment, len(self.rows), level, title, computer, text, event))

    def write_match(self, match: RuleMatch) -> None:
        event = match.event
        fields = event.fields
        computer = str(fields.get("Computer", fields.get("Hostname", "")) or "-")
        matched = "; ".join(f"{k}={v}" for k, v in _matched(match).items())
        rule = match.rule.rule
        self._keep(event.timestamp, rule.level or "-", rule.title or match.rule.uid, computer, matched, event)

    def write_alert(self, alert: Any) -> None:
        group = ", ".join(f"{k}={v}" for k, v in alert.group.items())
        text = f"[{alert.type}] count={alert.count} {group} ({len(alert.events)} events)"
        computers = {str(e.fields.get("Computer", e.fields.get("Hostname", ""))) for e in alert.events}
        computers.discard("")
        computer = computers.pop() if len(computers) == 1 else "-"
        rule = alert.rule
        self._keep(alert.window_end, rule.level or "-", rule.title or rule.uid, computer, text, None)

    def close(self) -> None:
        rows = sorted(self.rows)
        if rows:
            wide = max(8, *(len(row.computer) for row in rows))
            rest = max(self.width - (19 + 2 + 8 + 2 + 40 + 2 + wide + 2), 30)
            self.write_line(
                f"{'time (UTC)':<19}  {'level':<8}  {'rule':<40}  {'computer':<{wide}}  matched\n", None
            )
            for row in rows:
                when = _iso(row.when) or "-"
                self.write_line(
                    f"{when[:19]:<19}  {_clip(row.level, 8):<8}  {_clip(row.title, 40):<40}  "
                    f"{_clip(row.computer, wide):<{wide}}  {_clip(row.text, rest)}\n",
                    row.event,
                )
        self.rows = []
        self.summary.write(self.out)
        super().close()


def make_writer(fmt: str, out: TextIO) -> Writer:
    if fmt == "jsonl":
        return JsonlWriter(out)
    if fmt == "csv":
        return CsvWriter(out)
    return TableWriter(out)


def problem_lines(kind: str, items: Sequence[object]) -> list[str]:
    return [f"{kind}: {item}" for item in items]
