"""Reading rule sources into the IR, with a parse cache keyed by file content.

Parsing is the slowest part of a build, and a rebuild usually changes a handful of files: each file's
parse result is cached under the hash of (parser version, vendor, path, repo, commit, text), and new
files are parsed on all cores.
"""

from __future__ import annotations

import hashlib
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ruleatlas.config import SourceSpec
from ruleatlas.model import Problem, Rule, SourceResult
from ruleatlas.progress import Progress
from ruleatlas.sources import sigma

# Bump when the parser's output changes shape or meaning, so old cache entries are not reused.
PARSER_VERSION = "sigma-1"

ParseOutput = tuple[list[Rule], list[Problem]]


@dataclass(slots=True)
class ParseCache:
    path: Path | None
    entries: dict[str, ParseOutput] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    hits: int = 0

    @classmethod
    def load(cls, path: Path | None) -> ParseCache:
        if path is None or not path.is_file():
            return cls(path)
        try:
            with path.open("rb") as fh:
                entries = pickle.load(fh)
        except Exception:  # a stale or damaged cache only costs a full parse
            entries = {}
        return cls(path, entries if isinstance(entries, dict) else {})

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({k: v for k, v in self.entries.items() if k in self.used}, fh, pickle.HIGHEST_PROTOCOL)
        tmp.replace(self.path)


@dataclass(slots=True)
class SourceFiles:
    """A source's rules and errors, plus every file read with its folder (for per-file accounting)."""

    result: SourceResult
    files: list[tuple[str, str]]


@dataclass(slots=True)
class _Job:
    key: str
    text: str
    rel_path: str
    folder: str


def _parse_job(job: _Job, vendor: str, repo: str, commit: str) -> tuple[str, ParseOutput]:
    return job.key, sigma.parse_sigma_file(job.text, job.rel_path, job.folder, vendor=vendor, repo_url=repo, commit=commit)


def _parse_batch(jobs: list[_Job], vendor: str, repo: str, commit: str) -> list[tuple[str, ParseOutput]]:
    return [_parse_job(j, vendor, repo, commit) for j in jobs]


def read_source(
    spec: SourceSpec,
    cache: ParseCache,
    *,
    jobs: int = 1,
    progress: Progress | None = None,
) -> SourceFiles:
    if spec.vendor != "sigma":
        raise ValueError(f"--source {spec.vendor}=...: no reader for vendor {spec.vendor!r} (known: sigma)")
    if not spec.path.is_dir():
        raise FileNotFoundError(f"--source {spec.vendor}={spec.path}: not a folder")

    result = SourceResult()
    pending: list[_Job] = []
    order: list[tuple[str, str]] = []
    listed: list[tuple[str, str]] = []
    files = sigma.list_sigma_files(spec.path)
    if progress is not None:
        progress.set_total(len(files))
    for path, rel_path, folder in files:
        result.files += 1
        listed.append((rel_path, folder))
        result.files_per_folder[folder] = result.files_per_folder.get(folder, 0) + 1
        try:
            raw = path.read_bytes()
        except OSError as exc:
            result.errors.append(Problem(file=rel_path, message=f"cannot read file: {exc.strerror or exc}"))
            continue
        text = raw.decode("utf-8", errors="surrogateescape")
        key = hashlib.sha256(
            "\0".join((PARSER_VERSION, spec.vendor, rel_path, folder, spec.repo, spec.commit)).encode() + b"\0" + raw
        ).hexdigest()
        order.append((key, rel_path))
        if key in cache.entries:
            cache.hits += 1
            if progress:
                progress.advance()
        else:
            pending.append(_Job(key, text, rel_path, folder))

    for key, output in _run_jobs(pending, spec, jobs, progress):
        cache.entries[key] = output

    for key, _rel_path in order:
        cache.used.add(key)
        rules, problems = cache.entries[key]
        result.rules.extend(rules)
        result.errors.extend(problems)
    sigma.assign_unique_uids(result.rules)
    return SourceFiles(result, listed)


def _run_jobs(
    pending: list[_Job], spec: SourceSpec, jobs: int, progress: Progress | None
) -> list[tuple[str, ParseOutput]]:
    if jobs <= 1 or len(pending) < 200:
        out = []
        for job in pending:
            out.append(_parse_job(job, spec.vendor, spec.repo, spec.commit))
            if progress:
                progress.advance()
        return out
    # Batches amortise process hand-off; many more batches than workers keeps both cores busy to the end.
    size = max(20, len(pending) // (jobs * 8))
    batches = [pending[i : i + size] for i in range(0, len(pending), size)]
    out = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_parse_batch, b, spec.vendor, spec.repo, spec.commit) for b in batches]
        for fut, batch in zip(futures, batches, strict=True):
            out.extend(fut.result())
            if progress:
                progress.advance(len(batch))
    return out
