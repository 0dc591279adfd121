"""Build step 1: list and hash every input file, fingerprint the other inputs, and decide whether the
current catalog can be patched (same parser, ATT&CK, telemetry, sources and set of files) or the build is
full."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ruleatlas import __version__
from ruleatlas.analysis import analysis_fingerprint
from ruleatlas.attack import JSON_FORMAT as ATTACK_FORMAT
from ruleatlas.build.inputs import PreviousCatalog, fingerprint, read_previous
from ruleatlas.config import BuildConfig, SourceSpec, describe_source
from ruleatlas.ingest import (
    INGEST_VERSION,
    ListingCache,
    SourceFile,
    list_source_files,
    read_deferred,
    reader_version,
    tree_signature,
)
from ruleatlas.model import Problem
from ruleatlas.store import SCHEMA_VERSION, ProblemRow
from ruleatlas.store import telemetry as telemetry_store
from ruleatlas.telemetry.platforms import platform_inputs
from ruleatlas.web import render as web_render


@dataclass(slots=True)
class Plan:
    """What the inputs are and whether the current catalog can be patched."""

    specs: list[SourceSpec]
    listing: list[tuple[SourceSpec, list[SourceFile]]]
    keys: dict[str, str]  # input fingerprints: attack, telemetry
    samples_fingerprint: str
    inputs_key: str
    templates_key: str
    previous: PreviousCatalog | None
    incremental: bool
    source_problems: list[ProblemRow]  # sources whose reader could not be used (file "")

    @property
    def files(self) -> int:
        return sum(len(listed) for _, listed in self.listing)

    def changed_files(self) -> list[tuple[SourceSpec, list[SourceFile]]]:
        """Per source, the files to parse, read: all of them, or in an incremental build those whose
        content hash differs from the current catalog's."""
        old = self.previous.files if self.previous is not None else {}
        return [
            (
                spec,
                [
                    read_deferred(spec, f)
                    for f in listed
                    if not self.incremental or old.get((f.source, f.rel_path)) != f.content_hash
                ],
            )
            for spec, listed in self.listing
        ]


def problem_row(source: str, vendor: str, path: str, uid: str | None, p: Problem) -> ProblemRow:
    return ProblemRow(source, vendor, path, uid, p.line, p.severity, p.message, p.hint)


def plan_build(config: BuildConfig, previous_catalog: Path | None, cache_dir: Path) -> Plan:
    """List and hash every file (those whose stat the last listing recorded keep its hash, unread); decide
    whether the previous catalog can be patched."""
    specs = [describe_source(s) for s in config.sources]
    listing = []
    source_problems: list[ProblemRow] = []
    for spec in specs:
        known = ListingCache.read(cache_dir, spec)
        signature = tree_signature(spec)
        files, problems = list_source_files(spec, known, signature)
        # rewritten only when a file or the tree moved: a rebuild of an unchanged source writes nothing
        recorded = signature if all(f.stat for f in files) else ""  # what `write` would record
        if not problems and (ListingCache.entries_of(files) != known.entries or recorded != known.signature):
            ListingCache.write(cache_dir, spec, files, signature)
        listing.append((spec, files))
        source_problems += [problem_row(spec.name, spec.vendor, "", None, p) for p in problems]
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
                analysis_fingerprint(),  # a changed canonicaliser re-analyses every rule
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
    return Plan(
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
