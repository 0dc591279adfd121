"""Reading rule sources: list and hash every file, and parse one.

Hashing first lets the build parse only the files whose content changed since the last catalog.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ruleatlas.config import SourceSpec
from ruleatlas.model import Problem, Rule, SourceRef
from ruleatlas.sources import sigma
from ruleatlas.sources.yaml_load import MAX_FILE_BYTES

# Bump when the parser's output changes shape or meaning: a catalog built by another version is rebuilt whole.
PARSER_VERSION = "sigma-1"
READERS = {"sigma": sigma}

ParseOutput = tuple[list[Rule], list[Problem]]


@dataclass(slots=True)
class SourceFile:
    vendor: str
    rel_path: str
    folder: str
    content_hash: str
    text: str | None
    read_error: Problem | None = None


def list_source_files(spec: SourceSpec) -> list[SourceFile]:
    """Every rule file of a source with its content hash; an unusable file carries its problem."""
    reader = READERS.get(spec.vendor)
    if reader is None:
        raise ValueError(
            f"--source {spec.vendor}=...: no reader for vendor {spec.vendor!r} (known: {', '.join(READERS)})"
        )
    if not spec.path.is_dir():
        raise FileNotFoundError(f"--source {spec.vendor}={spec.path}: not a folder")
    out = []
    for path, rel_path, folder in reader.list_sigma_files(spec.path):
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:  # refused unread: nothing in it is worth the memory
                problem = sigma.too_large_problem(rel_path, size)
                out.append(SourceFile(spec.vendor, rel_path, folder, f"size:{size}", None, problem))
                continue
            raw = path.read_bytes()
        except OSError as exc:
            problem = Problem(rel_path, f"cannot read file: {exc.strerror or exc}")
            out.append(SourceFile(spec.vendor, rel_path, folder, "unreadable", None, problem))
            continue
        digest = hashlib.sha256(raw).hexdigest()
        out.append(
            SourceFile(spec.vendor, rel_path, folder, digest, raw.decode("utf-8", errors="surrogateescape"))
        )
    return out


def parse_file(file: SourceFile, repo: str, commit: str) -> ParseOutput:
    if file.text is None:
        return [], [file.read_error] if file.read_error else []
    rules, problems = sigma.parse_sigma_file(
        file.text, file.rel_path, file.folder, vendor=file.vendor, repo_url=repo, commit=commit
    )
    for rule in rules:
        rule.content_hash = file.content_hash
    return rules, problems


def stand_in(vendor: str, base_uid: str, rel_path: str, folder: str) -> Rule:
    """A placeholder for an unchanged rule, enough for uid assignment across files."""
    return Rule(uid=base_uid, vendor=vendor, language=vendor, source=SourceRef("", rel_path), folder=folder)
