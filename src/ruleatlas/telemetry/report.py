"""The readiness report: assembled from a catalog's rules and the logs read (telemetry/readiness.py has the
verdicts), kept as `<catalog>/readiness.json` by the `readiness` command, and read back: the build renders
the readiness page from it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict, TypeGuard

from ruleatlas.telemetry.catalog import TelemetryCatalog
from ruleatlas.telemetry.readiness import (
    BLOCKED,
    EVENT_NEVER_SEEN,
    FIELD_NEVER_PRESENT,
    FIRES,
    NEEDS_PIPELINE,
    NO_COVERAGE,
    PARTIAL,
    THROUGH_BRIDGE,
    UNKNOWN,
    BridgedCoveredEvent,
    CoveredEvent,
    LogsRead,
    SeenIndex,
    Verdict,
    judge,
)

if TYPE_CHECKING:
    from ruleatlas.telemetry.next_steps import CollectionPlan

REPORT_FILE = "readiness.json"
REPORT_FORMAT = "ruleatlas-readiness/1"
MAX_PROBLEMS_KEPT = 200  # log problems kept in the report; its total counts them all


class RuleVerdict(Verdict):
    uid: str
    vendor: str
    title: str
    kind: str
    techniques: list[str]


class LogProblem(TypedDict):
    file: str
    record: int | None
    where: str
    message: str


class LogsFigures(TypedDict):
    files: int
    events: int
    event_types: int
    unattributed: int
    skipped_files: dict[str, int]
    problems_total: int
    problems: list[LogProblem]  # the first MAX_PROBLEMS_KEPT
    seconds: float


class SeenEvent(TypedDict):
    provider: str
    event_id: int | str
    count: int
    channels: dict[str, int]
    fields: int


class RankedTechnique(TypedDict):
    id: str
    name: str
    rules: int


class TechniqueFigures(TypedDict):
    tagged: int
    covered: int
    covered_list: list[RankedTechnique]
    not_covered_list: list[RankedTechnique]


class ReadinessReport(TypedDict):
    """`<catalog>/readiness.json` (format REPORT_FORMAT), `readiness --json`, the readiness page."""

    format: str
    created_at: str
    catalog_built_at: str
    catalog_rules: str  # the fingerprint of the catalog's rules: the page says when the report is stale
    inputs: list[str]
    logs: LogsFigures
    seen: list[SeenEvent]
    rules: dict[str, int]  # total, and per verdict
    reasons: dict[str, int]
    techniques: TechniqueFigures
    rule_verdicts: list[RuleVerdict]
    next: NotRequired[CollectionPlan]  # `readiness --next`


def load_report(catalog_dir: Path) -> ReadinessReport | None:
    """The kept report, or None when there is none or it cannot be read (its page then says how to make
    one)."""
    try:
        data = json.loads((catalog_dir / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if _is_report(data) else None


def _is_report(data: object) -> TypeGuard[ReadinessReport]:
    """A report this version writes (an older or foreign file is not read: its page says to make one)."""
    return isinstance(data, dict) and data.get("format") == REPORT_FORMAT


@dataclass(slots=True)
class ReadinessInputs:
    """What the readiness report needs from a built catalog (store.telemetry.readiness_inputs reads it)."""

    rules: list[tuple[str, str, str, str]]  # (uid, vendor, title, kind) of every counted rule
    covered: dict[str, list[CoveredEvent]]  # uid -> the events it covers, with the fields it needs there
    uncovered_notes: dict[str, str]  # uid -> why it covers no event
    techniques: dict[str, list[str]]  # uid -> its ATT&CK technique ids
    technique_names: dict[str, str]
    built_at: str
    rules_fingerprint: str
    # uid -> the events that serve it through a bridge, with the fields it needs there
    bridged: dict[str, list[BridgedCoveredEvent]] = field(default_factory=dict)


def _ranked(counts: dict[str, int], names: dict[str, str]) -> list[RankedTechnique]:
    return [
        {"id": t, "name": names.get(t, ""), "rules": n}
        for t, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def readiness_report(
    catalog: ReadinessInputs,
    logs: LogsRead,
    inputs: Sequence[Path],
    telemetry: TelemetryCatalog | None,
) -> ReadinessReport:
    """The report (JSON-ready) of `logs` against the rules of a catalog (telemetry/readiness.py)."""
    index = SeenIndex(logs.observed)
    verdicts: list[RuleVerdict] = []
    counts = {FIRES: 0, PARTIAL: 0, BLOCKED: 0, UNKNOWN: 0}
    reasons = {
        EVENT_NEVER_SEEN: 0,
        FIELD_NEVER_PRESENT: 0,
        NO_COVERAGE: 0,
        THROUGH_BRIDGE: 0,
        NEEDS_PIPELINE: 0,
    }
    covered: dict[str, int] = {}
    tagged: dict[str, int] = {}
    for uid, vendor, title, kind in catalog.rules:
        rows = catalog.covered.get(uid)
        verdict: Verdict
        if rows:
            verdict = judge(rows, index, telemetry, catalog.bridged.get(uid, ()))
        else:
            note = catalog.uncovered_notes.get(uid, "")
            verdict = {"verdict": UNKNOWN, "reason": NO_COVERAGE, "detail": note, "events": []}
        counts[verdict["verdict"]] += 1
        if verdict["reason"]:
            reasons[verdict["reason"]] += 1
        rule_techniques = catalog.techniques.get(uid, [])
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
    seen: list[SeenEvent] = [
        {
            "provider": s.provider,
            "event_id": s.event_id,
            "count": s.count,
            "channels": dict(s.channels.most_common()),
            "fields": len(s.fields),
        }
        for s in sorted(observed.events.values(), key=lambda s: (-s.count, s.provider, s.event_id))
    ]
    names = catalog.technique_names
    return {
        "format": REPORT_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "catalog_built_at": catalog.built_at,
        "catalog_rules": catalog.rules_fingerprint,
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
            "covered_list": _ranked(covered, names),
            "not_covered_list": [t for t in _ranked(tagged, names) if t["id"] not in covered],
        },
        "rule_verdicts": verdicts,
    }
