"""A rebuild with nothing to do: no rule file changed, and neither did anything else a build reads (the
plan's inputs key covers the parser, ATT&CK, telemetry and sources; the catalog records the templates, the
samples, the source problems and what the relations pass ran with). The current generation is then what a
build would make again, so it stays published as it is: no generation is prepared, nothing is written."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ruleatlas.build.plan import Plan
from ruleatlas.build.relations import relations_current
from ruleatlas.build.summary import BuildSummary, FolderSummary
from ruleatlas.output.generation import GenerationState
from ruleatlas.store import CATALOG_FILE, ProblemRow
from ruleatlas.store.catalog import folder_summary


def nothing_to_build(
    plan: Plan,
    current: Path | None,
    *,
    pages: bool,
    convert: bool,
    cache_dir: Path,
    roots: Sequence[tuple[str, Path]],
) -> bool:
    """Whether the current generation is what this build would make (module docstring)."""
    previous = plan.previous
    if not plan.incremental or previous is None or current is None:
        return False
    state = GenerationState.read(current)
    if state is None or (pages and not state.pages):
        return False
    meta = previous.meta
    if (
        meta.get("templates_key") != plan.templates_key
        or meta.get("samples_key") != plan.samples_fingerprint + plan.keys["telemetry"]
    ):
        return False
    try:
        db = sqlite3.connect(f"file:{current / CATALOG_FILE}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        stored = [
            ProblemRow(*row)
            for row in db.execute(
                "SELECT source, vendor, file, uid, line, severity, message, hint FROM problems "
                "WHERE file = '' ORDER BY rowid"
            )
        ]
        return stored == list(plan.source_problems) and relations_current(
            db, cache_dir, roots, convert=convert
        )
    except sqlite3.Error:  # an older catalog without the relation tables: built again
        return False
    finally:
        db.close()


def summarise_current(current: Path, summary: BuildSummary, source_problems: int) -> None:
    """Fill `summary` from the current generation's catalog, as the build that made it reported."""
    db = sqlite3.connect(f"file:{current / CATALOG_FILE}?mode=ro", uri=True)
    try:
        for name, (n_files, n_rules, n_error_files) in folder_summary(db).items():
            summary.per_folder[name] = FolderSummary(n_files, n_rules, n_error_files)
        summary.problems = int(db.execute("SELECT COUNT(*) FROM problems").fetchone()[0])
        summary.rules = int(db.execute("SELECT COUNT(*) FROM rules").fetchone()[0])
    finally:
        db.close()
    summary.pages_kept = summary.rules
    summary.errors = sum(f.error_files for f in summary.per_folder.values()) + source_problems
