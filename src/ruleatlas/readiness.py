"""Readiness: which of the catalog's rules can fire on the telemetry a set of logs holds, and why not.

`ruleatlas readiness --catalog DIR LOGS...` streams the logs (EVTX, JSON, JSONL, plain or gzip) through the
engine's readers and records, per event type (provider, EventID), how often it was seen, on which channels,
and which field names it carried (`telemetry.observed.Observed`: bounded by the number of event types and
fields, so memory stays flat however large the logs). Then, for every rule counted in the catalog
(deprecated and unsupported left out), over the events it covers (the build's `tel_rule_events`):

- **fires**: some covered event was seen, carrying every field of at least one way the rule can match
  (`needs`, telemetry/fields.py: the condition in disjunctive form, fields under `not` needing nothing);
- **blocked**, *event never seen*: none of its events is in the logs;
- **blocked**, *field never present*: its events were seen, but each lacks a field that every way of
  matching needs;
- **unknown**: the rule covers no event (the uncovered-rules page says why).

Catch-all events are seen through their channel (Windows services) or any Windows event (`windows/any`);
the catch-alls of products without event ids (linux, aws, ...) cannot be recognised in event logs and count as
never seen. Platform events (a CloudTrail eventName, an Okta eventType...) are recognised in JSON logs by
their record's shape (telemetry/platforms/samples.py), so cloud and SaaS rules get verdicts too. The ATT&CK
techniques effectively covered are those of the rules that fire.

Corrupt EVTX files and invalid JSON lines are reported (file, record or line, cause) and skipped; the rest is
read. The report is printed as a table or JSON, and kept as `DIR/readiness.json` with its page
`DIR/site/readiness/`, which the build re-renders from that file (and marks stale when the catalog changed
since: run the command again after a rebuild).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ruleatlas.engine.readers import InputProblem, InputSource, plan_inputs, read_source
from ruleatlas.store import Catalog
from ruleatlas.store.telemetry import RuleNeeds, TelemetryQueries
from ruleatlas.telemetry.catalog import (
    LOGSOURCE_KIND,
    PLATFORM_KIND,
    EventKey,
    TelemetryCatalog,
    name_key,
    parse_event_key,
)
from ruleatlas.telemetry.observed import Observed
from ruleatlas.telemetry.products import ANY_EVENT, WINDOWS_PRODUCT
from ruleatlas.telemetry.report import REPORT_FILE, REPORT_FORMAT
from ruleatlas.web import urls
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.telemetry_pages import TelemetryPageRenderer

SITE_DIR = "site"
FIRES, BLOCKED, UNKNOWN = "fires", "blocked", "unknown"
EVENT_NEVER_SEEN = "event never seen"
FIELD_NEVER_PRESENT = "field never present"
NO_COVERAGE = "no event coverage"
MAX_PROBLEMS_KEPT = 200


@dataclass(slots=True)
class Seen:
    """What the logs showed for one covered event of a rule."""

    seen: bool
    count: int = 0
    fields: set[str] = field(default_factory=set)  # lower-cased


class SeenIndex:
    """Lookups over what was observed: by provider and id, by channel and id, by channel, and overall."""

    def __init__(self, observed: Observed) -> None:
        self.by_provider: dict[tuple[str, EventKey], Seen] = {}
        self.by_channel_id: dict[tuple[str, EventKey], Seen] = {}
        self.by_channel: dict[str, Seen] = {}
        self.windows = Seen(False)
        for sample in observed.events.values():
            fields = {f.lower() for f in sample.fields}
            self._add(self.by_provider, (name_key(sample.provider), sample.event_id), sample.count, fields)
            for channel in sample.channels:
                self._add(self.by_channel_id, (name_key(channel), sample.event_id), sample.count, fields)
                self._add(self.by_channel, name_key(channel), sample.count, fields)
            self.windows.seen = True
            self.windows.count += sample.count
            self.windows.fields |= fields

    @staticmethod
    def _add(index: dict[Any, Seen], key: Any, count: int, fields: set[str]) -> None:
        found = index.get(key)
        if found is None:
            index[key] = found = Seen(True)
        found.count += count
        found.fields |= fields

    def lookup(self, row: RuleNeeds, telemetry: TelemetryCatalog | None) -> Seen:
        provider = telemetry.provider(row.provider) if telemetry is not None else None
        key = parse_event_key(row.event_key)
        if provider is not None and provider.kind == LOGSOURCE_KIND:
            if provider.name != WINDOWS_PRODUCT:
                return Seen(False)  # linux, aws, ...: not recognisable in event logs
            if key == ANY_EVENT:
                return self.windows
            return self.by_channel.get(name_key(row.channel), Seen(False)) if row.channel else Seen(False)
        if provider is not None and provider.kind == PLATFORM_KIND:  # CloudTrail, Okta...: by event name
            return self.by_provider.get((name_key(provider.name), key), Seen(False))
        if not isinstance(key, int):
            return Seen(False)
        found = self.by_provider.get((name_key(provider.name if provider else row.provider), key))
        if found is None and row.channel:
            found = self.by_channel_id.get((name_key(row.channel), key))
        if found is None and provider is None:  # the row names the channel where the provider is unknown
            found = self.by_channel_id.get((name_key(row.provider), key))
        return found or Seen(False)


def _event_label(row: RuleNeeds, telemetry: TelemetryCatalog | None) -> str:
    provider = telemetry.provider(row.provider) if telemetry is not None else None
    return f"{provider.label if provider is not None else row.provider} {row.event_key}"


def judge(rows: list[RuleNeeds], index: SeenIndex, telemetry: TelemetryCatalog | None) -> dict[str, Any]:
    """The verdict of one rule from its covered events."""
    firing: list[str] = []
    missing: list[str] = []
    unseen: list[str] = []
    for row in rows:
        seen = index.lookup(row, telemetry)
        label = _event_label(row, telemetry)
        if not seen.seen:
            unseen.append(label)
            continue
        lacking = [[f for f in alt if f.lower() not in seen.fields] for alt in row.needs] or [[]]
        best = min(lacking, key=len)
        if not best:
            firing.append(label)
        else:
            missing.append(f"{label} lacks {', '.join(best)}")
    if firing:
        return {"verdict": FIRES, "reason": "", "events": firing}
    if missing:
        return {
            "verdict": BLOCKED,
            "reason": FIELD_NEVER_PRESENT,
            "detail": "; ".join(missing),
            "events": [],
        }
    return {
        "verdict": BLOCKED,
        "reason": EVENT_NEVER_SEEN,
        "detail": ", ".join(unseen),
        "events": [],
    }


@dataclass(slots=True)
class LogsRead:
    observed: Observed
    files: int
    problems: list[InputProblem]
    skipped: dict[str, int]
    seconds: float


def read_logs(paths: Sequence[Path], telemetry: TelemetryCatalog | None) -> LogsRead:
    """Stream every event of `paths` into an Observed (field names only: no examples, no values kept)."""
    started = time.perf_counter()
    problems: list[InputProblem] = []
    plan = plan_inputs(paths, problems)
    problems.extend(plan.warnings)  # FIFOs and devices named like logs: skipped, and said so
    observed = Observed(telemetry)
    for path in plan.files:
        for event in read_source(InputSource(path), problems=problems):
            observed.add(event.fields)
    return LogsRead(observed, len(plan.files), problems, plan.skipped, time.perf_counter() - started)


def _technique_names(catalog: Catalog) -> dict[str, str]:
    data = catalog.blob("attack")
    if not isinstance(data, dict):
        return {}
    return {t["id"]: t["name"] for t in data.get("techniques", ()) if isinstance(t, dict) and "id" in t}


def readiness_report(
    catalog: Catalog,
    logs: LogsRead,
    inputs: Sequence[Path],
    telemetry: TelemetryCatalog | None = None,
) -> dict[str, Any]:
    """The report (JSON-ready) of `logs` against `catalog` (whose telemetry definitions are `telemetry`,
    read from the catalog when not given)."""
    if telemetry is None:
        blob = catalog.blob("telemetry")
        telemetry = TelemetryCatalog.from_json(blob) if isinstance(blob, dict) else None
    queries = TelemetryQueries(catalog.db)
    index = SeenIndex(logs.observed)
    per_rule: dict[str, list[RuleNeeds]] = {}
    if queries.has_tables():
        for row in queries.rule_needs():
            per_rule.setdefault(row.uid, []).append(row)
    techniques = queries.rule_techniques()
    names = _technique_names(catalog)
    verdicts = []
    counts = {FIRES: 0, BLOCKED: 0, UNKNOWN: 0}
    reasons = {EVENT_NEVER_SEEN: 0, FIELD_NEVER_PRESENT: 0, NO_COVERAGE: 0}
    covered: dict[str, int] = {}
    tagged: dict[str, int] = {}
    uncovered_notes = {u.uid: u.reason for u in queries.uncovered_rules()} if queries.has_tables() else {}
    for uid, vendor, title, kind in queries.counted_rules():
        rows = per_rule.get(uid)
        if rows:
            verdict = judge(rows, index, telemetry)
        else:
            note = uncovered_notes.get(uid, "")
            verdict = {"verdict": UNKNOWN, "reason": NO_COVERAGE, "detail": note, "events": []}
        counts[verdict["verdict"]] += 1
        if verdict["reason"]:
            reasons[verdict["reason"]] += 1
        rule_techniques = techniques.get(uid, [])
        for tid in rule_techniques:
            tagged[tid] = tagged.get(tid, 0) + 1
            if verdict["verdict"] == FIRES:
                covered[tid] = covered.get(tid, 0) + 1
        verdicts.append(
            {
                "uid": uid,
                "vendor": vendor,
                "title": title,
                "kind": kind,
                **verdict,
                "techniques": rule_techniques,
            }
        )
    observed = logs.observed
    seen = [
        {
            "provider": s.provider,
            "event_id": s.event_id,
            "count": s.count,
            "channels": dict(s.channels.most_common()),
            "fields": len(s.fields),
        }
        for s in sorted(observed.events.values(), key=lambda s: (-s.count, s.provider, s.event_id))
    ]
    meta = catalog.meta()
    return {
        "format": REPORT_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "catalog_built_at": meta.get("built_at", ""),
        "catalog_rules": queries.rules_fingerprint(),
        "inputs": [str(p) for p in inputs],
        "logs": {
            "files": logs.files,
            "events": observed.total,
            "event_types": len(observed.events),
            "unattributed": observed.unattributed,
            "skipped_files": logs.skipped,
            "problems_total": len(logs.problems),
            "problems": [
                {"file": p.file, "record": p.record, "where": p.where, "message": p.message}
                for p in logs.problems[:MAX_PROBLEMS_KEPT]
            ],
            "seconds": round(logs.seconds, 3),
        },
        "seen": seen,
        "rules": {"total": len(verdicts), **counts},
        "reasons": reasons,
        "techniques": {
            "tagged": len(tagged),
            "covered": len(covered),
            "covered_list": [
                {"id": t, "name": names.get(t, ""), "rules": n}
                for t, n in sorted(covered.items(), key=lambda item: (-item[1], item[0]))
            ],
            "not_covered_list": [
                {"id": t, "name": names.get(t, ""), "rules": n}
                for t, n in sorted(tagged.items(), key=lambda item: (-item[1], item[0]))
                if t not in covered
            ],
        },
        "rule_verdicts": verdicts,
    }


def write_readiness(catalog_dir: Path, report: dict[str, Any]) -> Path:
    """Keep the report beside the catalog and write its page into the catalog's site (when it has one);
    the build re-renders that page from the kept report."""
    target = catalog_dir / REPORT_FILE
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, target)
    site = catalog_dir / SITE_DIR
    if site.is_dir():
        pages = TelemetryPageRenderer(SiteRenderer(indicator_pages=True, field_pages=True))
        SiteRenderer.write_page(
            site, urls.READINESS_PATH, pages.readiness_page(report, report["catalog_rules"])
        )
    return target


def print_table(report: dict[str, Any], out: TextIO) -> None:
    """The report for a terminal: figures, then one line per rule (blocked ones first)."""
    logs, rules, tech = report["logs"], report["rules"], report["techniques"]
    unattributed = f", {logs['unattributed']:,} without an EventID" if logs["unattributed"] else ""
    out.write(
        f"Logs: {logs['files']} files, {logs['events']:,} events of {logs['event_types']} types"
        f"{unattributed}; {logs['problems_total']} problems (skipped)\n"
    )
    for problem in logs["problems"][:20]:
        place = problem["file"] + (f": {problem['where']} {problem['record']}" if problem["record"] else "")
        out.write(f"  problem: {place}: {problem['message']}\n")
    if logs["problems_total"] > 20:
        out.write(f"  ... and {logs['problems_total'] - 20} more (see --json)\n")
    reasons = report["reasons"]
    out.write(
        f"Rules: {rules['total']:,} — {rules[FIRES]:,} can fire, {rules[BLOCKED]:,} cannot "
        f"({reasons[EVENT_NEVER_SEEN]:,} event never seen, {reasons[FIELD_NEVER_PRESENT]:,} field never "
        f"present), {rules[UNKNOWN]:,} without event coverage\n"
    )
    out.write(f"ATT&CK: {tech['covered']:,} of {tech['tagged']:,} tagged techniques effectively covered\n\n")
    order = {BLOCKED: 0, FIRES: 1, UNKNOWN: 2}
    rows = sorted(report["rule_verdicts"], key=lambda v: (order[v["verdict"]], v["reason"], v["uid"]))
    width = min(max((len(v["uid"]) for v in rows), default=10), 70)
    out.write(f"{'verdict':<8}  {'rule':<{width}}  why\n")
    for v in rows:
        why = v["reason"] + (f": {v['detail']}" if v.get("detail") else "")
        if v["verdict"] == FIRES:
            why = "on " + ", ".join(v["events"][:4]) + (" …" if len(v["events"]) > 4 else "")
        out.write(f"{v['verdict']:<8}  {v['uid']:<{width}}  {why}\n")
