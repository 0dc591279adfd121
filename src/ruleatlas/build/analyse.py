"""Build step 2: parse and analyse the files that changed — indicators, ATT&CK names, event coverage — into
catalog rows, on every core (`workers.map_batches`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from ruleatlas.analysis.rows import RuleRow, analyse_rule, page_coverage
from ruleatlas.attack import AttackData
from ruleatlas.build.plan import problem_row
from ruleatlas.config import SourceSpec
from ruleatlas.engine.fieldmap import AUDIT_ALIASES
from ruleatlas.engine.routing import narrow, required_event_ids, route_applies, route_for
from ruleatlas.ingest import SourceFile, parse_file, prepare_reader
from ruleatlas.model import Rule
from ruleatlas.progress import Progress
from ruleatlas.store import ProblemRow
from ruleatlas.store import telemetry as telemetry_store
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.bridged import BridgedEvent, Routed, bridged_events
from ruleatlas.telemetry.bridges import BridgeIndex, bridge_index
from ruleatlas.telemetry.fields import RuleEventFields, rule_event_fields
from ruleatlas.workers import map_batches


@dataclass(slots=True)
class FileResult:
    file: SourceFile  # without its text: results travel back from worker processes
    rows: list[RuleRow]
    problems: list[ProblemRow]
    file_errors: int
    telemetry: list[list[RuleEventFields]] = field(default_factory=list)  # per row: its events' fields
    bridged: list[list[BridgedEvent]] = field(default_factory=list)  # per row: its bridged events


# Worker-process state: set in the parent before the pool forks, so workers share it without pickling.
_WORKER_ATTACK: AttackData | None = None
_WORKER_TELEMETRY: TelemetryCatalog | None = None
_WORKER_BRIDGES: BridgeIndex | None = None
SCANNED_VENDOR = "sigma"  # the rules `ruleatlas scan` runs: the Sigma sources' vendor label


def scanner_routes(rule: Rule) -> Routed | None:
    """Whether `ruleatlas scan` feeds an event to `rule` and matches the rule's field names on it: the
    engine's routing (pySigma's tables) and its Security audit aliases (engine/fieldmap.py), the one answer
    the pages give. None for the rules the scanner does not run."""
    if rule.vendor != SCANNED_VENDOR:
        return None
    route = narrow(route_for(rule.logsource), required_event_ids(rule))

    def routed(channel: str, key: int | str, renames: tuple[tuple[str, str], ...]) -> bool:
        if not route_applies(
            route, (channel.casefold(), key if isinstance(key, int) else None) if channel else None
        ):
            return False
        aliases = AUDIT_ALIASES.get(key, {}) if isinstance(key, int) and channel == "Security" else {}
        return all(aliases.get(mine) == theirs for mine, theirs in renames)

    return routed


def _analyse_file(file: SourceFile, repo: str, commit: str) -> FileResult:
    rules, problems = parse_file(file, repo, commit)
    telemetry = _WORKER_TELEMETRY
    events = (
        [rule_event_fields(rule, telemetry, page_coverage(rule, telemetry).events) for rule in rules]
        if telemetry is not None
        else []
    )
    bridged: list[list[BridgedEvent]] = []
    if telemetry is not None and _WORKER_BRIDGES is not None:
        bridged = [
            bridged_events(mine, _WORKER_BRIDGES, telemetry, scanner_routes(rule)) if mine else []
            for rule, mine in zip(rules, events, strict=True)
        ]
    # the bridged events go into each page document as it is first encoded, not decoded and encoded again
    rows = [
        analyse_rule(rule, _WORKER_ATTACK, telemetry, file.source, bridged[i] if bridged else None)
        for i, rule in enumerate(rules)
    ]
    problem_rows = [problem_row(file.source, file.vendor, file.rel_path, p.rule_uid, p) for p in problems]
    problem_rows += [
        problem_row(file.source, file.vendor, file.rel_path, r.uid, p) for r in rules for p in r.problems
    ]
    problem_rows += [
        problem_row(file.source, file.vendor, file.rel_path, row.uid, p) for row in rows for p in row.problems
    ]
    meta = SourceFile(file.source, file.vendor, file.rel_path, file.folder, file.content_hash, None)
    errors = sum(p.severity == "error" for p in problems)
    return FileResult(meta, rows, problem_rows, errors, events, bridged)


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
    global _WORKER_ATTACK, _WORKER_TELEMETRY, _WORKER_BRIDGES
    _WORKER_ATTACK, _WORKER_TELEMETRY = attack, telemetry
    _WORKER_BRIDGES = bridge_index(telemetry) if telemetry is not None else None
    prepare_reader(spec.name)  # its parsers built once here, shared by the workers forked below
    # Largest files first, so that the workers' last batches are small ones and finish together (a
    # source's few long rules, e.g. Sublime's address lists, would otherwise hold one worker to the end);
    # the results are put back in the files' order.
    order = sorted(range(len(files)), key=lambda i: -_size(files[i]))
    batches = map_batches(
        partial(_analyse_batch, spec.repo, spec.commit),
        [files[i] for i in order],
        jobs,
        parallel_from=200,
        least=20,
        per_job=8,
        serial_batch=1,
        done=lambda batch, _results: bar.advance(len(batch)),
    )
    results: list[FileResult | None] = [None] * len(files)
    for i, result in zip(order, (r for batch in batches for r in batch), strict=True):
        results[i] = result
    return [r for r in results if r is not None]


def _size(file: SourceFile) -> int:
    """What parsing a file costs, roughly: its text and its companions'."""
    return len(file.text or "") + sum(len(text) for text in file.companions.values())


def rule_telemetry(results: list[FileResult]) -> list[telemetry_store.RuleTelemetry]:
    """Each row with the events it covers (no events when the build has no telemetry definitions)."""
    out = []
    for result in results:
        per_row = result.telemetry or [[] for _ in result.rows]
        bridged = result.bridged or [[] for _ in result.rows]
        for row, events, extra in zip(result.rows, per_row, bridged, strict=True):
            out.append(telemetry_store.RuleTelemetry(row.uid, row.vendor, row.counted, events, extra))
    return out
