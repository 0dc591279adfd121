"""Build step 4: the catalog of the new generation — a fresh file, or a patched copy of the current one —
and what the pages step needs to know about what changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ruleatlas import __version__
from ruleatlas.analysis.rows import RuleRow
from ruleatlas.attack import AttackData
from ruleatlas.build.analyse import FileResult, rule_telemetry
from ruleatlas.build.inputs import InputContext, Loaded
from ruleatlas.build.plan import Plan
from ruleatlas.output.base_copy import BaseCopy
from ruleatlas.output.generation import Stage
from ruleatlas.store import CATALOG_FILE, CatalogWriter
from ruleatlas.store import relations as relations_store
from ruleatlas.store import telemetry as telemetry_store
from ruleatlas.store.catalog import RuleListing
from ruleatlas.telemetry import TelemetryCatalog


@dataclass(slots=True)
class Stored:
    """What step 4 wrote into the new generation's catalog, for the pages."""

    summaries: list[RuleListing]
    folders: dict[str, tuple[int, int, int]]
    problems: int
    rows: list[RuleRow]
    affected: set[str]  # rules whose corpus counts changed
    touched_keys: set[Any]  # indicator keys whose pages may change
    touched_events: set[tuple[str, str]]  # events whose telemetry pages change: before and after
    rerender_all: bool
    rerender_telemetry: bool
    samples_key: str
    changed_uids: set[str] | None  # rules deleted or written (an incremental build); None: every rule


def store_catalog(
    stage: Stage,
    plan: Plan,
    results: list[FileResult],
    attack: Loaded[AttackData] | None,
    telemetry: Loaded[TelemetryCatalog] | None,
    context: InputContext,
    base_copy: BaseCopy | None = None,
) -> Stored:
    """The catalog of the new generation: a fresh file, or a patched copy of the current one (`base_copy`:
    that copy, started earlier)."""
    previous, incremental = plan.previous, plan.incremental
    rows = [row for r in results for row in r.rows]
    base = stage.previous / CATALOG_FILE if incremental and stage.previous is not None else None
    writer = CatalogWriter(stage.catalog, base=base, place_base=base_copy.take if base_copy else None)
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
    relations_store.write_forms(writer.db, ((r.uid, r.relation_form) for r in rows))
    touched_events |= telemetry_store.write_rule_events(
        writer.db, rule_telemetry(results), full=not incremental
    )
    writer.add_problems(p for r in results for p in r.problems)
    writer.replace_source_problems(plan.source_problems)
    writer.set_meta("built_at", datetime.now(UTC).isoformat(timespec="seconds"))
    writer.set_meta("ruleatlas_version", __version__)
    writer.set_meta("inputs_key", plan.inputs_key)
    # A patched catalog holds the blobs of the same ATT&CK and telemetry already (they are in inputs_key).
    if attack is not None and not incremental:
        writer.set_meta("attack_version", attack.value.version)
        writer.set_blob("attack", attack.text)
    if telemetry is not None and not incremental:
        writer.set_blob("telemetry", telemetry.text)
    writer.refresh_sources([(s.name, s.vendor, str(s.path), s.repo, s.commit) for s in plan.specs])
    affected = writer.recount(patch=incremental)
    changed = writer.deleted_uids | {r.uid for r in rows} if incremental else None
    # Neighbours, classes and same-action rules over every stored form (when a rule changed): pages whose
    # sections changed are rendered again too.
    if rows or writer.deleted_uids:
        affected |= relations_store.refresh(writer.db, changed).changed
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
    if rerender_telemetry:  # else the copied catalog holds the blob of the same samples already
        samples = context.samples(samples_key)
        writer.set_blob("telemetry_samples", samples if samples is not None else {})
    writer.set_meta("samples_key", samples_key)
    stored = Stored(
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
        changed,
    )
    writer.close()
    return stored
