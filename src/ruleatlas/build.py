"""`ruleatlas build`: sources → IR → analysis → catalog file → static pages, as a new generation of the
catalog folder published in one step (`output/generation.py`): a build killed at any moment leaves the
previous catalog and site complete and serving, and the next build starts from them.

A build is incremental when it can be: every file is hashed, and when the previous catalog was built from
the same inputs (parser, ATT&CK, telemetry, sources, same set of files), only the changed files are parsed
and analysed, their rows replaced in a copy of the catalog, corpus counts recounted in SQL, and only the
pages whose document or counts changed rendered again. Anything else is a full build, on every core.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ruleatlas import __version__
from ruleatlas.analysis.rows import RuleRow, analyse_rule
from ruleatlas.attack import JSON_FORMAT as ATTACK_FORMAT
from ruleatlas.attack import AttackData
from ruleatlas.build_inputs import InputContext, PreviousCatalog, fingerprint, read_previous
from ruleatlas.config import BuildConfig, SourceSpec, default_jobs, describe_source
from ruleatlas.ingest import (
    INGEST_VERSION,
    SourceFile,
    list_source_files,
    parse_file,
    reader_version,
    stand_in,
)
from ruleatlas.model import Problem, Rule
from ruleatlas.output import atomic
from ruleatlas.output.generation import Output, Stage
from ruleatlas.progress import Progress
from ruleatlas.sources import SOURCES
from ruleatlas.sources.uids import assign_unique_uids, folder_rank
from ruleatlas.store import CATALOG_FILE, SCHEMA_VERSION, CatalogWriter, ProblemRow
from ruleatlas.store import telemetry as telemetry_store
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.fields import RuleEventFields, rule_event_fields
from ruleatlas.telemetry.platforms import platform_inputs
from ruleatlas.web import render as web_render
from ruleatlas.web.site import write_site
from ruleatlas.web.telemetry_pages import TelemetryPagesJob
from ruleatlas.workers import forked_pool


@dataclass(slots=True)
class FolderSummary:
    files: int = 0
    rules: int = 0
    error_files: int = 0


@dataclass(slots=True)
class BuildSummary:
    mode: str = "full"
    files: int = 0
    files_parsed: int = 0
    rules: int = 0
    errors: int = 0
    problems: int = 0
    per_folder: dict[str, FolderSummary] = field(default_factory=dict)
    pages_written: int = 0
    pages_kept: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "files": self.files,
            "files_parsed": self.files_parsed,
            "rules": self.rules,
            "errors": self.errors,
            "problems": self.problems,
            "per_folder": {
                k: {"files": v.files, "rules": v.rules, "error_files": v.error_files}
                for k, v in self.per_folder.items()
            },
            "pages_written": self.pages_written,
            "pages_kept": self.pages_kept,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


class _Timer:
    def __init__(self, summary: BuildSummary) -> None:
        self.summary = summary
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.summary.timings[name] = self.summary.timings.get(name, 0.0) + now - self.last
        self.last = now


def build(config: BuildConfig, *, log: TextIO | None = None, force_full: bool = False) -> BuildSummary:
    """Build `config.out`: a new generation's catalog and site, published in one step (module docstring).

    Raises OutputError when `config.out` is not a folder a build may write or another build holds it, and
    atomic.WriteError when a file cannot be written (the previous generation then stays current)."""
    log = log if log is not None else sys.stderr
    if not config.sources:
        raise ValueError(
            "no rule sources: pass --source SOURCE=PATH, set RULEATLAS_SHARED, or run `ruleatlas fetch`"
        )
    with Output.open(config.out) as output:
        return _build(config, output, log, force_full)


@dataclass(slots=True)
class _Plan:
    """What the inputs are and whether the current catalog can be patched (step 1)."""

    specs: list[SourceSpec]
    listing: list[tuple[SourceSpec, list[SourceFile]]]
    keys: dict[str, str]  # input fingerprints: attack, telemetry
    samples_fingerprint: str
    inputs_key: str
    templates_key: str
    previous: PreviousCatalog | None
    incremental: bool
    source_problems: list[ProblemRow]  # sources whose reader could not be used (file "")


def _plan(config: BuildConfig, previous_catalog: Path | None) -> _Plan:
    """List and hash every file; decide whether the previous catalog can be patched."""
    specs = [describe_source(s) for s in config.sources]
    listing = []
    source_problems: list[ProblemRow] = []
    for spec in specs:
        files, problems = list_source_files(spec)
        listing.append((spec, files))
        source_problems += [_problem_row(spec.name, spec.vendor, "", None, p) for p in problems]
    keys = {
        "attack": f"{ATTACK_FORMAT}:{fingerprint(config.attack)}",
        # the platform catalogs come from installed packages: their versions are inputs of the telemetry too
        "telemetry": fingerprint(config.telemetry) + platform_inputs(),
    }
    inputs_key = hashlib.sha256(
        json.dumps(
            [
                INGEST_VERSION,
                {s.name: reader_version(s.name) for s in specs},
                __version__,
                SCHEMA_VERSION,  # a catalog of an older schema is rebuilt, never patched
                telemetry_store.TABLES_VERSION,
                keys,
                [(s.name, str(s.path.resolve()), s.repo, s.commit) for s in specs],
            ]
        ).encode()
    ).hexdigest()
    previous = read_previous(previous_catalog) if previous_catalog is not None else None
    all_files = {(f.source, f.rel_path) for _, listed in listing for f in listed}
    incremental = (
        previous is not None
        and previous.meta.get("inputs_key") == inputs_key
        and set(previous.files) == all_files
    )
    return _Plan(
        specs,
        listing,
        keys,
        # not an input of the rows: only of telemetry pages
        fingerprint(config.samples) + fingerprint(config.test_events),
        inputs_key,
        web_render.templates_fingerprint(),
        previous,
        incremental,
        source_problems,
    )


def _build(config: BuildConfig, output: Output, log: TextIO, force_full: bool) -> BuildSummary:
    started = time.perf_counter()
    summary = BuildSummary()
    timer = _Timer(summary)
    jobs = config.jobs or default_jobs()
    current = output.current()

    # 1. The inputs, and whether the current catalog can be patched.
    plan = _plan(config, None if force_full or current is None else current / CATALOG_FILE)
    incremental, previous = plan.incremental, plan.previous
    summary.mode = "incremental" if incremental else "full"
    summary.files = sum(len(listed) for _, listed in plan.listing)
    timer.lap("list")

    # 2. Parse and analyse what changed: indicators, ATT&CK names, event coverage → rows and documents.
    old_files = previous.files if previous is not None else {}
    changed = [
        (
            spec,
            [f for f in listed if not incremental or old_files.get((f.source, f.rel_path)) != f.content_hash],
        )
        for spec, listed in plan.listing
    ]
    context = InputContext(config, output.root / "cache", plan.keys)
    attack = telemetry = None
    if not incremental or any(todo for _, todo in changed):
        attack, telemetry = context.attack(), context.telemetry()
    timer.lap("attack+telemetry")
    results: list[FileResult] = []
    for spec, todo in changed:
        with Progress(f"read {spec.name}", len(todo), log) as bar:
            results += _analyse_files(
                todo, spec, attack[0] if attack else None, telemetry[0] if telemetry else None, jobs, bar
            )
    summary.files_parsed = len(results)
    timer.lap("parse+analysis")

    # 3. Unique uids across files. Unchanged rules take part as stand-ins; if any of them would get another
    # uid than it has, the catalog cannot be patched and the build starts over in full.
    parsed_files = {(r.file.source, r.file.rel_path) for r in results}
    kept = {
        uid: info
        for uid, info in (previous.base_uids.items() if incremental and previous is not None else ())
        if (info[4], info[2]) not in parsed_files
    }
    if not _assign_uids(results, kept):
        return _build(config, output, log, force_full=True)
    timer.lap("uids")

    # 4. The generation readers are not using: empty for a full build, else brought level with the current.
    stage = output.begin(fresh=not incremental)
    if stage.discarded_unfinished:
        log.write(f"ruleatlas build: an earlier build of {output.root} did not finish; redoing its work\n")
    timer.lap("generation")
    with atomic.journal(stage.path, stage.journal):
        stored = _store(stage, plan, results, attack, telemetry, context, incremental)
        summary.problems = stored.problems
        for name, (n_files, n_rules, n_error_files) in stored.folders.items():
            summary.per_folder[name] = FolderSummary(n_files, n_rules, n_error_files)
        timer.lap("store")
        if config.pages:
            _pages(stage, plan, stored, context, output.root, jobs, log, summary)
        timer.lap("pages")

    # 5. Publish: one rename, after which readers see the new catalog and pages together.
    output.commit(stage, pages=config.pages)
    timer.lap("publish")
    summary.rules = len(stored.summaries)
    # A source whose reader could not be used counts as an error too (exit code 1), as a file that gave none.
    summary.errors = sum(f.error_files for f in summary.per_folder.values()) + len(plan.source_problems)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(slots=True)
class _Stored:
    """What step 4 wrote into the new generation's catalog, for the pages."""

    summaries: list[dict[str, Any]]
    folders: dict[str, tuple[int, int, int]]
    problems: int
    rows: list[RuleRow]
    affected: set[str]  # rules whose corpus counts changed
    touched_keys: set[Any]  # indicator keys whose pages may change
    touched_events: set[tuple[str, str]]  # events whose telemetry pages change: before and after
    rerender_all: bool
    rerender_telemetry: bool
    samples_key: str


