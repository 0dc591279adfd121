"""`ruleatlas build`: sources → IR → analysis → catalog file → static pages, as a new generation of the
catalog folder published in one step (`output/generation.py`): a build killed at any moment leaves the
previous catalog and site complete and serving, and the next build starts from them.

A build is incremental when it can be: every file is hashed, and when the previous catalog was built from
the same inputs (parser, ATT&CK, telemetry, sources, same set of files), only the changed files are parsed
and analysed, their rows replaced in a copy of the catalog, corpus counts recounted in SQL for the indicator
keys those rules had or have, neighbours, classes and same-action groups recomputed for those rules alone
(`store/relations.refresh`), and only the pages whose document, counts or relations changed rendered
again. Anything else is a full build, on every core.

The steps, one module each: `plan` (list, hash, decide), `analyse` (parse and analyse files), `uids`,
`store` (the catalog file), `relations` (related links, fires-on samples, deploy-as conversions),
`pages`; `inputs` loads and caches ATT&CK, telemetry and samples. When nothing at all changed
(`unchanged`), the current generation stays published and no step after the listing runs.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ruleatlas.build.analyse import FileResult, analyse_files
from ruleatlas.build.inputs import InputContext
from ruleatlas.build.pages import write_pages
from ruleatlas.build.plan import Plan, plan_build
from ruleatlas.build.relations import EarlyRelations, relate, sample_roots, start_relations
from ruleatlas.build.store import store_catalog
from ruleatlas.build.summary import BuildSummary, FolderSummary, StepTimer, print_summary
from ruleatlas.build.uids import assign_uids, reuse_uids
from ruleatlas.build.unchanged import nothing_to_build, summarise_current
from ruleatlas.config import BuildConfig, SourceSpec, default_jobs
from ruleatlas.ingest import SourceFile
from ruleatlas.output import atomic
from ruleatlas.output.base_copy import BaseCopy, remove_stale
from ruleatlas.output.generation import Output
from ruleatlas.progress import Progress
from ruleatlas.store import CATALOG_FILE

__all__ = ["BuildSummary", "FolderSummary", "build", "print_summary"]


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


def _build(config: BuildConfig, output: Output, log: TextIO, force_full: bool) -> BuildSummary:
    started = time.perf_counter()
    summary = BuildSummary()
    timer = StepTimer(summary)
    current = output.current()
    remove_stale(output.generations)  # a killed build's copy of the catalog (output/base_copy.py)
    output.remove_trash()  # and a killed build's old generation, set aside

    # 1. The inputs, and whether the current catalog can be patched.
    previous_catalog = None if force_full or current is None else current / CATALOG_FILE
    plan = plan_build(config, previous_catalog, output.root / "cache")
    summary.mode = "incremental" if plan.incremental else "full"
    summary.files = plan.files
    timer.lap("list")

    # 2. Parse and analyse what changed. ATT&CK and telemetry load only when some file needs them.
    changed = plan.changed_files()
    sigma_checkouts = [(s.name, s.path) for s in plan.specs if s.vendor == "sigma"]
    roots = sample_roots(config.samples, sigma_checkouts)
    if not any(todo for _, todo in changed) and nothing_to_build(
        plan,
        current,
        pages=config.pages,
        convert=config.deploy_as,
        cache_dir=output.root / "cache",
        roots=roots,
    ):
        assert current is not None
        summarise_current(current, summary, len(plan.source_problems))
        summary.unchanged = True
        timer.lap("unchanged")
        summary.seconds = time.perf_counter() - started
        return summary
    # The copy of the current catalog this build will patch runs beside the next steps (output/base_copy.py).
    base_copy = (
        BaseCopy(current / CATALOG_FILE, output.generations)
        if plan.incremental and current is not None
        else None
    )
    try:
        return _patch_or_build(config, output, log, plan, changed, roots, base_copy, summary, timer, started)
    finally:
        if base_copy is not None:
            base_copy.discard()  # nothing when the store step took it


def _patch_or_build(
    config: BuildConfig,
    output: Output,
    log: TextIO,
    plan: Plan,
    changed: list[tuple[SourceSpec, list[SourceFile]]],
    roots: list[tuple[str, Path]],
    base_copy: BaseCopy | None,
    summary: BuildSummary,
    timer: StepTimer,
    started: float,
) -> BuildSummary:
    jobs = config.jobs or default_jobs()
    context = InputContext(config, output.root / "cache", plan.keys)
    attack = telemetry = None
    if not plan.incremental or any(todo for _, todo in changed):
        attack, telemetry = context.attack(), context.telemetry()
    timer.lap("attack+telemetry")
    results: list[FileResult] = []
    for spec, todo in changed:
        with Progress(f"read {spec.name}", len(todo), log) as bar:
            results += analyse_files(
                todo,
                spec,
                attack.value if attack else None,
                telemetry.value if telemetry else None,
                jobs,
                bar,
            )
    summary.files_parsed = len(results)
    timer.lap("parse+analysis")

    # 3. Unique uids across files (each re-parsed file's old ones when its rules are the same); a kept rule
    # whose uid would move means a full build.
    parsed_files = {(r.file.source, r.file.rel_path) for r in results}
    previous = plan.previous if plan.incremental else None
    if previous is None or not reuse_uids(results, previous.base_uids):
        kept = {
            uid: info
            for uid, info in (previous.base_uids.items() if previous is not None else ())
            if (info[4], info[2]) not in parsed_files
        }
        if not assign_uids(results, kept):
            return _build(config, output, log, force_full=True)
    timer.lap("uids")

    # 4. The generation readers are not using: empty for a full build, else brought level with the current.
    stage = output.begin(fresh=not plan.incremental)
    if stage.discarded_unfinished:
        log.write(f"ruleatlas build: an earlier build of {output.root} did not finish; redoing its work\n")
    timer.lap("generation")
    # Deploy-as conversions and the fires-on scan need only the Sigma rules' texts: they start on the
    # workers now and run while this process stores the catalog (the relations pass collects them).
    rows = (row for r in results for row in r.rows)
    early = start_relations(rows, output.root / "cache", roots, jobs, convert=config.deploy_as)
    with atomic.journal(stage.path, stage.journal), _closing(early):
        stored = store_catalog(stage, plan, results, attack, telemetry, context, base_copy)
        summary.problems = stored.problems
        for name, (n_files, n_rules, n_error_files) in stored.folders.items():
            summary.per_folder[name] = FolderSummary(n_files, n_rules, n_error_files)
        timer.lap("store")
        # Related links, fires-on samples, deploy-as conversions: they need every stored rule.
        relations = relate(
            stage.catalog,
            output.root / "cache",
            roots,
            jobs=jobs,
            convert=config.deploy_as,
            changed=stored.changed_uids,
            early=early,
        )
        stored.affected |= relations.changed
        summary.relations = relations.counts()
        timer.lap("relations")
        if config.pages:
            write_pages(stage, plan, stored, context, output.root, jobs, log, summary)
        timer.lap("pages")

    # 5. Publish: one rename, after which readers see the new catalog and pages together.
    output.commit(stage, pages=config.pages)
    timer.lap("publish")
    # After a full build, the idle generation is made level with it now (readers already see the new one):
    # the next rebuild then starts from a change journal instead of mirroring the whole site.
    output.level_idle(stage)
    timer.lap("level idle")
    summary.rules = len(stored.summaries)
    # A source whose reader could not be used counts as an error too (exit code 1), as a file that gave none.
    summary.errors = sum(f.error_files for f in summary.per_folder.values()) + len(plan.source_problems)
    summary.seconds = time.perf_counter() - started
    return summary


@contextlib.contextmanager
def _closing(early: EarlyRelations | None) -> Iterator[None]:
    """Stop the early relations' workers however the block ends (collected, they are stopped already)."""
    try:
        yield
    finally:
        if early is not None:
            early.close()
