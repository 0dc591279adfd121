"""Build step 2: parse and analyse the files that changed — indicators, ATT&CK names, event coverage — into
catalog rows, on every core (`workers.map_batches`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from ruleatlas.analysis.rows import RuleRow, analyse_rule
from ruleatlas.attack import AttackData
from ruleatlas.build.plan import problem_row
from ruleatlas.config import SourceSpec
from ruleatlas.ingest import SourceFile, parse_file
from ruleatlas.progress import Progress
from ruleatlas.store import ProblemRow
from ruleatlas.store import telemetry as telemetry_store
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.fields import RuleEventFields, rule_event_fields
from ruleatlas.workers import map_batches


@dataclass(slots=True)
class FileResult:
    file: SourceFile  # without its text: results travel back from worker processes
    rows: list[RuleRow]
    problems: list[ProblemRow]
    file_errors: int
    telemetry: list[list[RuleEventFields]] = field(default_factory=list)  # per row: its events' fields


# Worker-process state: set in the parent before the pool forks, so workers share it without pickling.
_WORKER_ATTACK: AttackData | None = None
_WORKER_TELEMETRY: TelemetryCatalog | None = None


def _analyse_file(file: SourceFile, repo: str, commit: str) -> FileResult:
    rules, problems = parse_file(file, repo, commit)
    rows = [analyse_rule(rule, _WORKER_ATTACK, _WORKER_TELEMETRY, file.source) for rule in rules]
    telemetry = _WORKER_TELEMETRY
    events = [rule_event_fields(rule, telemetry) for rule in rules] if telemetry is not None else []
    problem_rows = [problem_row(file.source, file.vendor, file.rel_path, p.rule_uid, p) for p in problems]
    problem_rows += [
        problem_row(file.source, file.vendor, file.rel_path, r.uid, p) for r in rules for p in r.problems
    ]
    problem_rows += [
        problem_row(file.source, file.vendor, file.rel_path, row.uid, p) for row in rows for p in row.problems
    ]
    meta = SourceFile(file.source, file.vendor, file.rel_path, file.folder, file.content_hash, None)
    return FileResult(meta, rows, problem_rows, sum(p.severity == "error" for p in problems), events)


def _analyse_batch(repo: str, commit: str, files: list[SourceFile]) -> list[FileResult]:
    return [_analyse_file(f, repo, commit) for f in files]


def analyse_files(
    files: list[SourceFile],
    spec: SourceSpec,
    attack: AttackData | None,
    telemetry: TelemetryCatalog | None,
    jobs: int,
    bar: Progress,
) -> list[FileResult]:
    global _WORKER_ATTACK, _WORKER_TELEMETRY
    _WORKER_ATTACK, _WORKER_TELEMETRY = attack, telemetry
    batches = map_batches(
        partial(_analyse_batch, spec.repo, spec.commit),
        files,
        jobs,
        parallel_from=200,
        least=20,
        per_job=8,
        serial_batch=1,
        done=lambda batch, _results: bar.advance(len(batch)),
    )
    return [result for batch in batches for result in batch]


def rule_telemetry(results: list[FileResult]) -> list[telemetry_store.RuleTelemetry]:
    """Each row with the events it covers (no events when the build has no telemetry definitions)."""
    out = []
    for result in results:
        per_row = result.telemetry or [[] for _ in result.rows]
        for row, events in zip(result.rows, per_row, strict=True):
            out.append(telemetry_store.RuleTelemetry(row.uid, row.vendor, row.counted, events))
    return out