def _store(
    stage: Stage,
    plan: _Plan,
    results: list[FileResult],
    attack: tuple[AttackData, str] | None,
    telemetry: tuple[TelemetryCatalog, str] | None,
    context: InputContext,
    incremental: bool,
) -> _Stored:
    """The catalog of the new generation: a fresh file, or a patched copy of the current one."""
    previous = plan.previous
    rows = [row for r in results for row in r.rows]
    base = stage.previous / CATALOG_FILE if incremental and stage.previous is not None else None
    writer = CatalogWriter(stage.catalog, base=base)
    touched_events: set[tuple[str, str]] = set()
    for source in {r.file.source for r in results} if incremental else ():
        paths = [r.file.rel_path for r in results if r.file.source == source]
        touched_events |= telemetry_store.events_of_files(writer.db, source, paths)
        writer.delete_files(source, paths)
    writer.add_files(
        (
            r.file.source,
            r.file.vendor,
            r.file.rel_path,
            r.file.folder,
            r.file.content_hash,
            len(r.rows),
            r.file_errors,
        )
        for r in results
    )
    writer.add_rules(rows)
    touched_events |= telemetry_store.write_rule_events(
        writer.db, _rule_telemetry(results), full=not incremental
    )
    writer.add_problems(p for r in results for p in r.problems)
    writer.replace_source_problems(plan.source_problems)
    writer.set_meta("built_at", datetime.now(UTC).isoformat(timespec="seconds"))
    writer.set_meta("ruleatlas_version", __version__)
    writer.set_meta("inputs_key", plan.inputs_key)
    if attack is not None:
        writer.set_meta("attack_version", attack[0].version)
        writer.set_blob("attack", attack[1])
    if telemetry is not None:
        writer.set_blob("telemetry", telemetry[1])
    writer.refresh_sources([(s.name, s.vendor, str(s.path), s.repo, s.commit) for s in plan.specs])
    affected = writer.recount()
    # Every page again when the templates changed, or when the current generation has no complete site.
    rerender_all = (
        not incremental
        or not stage.previous_pages
        or (previous is not None and previous.meta.get("templates_key") != plan.templates_key)
    )
    writer.set_meta("templates_key", plan.templates_key)
    samples_key = plan.samples_fingerprint + plan.keys["telemetry"]
    rerender_telemetry = rerender_all or (
        previous is not None and previous.meta.get("samples_key") != samples_key
    )
    if rerender_telemetry or rows:
        samples = context.samples(samples_key)
        writer.set_blob("telemetry_samples", samples if samples is not None else {})
    writer.set_meta("samples_key", samples_key)
    stored = _Stored(
        writer.summaries(),
        writer.folder_summary(),
        writer.problem_count(),
        rows,
        affected,
        writer.touched_keys,
        touched_events,
        rerender_all,
        rerender_telemetry,
        samples_key,
    )
    writer.close()
    return stored


