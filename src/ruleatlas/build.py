"""`ruleatlas build`: sources → IR → analysis → catalog file → static pages.

Two things keep it fast: parse results are cached by file content (ingest.py), and a page is rendered
again only when its document or the templates changed (its `page_key`). Cold work runs on every core.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from ruleatlas import __version__
from ruleatlas.analysis.document import rule_document
from ruleatlas.analysis.indicators import RuleIndicators, count_corpus, rule_indicators
from ruleatlas.attack import AttackData, load_attack, map_tags
from ruleatlas.config import BuildConfig, default_jobs, describe_source
from ruleatlas.ingest import ParseCache, read_source
from ruleatlas.model import Problem, Rule
from ruleatlas.progress import Progress
from ruleatlas.store import CATALOG_FILE, Catalog, CatalogWriter, ProblemRow, RuleRow, SourceRow
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
    files: int = 0
    rules: int = 0
    errors: int = 0
    problems: int = 0
    per_folder: dict[str, FolderSummary] = field(default_factory=dict)
    pages_written: int = 0
    pages_kept: int = 0
    parse_cache_hits: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rules": self.rules,
            "errors": self.errors,
            "problems": self.problems,
            "per_folder": {k: vars_of(v) for k, v in self.per_folder.items()},
            "pages_written": self.pages_written,
            "pages_kept": self.pages_kept,
            "parse_cache_hits": self.parse_cache_hits,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def vars_of(obj: FolderSummary) -> dict[str, int]:
    return {"files": obj.files, "rules": obj.rules, "error_files": obj.error_files}


class _Timer:
    def __init__(self, summary: BuildSummary) -> None:
        self.summary = summary
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.summary.timings[name] = now - self.last
        self.last = now


def _fingerprint(path: Path) -> str:
    """Cheap identity of a file or folder tree: names, sizes and modification times."""
    digest = hashlib.sha256(str(path.resolve()).encode())
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        st = p.stat()
        digest.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cached(cache_dir: Path, name: str, source: Path, load: Callable[[], T], dump: Callable[[T], Any],
            undump: Callable[[Any], T]) -> T:
    """Load `source` through `load`, or from a JSON cache when the source has not changed since."""
    key = _fingerprint(source) + __version__
    cache_file = cache_dir / f"{name}.json"
    if cache_file.is_file():
        try:
            stored = json.loads(cache_file.read_text(encoding="utf-8"))
            if stored.get("key") == key:
                return undump(stored["data"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt below
    value = load()
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps({"key": key, "data": dump(value)}), encoding="utf-8")
    return value


def _attack_json(coverage: Any) -> tuple[list[dict[str, Any]], list[str]]:
    tactics = [
        {
            "tactic": t.tactic,
            "tactic_id": t.tactic_id,
            "shortname": t.shortname,
            "techniques": [
                {"id": x.id, "name": x.name, "revoked": x.revoked, "deprecated": x.deprecated,
                 "replaced_by": x.replaced_by}
                for x in t.techniques
            ],
        }
        for t in coverage.tactics
    ]
    return tactics, list(coverage.unknown)


def _events_json(coverage: Any) -> tuple[list[dict[str, Any]], str]:
    events = [
        {"provider": e.provider, "provider_name": e.provider_name, "channel": e.channel,
         "event_id": e.event_id, "title": e.title}
        for e in coverage.events
    ]
    return events, coverage.note


def _page_key(doc: dict[str, Any], templates_key: str) -> str:
    payload = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(templates_key.encode() + payload).hexdigest()


def build(config: BuildConfig, *, log: TextIO | None = None) -> BuildSummary:
    log = log if log is not None else sys.stderr
    started = time.perf_counter()
    summary = BuildSummary()
    timer = _Timer(summary)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = out / "cache"
    jobs = config.jobs or default_jobs()
    if not config.sources:
        raise ValueError("no rule sources: pass --source VENDOR=PATH, set RULEATLAS_SHARED, or run `ruleatlas fetch`")

    # 1. Sources → IR.
    cache = ParseCache.load(cache_dir / "parse.pickle")
    rules: list[Rule] = []
    file_problems: list[tuple[str, Problem]] = []
    source_rows: list[SourceRow] = []
    file_rows: list[tuple[str, str, str, int, int]] = []
    for raw_spec in config.sources:
        spec = describe_source(raw_spec)
        with Progress(f"read {spec.vendor}", 0, log) as bar:
            read = read_source(spec, cache, jobs=jobs, progress=bar)
        result = read.result
        rules.extend(result.rules)
        file_problems.extend((spec.vendor, p) for p in result.errors)
        rules_per_file = Counter(r.source.path for r in result.rules)
        errors_per_file = Counter(p.file for p in result.errors)
        for rel_path, folder in read.files:
            n_rules = rules_per_file.get(rel_path, 0)
            file_rows.append((spec.vendor, rel_path, folder, n_rules, errors_per_file.get(rel_path, 0)))
            folder_summary = summary.per_folder.setdefault(f"{spec.vendor}/{folder}", FolderSummary())
            folder_summary.files += 1
            folder_summary.rules += n_rules
            folder_summary.error_files += n_rules == 0
        error_files = sum(1 for _, _, _, n, _ in file_rows[-len(read.files):] if n == 0) if read.files else 0
        source_rows.append(SourceRow(spec.vendor, str(spec.path), spec.repo, spec.commit, result.files,
                                     len(result.rules), error_files))
        summary.files += result.files
    summary.parse_cache_hits = cache.hits
    cache.save()
    timer.lap("parse")

    # 2. ATT&CK and telemetry: slow to read from their raw form, so cached as JSON by input fingerprint.
    attack: AttackData | None = None
    if config.attack is not None:
        attack = _cached(cache_dir, "attack", config.attack, lambda: load_attack(config.attack),  # type: ignore[arg-type]
                         lambda a: a.to_json(), AttackData.from_json)
    telemetry: TelemetryCatalog | None = None
    if config.telemetry is not None:
        sigma_dir = next((s.path for s in config.sources if s.vendor == "sigma"), None)
        telemetry = _cached(cache_dir, "telemetry", config.telemetry,
                            lambda: load_telemetry(config.telemetry, sigma_dir),  # type: ignore[arg-type]
                            lambda t: t.to_json(), TelemetryCatalog.from_json)
    timer.lap("attack+telemetry")

    # 3. Analysis: indicators, corpus counts, ATT&CK names, event coverage → one document per rule.
    indicators: dict[str, RuleIndicators] = {r.uid: rule_indicators(r) for r in rules}
    counts = count_corpus((r, indicators[r.uid]) for r in rules)
    documents: list[dict[str, Any]] = []
    for rule in rules:
        if attack is not None:
            tactics, unknown = _attack_json(map_tags(rule.tags, attack))
        else:
            tactics, unknown = [], []
        if telemetry is not None:
            events, events_note = _events_json(event_coverage(rule, telemetry))
        else:
            events, events_note = [], "no telemetry definitions loaded (build with --telemetry)"
        documents.append(rule_document(rule, indicators[rule.uid], counts, attack=tactics, attack_unknown=unknown,
                                       events=events, events_note=events_note))
    timer.lap("analysis")

    # 4. The catalog file.
    templates_key = web_render.templates_fingerprint()
    old_keys = _old_page_keys(out / CATALOG_FILE)
    rows = [_rule_row(rule, doc, _page_key(doc, templates_key)) for rule, doc in zip(rules, documents, strict=True)]
    writer = CatalogWriter(out / CATALOG_FILE)
    writer.set_meta("built_at", datetime.now(UTC).isoformat(timespec="seconds"))
    writer.set_meta("ruleatlas_version", __version__)
    if attack is not None:
        writer.set_meta("attack_version", attack.version)
        writer.set_blob("attack", attack.to_json())
    if telemetry is not None:
        writer.set_blob("telemetry", telemetry.to_json())
    for row in source_rows:
        writer.add_source(row)
    writer.add_files(file_rows)
    writer.add_rules(rows)
    problem_rows = [
        ProblemRow(vendor, p.file, p.rule_uid, p.line, p.severity, p.message, p.hint) for vendor, p in file_problems
    ] + [
        ProblemRow(r.vendor, r.source.path, r.uid, p.line, p.severity, p.message, p.hint)
        for r in rules for p in r.problems
    ]
    writer.add_problems(problem_rows)
    writer.close()
    timer.lap("store")

    # 5. Pages.
    if config.pages:
        _write_pages(out / "site", rows, old_keys, jobs, summary, log)
    timer.lap("pages")

    summary.rules = len(rules)
    summary.errors = sum(f.error_files for f in summary.per_folder.values())
    summary.problems = len(problem_rows)
    summary.seconds = time.perf_counter() - started
    return summary


def _old_page_keys(catalog_path: Path) -> dict[str, str]:
    if not catalog_path.is_file():
        return {}
    try:
        catalog = Catalog(catalog_path)
    except Exception:
        return {}
    try:
        return catalog.page_keys()
    except Exception:  # an older or damaged catalog: render every page again
        return {}
    finally:
        catalog.close()


def _rule_row(rule: Rule, doc: dict[str, Any], page_key: str) -> RuleRow:
    ls = rule.logsource
    return RuleRow(
        uid=rule.uid, vendor=rule.vendor, rule_id=rule.id, title=rule.title, status=rule.status, level=rule.level,
        kind=rule.kind.value, folder=rule.folder, product=ls.get("product", ""), category=ls.get("category", ""),
        service=ls.get("service", ""), path=rule.source.path, page_key=page_key, doc=doc,
    )


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


def _write_pages(site: Path, rows: list[RuleRow], old_keys: dict[str, str], jobs: int, summary: BuildSummary,
                 log: TextIO) -> None:
    site.mkdir(parents=True, exist_ok=True)
    todo = [
        (r.uid, r.doc) for r in rows
        if old_keys.get(r.uid) != r.page_key or not (site / rule_path(r.uid) / "index.html").is_file()
    ]
    _remove_stale_pages(site, {r.uid for r in rows}, set(old_keys))
    with Progress("pages", len(todo), log) as bar:
        if jobs <= 1 or len(todo) < 200:
            for i in range(0, len(todo), 100):
                bar.advance(_render_batch(site, todo[i : i + 100]))
        else:
            size = max(25, len(todo) // (jobs * 8))
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(_render_batch, site, todo[i : i + size]) for i in range(0, len(todo), size)]
                for fut in futures:
                    bar.advance(fut.result())
    summary.pages_written = len(todo)
    summary.pages_kept = len(rows) - len(todo)
    renderer = web_render.SiteRenderer()
    renderer.write_static(site)
    by_vendor: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        by_vendor[r.vendor] += 1
    summaries = [
        {"uid": r.uid, "vendor": r.vendor, "title": r.title, "status": r.status, "level": r.level, "kind": r.kind,
         "folder": r.folder, "product": r.product, "category": r.category, "service": r.service}
        for r in rows
    ]
    (site / "index.html").write_text(
        renderer.render_index(summaries, {"rules": len(rows), "per_vendor": dict(by_vendor)}), encoding="utf-8"
    )


def _remove_stale_pages(site: Path, current: set[str], previous: set[str]) -> None:
    for uid in previous - current:
        page_dir = site / rule_path(uid)
        if page_dir.is_dir() and page_dir.resolve().is_relative_to(site.resolve()):
            shutil.rmtree(page_dir)


def print_summary(summary: BuildSummary, stream: TextIO) -> None:
    stream.write(
        f"built {summary.rules} rules from {summary.files} files ({summary.errors} files with errors, "
        f"{summary.problems} problems) in {summary.seconds:.1f}s; "
        f"pages: {summary.pages_written} written, {summary.pages_kept} unchanged\n"
    )
    width = max((len(k) for k in summary.per_folder), default=6)
    stream.write(f"  {'folder':<{width}}  {'files':>6}  {'rules':>6}  {'errors':>6}\n")
    for name, f in sorted(summary.per_folder.items()):
        stream.write(f"  {name:<{width}}  {f.files:>6}  {f.rules:>6}  {f.error_files:>6}\n")
