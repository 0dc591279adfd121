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
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import orjson

from ruleatlas import __version__
from ruleatlas.analysis.rows import RuleRow, analyse_rule
from ruleatlas.attack import AttackData, load_attack
from ruleatlas.config import BuildConfig, SourceSpec, default_jobs, describe_source
from ruleatlas.engine.readers import InputProblem, read_events
from ruleatlas.ingest import PARSER_VERSION, SourceFile, list_source_files, parse_file, stand_in
from ruleatlas.output import atomic
from ruleatlas.output.generation import Output, Stage
from ruleatlas.progress import Progress
from ruleatlas.sources.sigma import assign_unique_uids
from ruleatlas.store import CATALOG_FILE, SCHEMA_VERSION, Catalog, CatalogWriter, ProblemRow
from ruleatlas.store import telemetry as telemetry_store
from ruleatlas.telemetry import TelemetryCatalog, load_telemetry
from ruleatlas.telemetry.fields import RuleEventFields, rule_event_fields
from ruleatlas.telemetry.observed import Observed
from ruleatlas.web import render as web_render
from ruleatlas.web.site import write_site
from ruleatlas.web.telemetry_pages import TelemetryPagesJob
from ruleatlas.workers import forked_pool

T = TypeVar("T")


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


def fingerprint(path: Path | None) -> str:
    """Cheap identity of a file or folder tree: names, sizes and modification times."""
    if path is None:
        return ""
    digest = hashlib.sha256(str(path.resolve()).encode())
    stack = [path] if path.is_dir() else []
    if path.is_file():
        st = path.stat()
        digest.update(f"{st.st_size}\0{st.st_mtime_ns}".encode())
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file():
                    st = entry.stat()
                    digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _loads(text: str) -> Any:
    """json.loads, by orjson (~3x faster on the megabytes of cached telemetry) where it can: it refuses
    what json accepts and orjson does not (a lone surrogate escape), which json then reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _cached_json(
    cache_dir: Path,
    name: str,
    key: str,
    load: Callable[[], T],
    dump: Callable[[T], Any],
    undump: Callable[[Any], T],
) -> tuple[T, str]:
    """`load()`, or its JSON form from the cache when `key` (the input's fingerprint) has not changed.

    Returns the value and its JSON text, which the catalog stores as it is.
    """
    cache_file = cache_dir / f"{name}.json"
    if cache_file.is_file():
        try:
            text = cache_file.read_text(encoding="utf-8")
            header, _, body = text.partition("\n")
            if json.loads(header) == key:
                return undump(_loads(body)), body
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt below
    value = load()
    body = json.dumps(dump(value))
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(cache_file, json.dumps(key) + "\n" + body)
    return value, body


@dataclass(slots=True)
class _Previous:
    meta: dict[str, str]
    files: dict[tuple[str, str], str]
    base_uids: dict[str, tuple[str, str, str, str]]


def _previous(path: Path) -> _Previous | None:
    if not path.is_file():
        return None
    try:
        catalog = Catalog(path)
        try:
            return _Previous(catalog.meta(), catalog.files(), catalog.base_uids())
        finally:
            catalog.close()
    except Exception:  # an older or damaged catalog is simply rebuilt
        return None


class _Context:
    """ATT&CK and telemetry, loaded only when some rule needs analysing."""

    def __init__(self, config: BuildConfig, cache_dir: Path, keys: dict[str, str]) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.keys = keys
        self._attack: tuple[AttackData, str] | None = None
        self._telemetry: tuple[TelemetryCatalog, str] | None = None
        self._samples: dict[str, Any] | None = None

    def attack(self) -> tuple[AttackData, str] | None:
        path = self.config.attack
        if path is not None and self._attack is None:
            self._attack = _cached_json(
                self.cache_dir,
                "attack",
                self.keys["attack"],
                lambda: load_attack(path),
                lambda a: a.to_json(),
                AttackData.from_json,
            )
        return self._attack

    def telemetry(self) -> tuple[TelemetryCatalog, str] | None:
        path = self.config.telemetry
        if path is not None and self._telemetry is None:
            sigma_dir = next((s.path for s in self.config.sources if s.vendor == "sigma"), None)
            self._telemetry = _cached_json(
                self.cache_dir,
                "telemetry",
                self.keys["telemetry"],
                lambda: load_telemetry(path, sigma_dir),
                lambda t: t.to_json(),
                TelemetryCatalog.from_json,
            )
        return self._telemetry

    def samples(self, key: str) -> dict[str, Any] | None:
        """What the log samples (`--samples`, ../shared/logs) hold per event type: read once, then from
        cache/samples.json until the logs or the telemetry definitions change (`key`)."""
        path, loaded = self.config.samples, self.telemetry()
        if path is None or loaded is None:
            return None
        if self._samples is None:
            self._samples, _ = _cached_json(
                self.cache_dir,
                "samples",
                key,
                lambda: _collect_samples(path, loaded[0]),
                lambda data: data,
                lambda data: dict(data),
            )
        return self._samples


def _collect_samples(path: Path, telemetry: TelemetryCatalog) -> dict[str, Any]:
    """One streaming pass over the samples: per event type its count, fields, first event, enum values."""
    problems: list[InputProblem] = []
    observed = Observed(telemetry, examples=True, values=True)
    root = path if path.is_dir() else path.parent
    for event in read_events([path], problems=problems):
        source = Path(event.file)
        shown = source.relative_to(root).as_posix() if source.is_relative_to(root) else source.name
        observed.add(event.fields, f"{shown}, record {event.record}" if event.record is not None else shown)
    data = observed.to_json()
    data["problems"] = [str(p) for p in problems]
    return data


def build(config: BuildConfig, *, log: TextIO | None = None, force_full: bool = False) -> BuildSummary:
    """Build `config.out`: a new generation's catalog and site, published in one step (module docstring).

    Raises OutputError when `config.out` is not a folder a build may write or another build holds it, and
    atomic.WriteError when a file cannot be written (the previous generation then stays current)."""
    log = log if log is not None else sys.stderr
    if not config.sources:
        raise ValueError(
            "no rule sources: pass --source VENDOR=PATH, set RULEATLAS_SHARED, or run `ruleatlas fetch`"
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
    previous: _Previous | None
    incremental: bool


def _plan(config: BuildConfig, previous_catalog: Path | None) -> _Plan:
    """List and hash every file; decide whether the previous catalog can be patched."""
    specs = [describe_source(s) for s in config.sources]
    listing = [(spec, list_source_files(spec)) for spec in specs]
    keys = {"attack": fingerprint(config.attack), "telemetry": fingerprint(config.telemetry)}
    inputs_key = hashlib.sha256(
        json.dumps(
            [
                PARSER_VERSION,
                __version__,
                SCHEMA_VERSION,  # a catalog of an older schema is rebuilt, never patched
                telemetry_store.TABLES_VERSION,
                keys,
                [(s.vendor, str(s.path.resolve()), s.repo, s.commit) for s in specs],
            ]
        ).encode()
    ).hexdigest()
    previous = _previous(previous_catalog) if previous_catalog is not None else None
    all_files = {(f.vendor, f.rel_path) for _, listed in listing for f in listed}
    incremental = (
        previous is not None
        and previous.meta.get("inputs_key") == inputs_key
        and set(previous.files) == all_files
    )
    return _Plan(
        specs,
        listing,
        keys,
        fingerprint(config.samples),  # not an input of the rows: only of telemetry pages
        inputs_key,
        web_render.templates_fingerprint(),
        previous,
        incremental,
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
            [f for f in listed if not incremental or old_files.get((f.vendor, f.rel_path)) != f.content_hash],
        )
        for spec, listed in plan.listing
    ]
    context = _Context(config, output.root / "cache", plan.keys)
    attack = telemetry = None
    if not incremental or any(todo for _, todo in changed):
        attack, telemetry = context.attack(), context.telemetry()
    timer.lap("attack+telemetry")
    results: list[FileResult] = []
    for spec, todo in changed:
        with Progress(f"read {spec.vendor}", len(todo), log) as bar:
            results += _analyse_files(
                todo, spec, attack[0] if attack else None, telemetry[0] if telemetry else None, jobs, bar
            )
    summary.files_parsed = len(results)
    timer.lap("parse+analysis")

    # 3. Unique uids across files. Unchanged rules take part as stand-ins; if any of them would get another
    # uid than it has, the catalog cannot be patched and the build starts over in full.
    parsed_files = {(r.file.vendor, r.file.rel_path) for r in results}
    kept = {
        uid: info
        for uid, info in (previous.base_uids.items() if incremental and previous is not None else ())
        if (info[0], info[2]) not in parsed_files
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
    summary.errors = sum(f.error_files for f in summary.per_folder.values())
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
    context: _Context,
    incremental: bool,
) -> _Stored:
    """The catalog of the new generation: a fresh file, or a patched copy of the current one."""
    previous = plan.previous
    rows = [row for r in results for row in r.rows]
    base = stage.previous / CATALOG_FILE if incremental and stage.previous is not None else None
    writer = CatalogWriter(stage.catalog, base=base)
    touched_events: set[tuple[str, str]] = set()
    for vendor in {r.file.vendor for r in results} if incremental else ():
        paths = [r.file.rel_path for r in results if r.file.vendor == vendor]
        touched_events |= telemetry_store.events_of_files(writer.db, vendor, paths)
        writer.delete_files(vendor, paths)
    writer.add_files(
        (r.file.vendor, r.file.rel_path, r.file.folder, r.file.content_hash, len(r.rows), r.file_errors)
        for r in results
    )
    writer.add_rules(rows)
    touched_events |= telemetry_store.write_rule_events(
        writer.db, _rule_telemetry(results), full=not incremental
    )
    writer.add_problems(p for r in results for p in r.problems)
    writer.set_meta("built_at", datetime.now(UTC).isoformat(timespec="seconds"))
    writer.set_meta("ruleatlas_version", __version__)
    writer.set_meta("inputs_key", plan.inputs_key)
    if attack is not None:
        writer.set_meta("attack_version", attack[0].version)
        writer.set_blob("attack", attack[1])
    if telemetry is not None:
        writer.set_blob("telemetry", telemetry[1])
    writer.refresh_sources([(s.vendor, str(s.path), s.repo, s.commit) for s in plan.specs])
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
    context: _Context,
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


def _analyse_file(file: SourceFile, repo: str, commit: str) -> FileResult:
    rules, problems = parse_file(file, repo, commit)
    rows = [analyse_rule(rule, _WORKER_ATTACK, _WORKER_TELEMETRY) for rule in rules]
    telemetry = _WORKER_TELEMETRY
    events = [rule_event_fields(rule, telemetry) for rule in rules] if telemetry is not None else []
    problem_rows = [
        ProblemRow(file.vendor, file.rel_path, p.rule_uid, p.line, p.severity, p.message, p.hint)
        for p in problems
    ]
    problem_rows += [
        ProblemRow(file.vendor, file.rel_path, r.uid, p.line, p.severity, p.message, p.hint)
        for r in rules
        for p in r.problems
    ]
    meta = SourceFile(file.vendor, file.rel_path, file.folder, file.content_hash, None)
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


def _assign_uids(results: list[FileResult], kept: dict[str, tuple[str, str, str, str]]) -> bool:
    """Make new rows' uids unique against each other and the kept rules; False if a kept uid would move."""
    kept_stand_ins = [(uid, stand_in(*info)) for uid, info in kept.items()]
    new_stand_ins = [
        (result, i, stand_in(row.vendor, row.base_uid, row.path, row.folder))
        for result in results
        for i, row in enumerate(result.rows)
    ]
    everyone = [s for _, s in kept_stand_ins] + [s for _, _, s in new_stand_ins]
    everyone.sort(key=lambda r: r.source.path)
    assign_unique_uids(everyone)
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
        f"({summary.files_parsed} parsed, {summary.errors} files with errors, {summary.problems} problems) "
        f"in {summary.seconds:.1f}s; pages: {summary.pages_written} written, {summary.pages_kept} unchanged\n"
    )
    width = max((len(k) for k in summary.per_folder), default=6)
    stream.write(f"  {'folder':<{width}}  {'files':>6}  {'rules':>6}  {'errors':>6}\n")
    for name, f in sorted(summary.per_folder.items()):
        stream.write(f"  {name:<{width}}  {f.files:>6}  {f.rules:>6}  {f.error_files:>6}\n")