def _pages(
    stage: Stage,
    plan: _Plan,
    stored: _Stored,
    context: InputContext,
    out: Path,
    jobs: int,
    log: TextIO,
    summary: BuildSummary,
) -> None:
    """The pages whose document or corpus counts changed (all of them when `rerender_all`)."""
    summaries, previous = stored.summaries, plan.previous
    todo_uids = (
        [s["uid"] for s in summaries]
        if stored.rerender_all
        else sorted({r.uid for r in stored.rows} | stored.affected)
    )
    gone = set(previous.base_uids) - {s["uid"] for s in summaries} if previous is not None else set()
    # Telemetry pages: all of them, or those of the events the changed rules covered before and after.
    telemetry_job = None
    if stored.rerender_telemetry or stored.rows:
        loaded = context.telemetry()
        telemetry_job = TelemetryPagesJob(
            telemetry=loaded[0] if loaded else None,
            samples=context.samples(stored.samples_key),
            events=None if stored.rerender_telemetry else stored.touched_events,
            catalog_dir=out,  # readiness.json is kept at the top of the catalog folder
        )
    with Progress("pages", len(todo_uids), log) as bar:
        write_site(
            stage.site,
            stage.catalog,
            todo_uids,
            summaries,
            gone,
            jobs=jobs,
            progress=bar,
            changed_indicators=None if stored.rerender_all else stored.touched_keys,
            telemetry_pages=telemetry_job,
        )
    summary.pages_written = len(todo_uids)
    summary.pages_kept = len(summaries) - len(todo_uids)


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


