"""`ruleatlas build`: sources → IR → analysis → catalog file → static pages.

A build is incremental when it can be: every file is hashed, and when the previous catalog was built from
the same inputs (parser, ATT&CK, telemetry, sources, same set of files), only the changed files are parsed
and analysed, their rows replaced in a copy of the catalog, corpus counts recounted in SQL, and only the
pages whose document or counts changed rendered again. Anything else is a full build, on every core.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from ruleatlas import __version__
from ruleatlas.analysis.document import rule_document
from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.attack import AttackData, load_attack, map_tags
from ruleatlas.config import BuildConfig, default_jobs, describe_source
from ruleatlas.ingest import PARSER_VERSION, SourceFile, list_source_files, parse_files, stand_in
from ruleatlas.model import Problem, Rule
from ruleatlas.progress import Progress
from ruleatlas.sources.sigma import assign_unique_uids
from ruleatlas.store import CATALOG_FILE, Catalog, CatalogWriter, ProblemRow, RuleRow
from ruleatlas.telemetry import TelemetryCatalog, event_coverage, load_telemetry
from ruleatlas.web import render as web_render
from ruleatlas.web.urls import rule_path

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
                return undump(json.loads(body)), body
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt below
    value = load()
    body = json.dumps(dump(value))
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(key) + "\n" + body, encoding="utf-8")
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


def build(config: BuildConfig, *, log: TextIO | None = None, force_full: bool = False) -> BuildSummary:
    log = log if log is not None else sys.stderr
    if not config.sources:
        raise ValueError(
            "no rule sources: pass --source VENDOR=PATH, set RULEATLAS_SHARED, or run `ruleatlas fetch`"
        )
    started = time.perf_counter()
    summary = BuildSummary()
    timer = _Timer(summary)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    catalog_path = out / CATALOG_FILE
    jobs = config.jobs or default_jobs()

    # 1. List and hash every file; decide what has to be parsed.
    specs = [describe_source(s) for s in config.sources]
    listing = [(spec, list_source_files(spec)) for spec in specs]
    keys = {"attack": fingerprint(config.attack), "telemetry": fingerprint(config.telemetry)}
    inputs_key = hashlib.sha256(
        json.dumps(
            [
                PARSER_VERSION,
                __version__,
                keys,
                [(s.vendor, str(s.path.resolve()), s.repo, s.commit) for s in specs],
            ]
        ).encode()
    ).hexdigest()
    templates_key = web_render.templates_fingerprint()
    previous = None if force_full else _previous(catalog_path)
    all_files = {(f.vendor, f.rel_path) for _, files in listing for f in files}
    incremental = (
        previous is not None
        and previous.meta.get("inputs_key") == inputs_key
        and set(previous.files) == all_files
    )
    summary.mode = "incremental" if incremental else "full"
    timer.lap("list")

    # 2. Parse what changed.
    parsed: list[tuple[SourceFile, list[Rule], list[Problem]]] = []
    for spec, files in listing:
        todo = [
            f
            for f in files
            if not incremental or previous.files.get((f.vendor, f.rel_path)) != f.content_hash
        ]  # type: ignore[union-attr]
        with Progress(f"parse {spec.vendor}", len(todo), log) as bar:
            outputs = parse_files(todo, spec, jobs=jobs, progress=bar)
        parsed.extend((f, rules, problems) for f, (rules, problems) in zip(todo, outputs, strict=True))
    summary.files = len(all_files)
    summary.files_parsed = len(parsed)
    new_rules = [rule for _, rules, _ in parsed for rule in rules]
    base_uids = {id(rule): rule.uid for rule in new_rules}
    timer.lap("parse")

    # 3. Unique uids across files. Unchanged rules take part as stand-ins; if any of them would get another
    # uid than it has, the catalog cannot be patched and the build starts over in full.
    if incremental:
        assert previous is not None
        changed = {(f.vendor, f.rel_path) for f, _, _ in parsed}
        stand_ins = [
            (uid, stand_in(vendor, base, path, folder))
            for uid, (vendor, base, path, folder) in previous.base_uids.items()
            if (vendor, path) not in changed
        ]
        everyone = [s for _, s in stand_ins] + new_rules
        everyone.sort(key=lambda r: r.source.path)
        assign_unique_uids(everyone)
        if any(s.uid != uid for uid, s in stand_ins):
            return build(config, log=log, force_full=True)
    else:
        assign_unique_uids(new_rules)
    timer.lap("uids")

    # 4. Analyse the new rules: indicators, ATT&CK names, event coverage → page documents without counts.
    context = _Context(config, out / "cache", keys)
    attack = context.attack() if new_rules or not incremental else None
    telemetry = context.telemetry() if new_rules or not incremental else None
    timer.lap("attack+telemetry")
    rows = [_analyse(rule, base_uids[id(rule)], attack, telemetry) for rule in new_rules]
    timer.lap("analysis")

    # 5. The catalog: a fresh file, or a patched copy of the previous one.
    writer = CatalogWriter(catalog_path, base=catalog_path if incremental else None)
    if incremental:
        for vendor in {f.vendor for f, _, _ in parsed}:
            writer.delete_files(vendor, [f.rel_path for f, _, _ in parsed if f.vendor == vendor])
    writer.add_files(
        (
            f.vendor,
            f.rel_path,
            f.folder,
            f.content_hash,
            len(rules),
            sum(p.severity == "error" for p in problems),
        )
        for f, rules, problems in parsed
    )
    writer.add_rules(rows)
    writer.add_problems(_problem_rows(parsed))
    writer.set_meta("built_at", datetime.now(UTC).isoformat(timespec="seconds"))
    writer.set_meta("ruleatlas_version", __version__)
    writer.set_meta("inputs_key", inputs_key)
    if attack is not None:
        writer.set_meta("attack_version", attack[0].version)
        writer.set_blob("attack", attack[1])
    if telemetry is not None:
        writer.set_blob("telemetry", telemetry[1])
    writer.refresh_sources([(s.vendor, str(s.path), s.repo, s.commit) for s in specs])
    affected = writer.recount()
    rerender_all = not incremental or previous.meta.get("templates_key") != templates_key  # type: ignore[union-attr]
    writer.set_meta("templates_key", templates_key)
    fresh = {row.uid: row.doc for row in rows}
    todo_uids = set(fresh) | affected
    summaries = writer.summaries()
    if rerender_all:
        todo_uids = {s["uid"] for s in summaries}
    counts = writer.counts()
    docs = [(uid, doc) for uid, doc in fresh.items() if uid in todo_uids]
    docs += writer.documents(sorted(todo_uids - set(fresh)))
    for _, doc in docs:
        counts.fill(doc)
    for name, (n_files, n_rules, n_error_files) in writer.folder_summary().items():
        summary.per_folder[name] = FolderSummary(n_files, n_rules, n_error_files)
    summary.problems = writer.problem_count()
    writer.close()
    timer.lap("store")

    # 6. Pages.
    if config.pages:
        gone = set(previous.base_uids) - {s["uid"] for s in summaries} if previous else set()
        _write_pages(out / "site", docs, summaries, gone, jobs, log)
        summary.pages_written = len(docs)
        summary.pages_kept = len(summaries) - len(docs)
    timer.lap("pages")

    summary.rules = len(summaries)
    summary.errors = sum(f.error_files for f in summary.per_folder.values())
    summary.seconds = time.perf_counter() - started
    return summary


def _analyse(
    rule: Rule,
    base_uid: str,
    attack: tuple[AttackData, str] | None,
    telemetry: tuple[TelemetryCatalog, str] | None,
) -> RuleRow:
    if attack is not None:
        coverage = map_tags(rule.tags, attack[0])
        tactics, unknown = coverage.page_attack(), list(coverage.unknown)
    else:
        tactics, unknown = [], []
    if telemetry is not None:
        events = event_coverage(rule, telemetry[0]).to_json()
    else:
        events = {"events": [], "events_note": "no telemetry definitions loaded (build with --telemetry)"}
    doc = rule_document(
        rule,
        rule_indicators(rule),
        attack=tactics,
        attack_unknown=unknown,
        events=events["events"],
        events_note=events["events_note"],
    )
    ls = rule.logsource
    return RuleRow(
        uid=rule.uid,
        base_uid=base_uid,
        vendor=rule.vendor,
        rule_id=rule.id,
        title=rule.title,
        status=rule.status,
        level=rule.level,
        kind=rule.kind.value,
        folder=rule.folder,
        product=ls.get("product", ""),
        category=ls.get("category", ""),
        service=ls.get("service", ""),
        path=rule.source.path,
        doc=doc,
    )


def _problem_rows(parsed: Iterable[tuple[SourceFile, list[Rule], list[Problem]]]) -> list[ProblemRow]:
    rows = []
    for f, rules, problems in parsed:
        rows += [
            ProblemRow(f.vendor, f.rel_path, p.rule_uid, p.line, p.severity, p.message, p.hint)
            for p in problems
        ]
        rows += [
            ProblemRow(f.vendor, f.rel_path, r.uid, p.line, p.severity, p.message, p.hint)
            for r in rules
            for p in r.problems
        ]
    return rows


_worker_renderer: web_render.SiteRenderer | None = None


def _render_batch(site: Path, batch: list[tuple[str, dict[str, Any]]]) -> int:
    global _worker_renderer
    if _worker_renderer is None:
        _worker_renderer = web_render.SiteRenderer()
    for uid, doc in batch:
        target = site / rule_path(uid) / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_worker_renderer.render_rule_page(doc), encoding="utf-8")
    return len(batch)


def _write_pages(
    site: Path,
    docs: list[tuple[str, dict[str, Any]]],
    summaries: list[dict[str, Any]],
    gone: set[str],
    jobs: int,
    log: TextIO,
) -> None:
    site.mkdir(parents=True, exist_ok=True)
    for uid in gone:
        page_dir = site / rule_path(uid)
        if page_dir.is_dir() and page_dir.resolve().is_relative_to(site.resolve()):
            shutil.rmtree(page_dir)
    with Progress("pages", len(docs), log) as bar:
        if jobs <= 1 or len(docs) < 200:
            for i in range(0, len(docs), 100):
                bar.advance(_render_batch(site, docs[i : i + 100]))
        else:
            size = max(25, len(docs) // (jobs * 8))
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [
                    pool.submit(_render_batch, site, docs[i : i + size]) for i in range(0, len(docs), size)
                ]
                for fut in futures:
                    bar.advance(fut.result())
    renderer = web_render.SiteRenderer()
    renderer.write_static(site)
    per_vendor: dict[str, int] = {}
    for s in summaries:
        per_vendor[s["vendor"]] = per_vendor.get(s["vendor"], 0) + 1
    index = renderer.render_index(summaries, {"rules": len(summaries), "per_vendor": per_vendor})
    (site / "index.html").write_text(index, encoding="utf-8")


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
