"""Scan output: a table for people, JSONL and CSV for programs, and a summary per rule and ATT&CK tactic.

JSONL: one object per line.
- match: {"type": "match", "rule": {uid, id, title, level}, "timestamp", "event" (its fields as read,
  Sigma-named), "matched" (the fields whose predicates matched), "source": {file, record}}
- correlation alert: {"type": "correlation", "rule": {...}, "timestamp" (window end), "correlation": {type,
  group: {field: value}, window: {start, end}, count}, "events": [{file, record, timestamp}, ...]}
CSV: one row per match or alert, the same facts flattened (nested values as JSON text).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from ruleatlas.engine.correlate import correlation_alert_json
from ruleatlas.engine.event import Event
from ruleatlas.engine.scan import RuleMatch
from ruleatlas.model import Rule

FORMATS = ("table", "jsonl", "csv")

# ATT&CK tactic tags as Sigma writes them (sigma-appendix-tags.md): attack.<tactic short name>.
TACTICS = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
    # ICS and mobile tactics that Sigma rules may carry
    "inhibit-response-function",
    "impair-process-control",
    "evasion",
)
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
    try:
        return match.rule.matched_fields(match.event.fields)
    except Exception as exc:  # display only: never lose the match over it
        return {"(matched_fields failed)": f"{type(exc).__name__}: {exc}"}


def alert_json(alert: Any) -> dict[str, Any]:
    data = correlation_alert_json(alert)
    return {
        "type": "correlation",
        "rule": data["rule"],
        "timestamp": _iso(alert.window_end),
        "correlation": data["correlation"],
        "events": data["events"],
    }


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


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
        self.out.write(_dumps(match_json(match)) + "\n")

    def write_alert(self, alert: Any) -> None:
        self.out.write(_dumps(alert_json(alert)) + "\n")


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
        self.csv = csv.writer(out)
        self.csv.writerow(CSV_COLUMNS)

    def write_match(self, match: RuleMatch) -> None:
        event, rule = match.event, match.rule.rule
        fields = event.fields
        self.csv.writerow(
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
                _dumps(_matched(match)),
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )

    def write_alert(self, alert: Any) -> None:
        data = alert_json(alert)
        rule = alert.rule
        corr = data["correlation"]
        self.csv.writerow(
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
            ]
        )


def _clip(text: str, width: int) -> str:
    text = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class TableWriter(Writer):
    """Rows as matches arrive (rule, level, time, computer, matched fields), then the summary."""

    def __init__(self, out: TextIO, width: int | None = None) -> None:
        super().__init__(out)
        self.width = width or shutil.get_terminal_size((160, 24)).columns
        self.rows = 0

    def _header(self) -> None:
        if self.rows == 0:
            self.out.write(f"{'time (UTC)':<19}  {'level':<8}  {'rule':<40}  {'computer':<16}  matched\n")
        self.rows += 1

    def write_match(self, match: RuleMatch) -> None:
        self._header()
        event = match.event
        when = _iso(event.timestamp) or "-"
        fields = event.fields
        computer = str(fields.get("Computer", fields.get("Hostname", "")) or "-")
        matched = "; ".join(f"{k}={v}" for k, v in _matched(match).items())
        rest = max(self.width - 93, 30)
        self.out.write(
            f"{_clip(when[:19], 19):<19}  {_clip(match.rule.rule.level or '-', 8):<8}  "
            f"{_clip(match.rule.rule.title or match.rule.uid, 40):<40}  {_clip(computer, 16):<16}  "
            f"{_clip(matched, rest)}\n"
        )

    def write_alert(self, alert: Any) -> None:
        self._header()
        when = _iso(alert.window_end) or "-"
        group = ", ".join(f"{k}={v}" for k, v in alert.group.items())
        text = f"[{alert.type}] count={alert.count} {group} ({len(alert.events)} events)"
        self.out.write(
            f"{when[:19]:<19}  {_clip(alert.rule.level or '-', 8):<8}  "
            f"{_clip(alert.rule.title or alert.rule.uid, 40):<40}  {'-':<16}  "
            f"{_clip(text, max(self.width - 93, 30))}\n"
        )

    def close(self) -> None:
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