def _problem_row(source: str, vendor: str, path: str, uid: str | None, p: Problem) -> ProblemRow:
    return ProblemRow(source, vendor, path, uid, p.line, p.severity, p.message, p.hint)


def _analyse_file(file: SourceFile, repo: str, commit: str) -> FileResult:
    rules, problems = parse_file(file, repo, commit)
    rows = [analyse_rule(rule, _WORKER_ATTACK, _WORKER_TELEMETRY, file.source) for rule in rules]
    telemetry = _WORKER_TELEMETRY
    events = [rule_event_fields(rule, telemetry) for rule in rules] if telemetry is not None else []
    problem_rows = [_problem_row(file.source, file.vendor, file.rel_path, p.rule_uid, p) for p in problems]
    problem_rows += [
        _problem_row(file.source, file.vendor, file.rel_path, r.uid, p) for r in rules for p in r.problems
    ]
    problem_rows += [
        _problem_row(file.source, file.vendor, file.rel_path, row.uid, p)
        for row in rows
        for p in row.problems
    ]
    meta = SourceFile(file.source, file.vendor, file.rel_path, file.folder, file.content_hash, None)
    return FileResult(meta, rows, problem_rows, sum(p.severity == "error" for p in problems), events)


def _rule_telemetry(results: list[FileResult]) -> list[telemetry_store.RuleTelemetry]:
    """Each row with the events it covers (no events when the build has no telemetry definitions)."""
    out = []
    for result in results:
        per_row = result.telemetry or [[] for _ in result.rows]
        for row, events in zip(result.rows, per_row, strict=True):
            out.append(telemetry_store.RuleTelemetry(row.uid, row.vendor, row.counted, events))
    return out


