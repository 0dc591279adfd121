"""Reading rule sources through the source registry (`sources.SOURCES`): list and hash every file, parse one.

Hashing first lets the build parse only the files whose content changed since the last catalog; a rule's
hash covers its companion files (a Panther YAML's Python body), so editing either re-parses the rule.
A reader that cannot be imported, that fails to list its files or that raises on one file is a problem
for that source or that file: the build goes on with the rest.
"""

from __future__ import annotations

import hashlib
import importlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ruleatlas.config import SourceSpec
from ruleatlas.model import Problem, Rule, SourceRef
from ruleatlas.sources import SOURCES, ParseOutput, RuleFile, SourceReader

# The largest rule file read (with its companions): anything bigger is refused unread, so a hostile
# checkout cannot exhaust memory. The largest rule of any corpus is well under 1 MB.
MAX_FILE_BYTES = 4 * 1024 * 1024

# Bumped when this module changes what every reader's output means; each reader has its own version too.
INGEST_VERSION = "ingest-2"


@dataclass(slots=True)
class SourceFile:
    source: str  # the source name (`sigma`, `hayabusa`, `elastic`...)
    vendor: str  # its vendor label
    rel_path: str
    folder: str
    content_hash: str
    text: str | None
    read_error: Problem | None = None
    companions: dict[str, str] = field(default_factory=dict)  # rel_path → text


class ReaderError(Exception):
    """A source's reader module cannot be used: the message names the module and the cause."""


def load_reader(name: str) -> SourceReader:
    """The reader module of a source, checked to implement `SourceReader`."""
    vendor, module_name = SOURCES[name]
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a reader that is missing or broken must not stop the other sources
        raise ReaderError(f"reader {module_name} cannot be imported: {type(exc).__name__}: {exc}") from exc
    missing = [attr for attr in ("list_files", "parse_file") if not callable(getattr(module, attr, None))]
    if missing:
        raise ReaderError(f"reader {module_name} does not implement {', '.join(missing)}")
    if getattr(module, "VENDOR", vendor) != vendor:
        raise ReaderError(f"reader {module_name} says VENDOR={module.VENDOR!r}, the registry says {vendor!r}")
    return cast(SourceReader, module)


def reader_version(name: str) -> str:
    """The reader's PARSER_VERSION (part of the build's inputs key), or why it cannot be loaded."""
    try:
        module = load_reader(name)
    except ReaderError as exc:
        return f"unavailable: {exc}"
    return f"{SOURCES[name][1]}:{getattr(module, 'PARSER_VERSION', '0')}"


def source_problem(spec: SourceSpec, message: str, hint: str = "") -> Problem:
    """A problem with a whole source (no file of it could be read): file "" and the source named."""
    return Problem("", f"source {spec.name} ({spec.path}): {message}", hint=hint)


def list_source_files(spec: SourceSpec) -> tuple[list[SourceFile], list[Problem]]:
    """Every rule file of a source with its content hash (an unusable file carries its problem), and the
    problems of the source itself (its reader cannot be loaded or fails to list)."""
    if not spec.path.is_dir():
        return [], [source_problem(spec, "not a folder")]
    try:
        reader = load_reader(spec.name)
    except ReaderError as exc:
        return [], [source_problem(spec, str(exc), hint="the other sources are built without it")]
    try:
        listed = list(reader.list_files(spec.path))
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return [], [
            source_problem(
                spec,
                f"listing its files failed: {type(exc).__name__}: {exc}",
                hint=f"a reader bug, raised at {Path(where.filename).name}:{where.lineno}",
            )
        ]
    return [_read(spec, f) for f in listed], []


def _read(spec: SourceSpec, rule_file: RuleFile) -> SourceFile:
    def unusable(hash_: str, problem: Problem) -> SourceFile:
        return SourceFile(spec.name, spec.vendor, rule_file.rel_path, rule_file.folder, hash_, None, problem)

    root = spec.path
    try:
        paths = [rule_file.path, *(root / rel for rel in rule_file.companions)]
        size = sum(p.stat().st_size for p in paths)
        if size > MAX_FILE_BYTES:  # refused unread: nothing in it is worth the memory
            return unusable(
                f"size:{size}",
                Problem(
                    rule_file.rel_path,
                    f"file too large ({size} bytes > {MAX_FILE_BYTES})",
                    hint="a rule is a few KB; check that this file is a rule",
                ),
            )
        raws = [p.read_bytes() for p in paths]
    except OSError as exc:
        name = exc.filename if isinstance(exc.filename, str) else rule_file.rel_path
        return unusable(
            "unreadable", Problem(rule_file.rel_path, f"cannot read {name}: {exc.strerror or exc}")
        )
    digest = hashlib.sha256(raws[0])
    for rel, raw in zip(rule_file.companions, raws[1:], strict=True):
        digest.update(b"\0" + rel.encode() + b"\0" + raw)
    texts = [raw.decode("utf-8", errors="surrogateescape") for raw in raws]
    return SourceFile(
        spec.name,
        spec.vendor,
        rule_file.rel_path,
        rule_file.folder,
        digest.hexdigest(),
        texts[0],
        companions=dict(zip(rule_file.companions, texts[1:], strict=True)),
    )


def parse_file(file: SourceFile, repo: str, commit: str) -> ParseOutput:
    """One file's rules and problems; a reader that raises gives one problem naming the file, not a crash."""
    if file.text is None:
        return [], [file.read_error] if file.read_error else []
    try:
        reader = load_reader(file.source)
        rules, problems = reader.parse_file(
            file.text,
            file.rel_path,
            file.folder,
            repo_url=repo,
            commit=commit,
            companions=file.companions,
        )
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return [], [
            Problem(
                file.rel_path,
                f"the {file.source} reader failed on this file: {type(exc).__name__}: {exc}",
                hint=f"a reader bug, raised at {Path(where.filename).name}:{where.lineno}; file skipped",
            )
        ]
    for rule in rules:
        rule.content_hash = file.content_hash
    return rules, problems


def stand_in(vendor: str, base_uid: str, rel_path: str, folder: str, source: str) -> Rule:
    """A placeholder for an unchanged rule, enough for uid assignment across files."""
    return Rule(
        uid=base_uid, vendor=vendor, language=vendor, source=SourceRef(source, rel_path), folder=folder
    )