def _analyse_batch(files: list[SourceFile], repo: str, commit: str) -> list[FileResult]:
    return [_analyse_file(f, repo, commit) for f in files]


def _analyse_files(
    files: list[SourceFile],
    spec: SourceSpec,
    attack: AttackData | None,
    telemetry: TelemetryCatalog | None,
    jobs: int,
    bar: Progress,
) -> list[FileResult]:
    global _WORKER_ATTACK, _WORKER_TELEMETRY
    _WORKER_ATTACK, _WORKER_TELEMETRY = attack, telemetry
    if jobs <= 1 or len(files) < 200:
        out = []
        for f in files:
            out.append(_analyse_file(f, spec.repo, spec.commit))
            bar.advance()
        return out
    # Many more batches than workers keeps every core busy to the end; batches amortise the hand-off.
    size = max(20, len(files) // (jobs * 8))
    batches = [files[i : i + size] for i in range(0, len(files), size)]
    results: list[FileResult] = []
    with forked_pool(jobs) as pool:
        futures = [pool.submit(_analyse_batch, b, spec.repo, spec.commit) for b in batches]
        for fut, batch in zip(futures, batches, strict=True):
            results.extend(fut.result())
            bar.advance(len(batch))
    return results


_SOURCE_ORDER = {name: i for i, name in enumerate(SOURCES)}


def _uid_rank(rule: Rule) -> tuple[object, ...]:
    """Who keeps a shared `<vendor>/<stem>`: by folder (`rules` first), then by source in registry order
    (SigmaHQ before Hayabusa and Suzaku), then by path. Stand-ins carry their source name as `repo`."""
    rank, _, path = folder_rank(rule)
    return (rank, _SOURCE_ORDER.get(rule.source.repo, len(_SOURCE_ORDER)), rule.source.repo, path)


def _assign_uids(results: list[FileResult], kept: dict[str, tuple[str, str, str, str, str]]) -> bool:
    """Make new rows' uids unique against each other and the kept rules; False if a kept uid would move."""
    kept_stand_ins = [(uid, stand_in(*info)) for uid, info in kept.items()]
    new_stand_ins = [
        (result, i, stand_in(row.vendor, row.base_uid, row.path, row.folder, row.source))
        for result in results
        for i, row in enumerate(result.rows)
    ]
    everyone = [s for _, s in kept_stand_ins] + [s for _, _, s in new_stand_ins]
    everyone.sort(key=_uid_rank)
    assign_unique_uids(everyone, rank=_uid_rank)
    if any(s.uid != uid for uid, s in kept_stand_ins):
        return False
    for result, i, s in new_stand_ins:
        old = result.rows[i].uid
        if s.uid != old:
            result.rows[i] = result.rows[i].renamed(s.uid)
            for p in result.problems:
                if p.uid == old:
                    p.uid = s.uid
    return True


def print_summary(summary: BuildSummary, stream: TextIO) -> None:
    stream.write(
        f"{summary.mode} build: {summary.rules} rules from {summary.files} files "
        f"({summary.files_parsed} parsed, {summary.errors} files failed, {summary.problems} rule problems) "
        f"in {summary.seconds:.1f}s; pages: {summary.pages_written} written, {summary.pages_kept} unchanged\n"
    )
    width = max((len(k) for k in summary.per_folder), default=6)
    stream.write(f"  {'folder':<{width}}  {'files':>6}  {'rules':>6}  {'errors':>6}\n")
    for name, f in sorted(summary.per_folder.items()):
        stream.write(f"  {name:<{width}}  {f.files:>6}  {f.rules:>6}  {f.error_files:>6}\n")
