"""Reading rule sources through the source registry (`sources.SOURCES`): list and hash every file, parse one.

Hashing first lets the build parse only the files whose content changed since the last catalog; a rule's
hash covers its companion files (a Panther YAML's Python body), so editing either re-parses the rule.
A file whose stat (size, modification time, inode: its own and its companions') is the one the previous
listing recorded keeps that listing's hash unread (`ListingCache`, as git's index does), and is read only
if it must be parsed; files modified within `RACY_SECONDS` of a listing are never recorded, since a change
in the same clock tick would not show in their stat. When no file under the source's folder moved at all
(`tree_signature`: every path and stat, hidden entries aside, as the readers skip them), the recorded
listing is the listing: the reader is not asked (Splunk's reads every detection to find its macros).
A reader that cannot be imported, that fails to list its files or that raises on one file is a problem
for that source or that file: the build goes on with the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ruleatlas.config import SourceSpec
from ruleatlas.model import Problem, Rule, SourceRef
from ruleatlas.output import atomic
from ruleatlas.sources import SOURCES, ParseOutput, RuleFile, SourceReader

# The largest rule file read (with its companions): anything bigger is refused unread, so a hostile
# checkout cannot exhaust memory. The largest rule of any corpus is well under 1 MB.
MAX_FILE_BYTES = 4 * 1024 * 1024

# Bumped when this module changes what every reader's output means; each reader has its own version too.
INGEST_VERSION = "ingest-2"
LISTING_FORMAT = "ruleatlas-listing/2"
RACY_SECONDS = 2.0

# Per path of a rule file (the file, then its companions): size, modification time (ns), inode.
StatKey = tuple[tuple[int, int, int], ...]


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
    # Listed from the stat cache: `text` and `companions` not read yet (`read_deferred` reads them).
    deferred: bool = False
    companion_paths: tuple[str, ...] = ()
    stat: StatKey = ()  # what the listing cache records for the file; () when it must not be recorded


@dataclass(slots=True)
class ListingCache:
    """The hashes of a source's previous listing, by rel_path: (companions, stat, hash); each file's folder;
    and the tree signature it was listed at ("" when some file was not recorded: the reader lists again)."""

    entries: dict[str, tuple[tuple[str, ...], StatKey, str]] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)
    signature: str = ""

    @staticmethod
    def path(cache_dir: Path, spec: SourceSpec) -> Path:
        return cache_dir / f"listing-{spec.name}.json"

    @classmethod
    def read(cls, cache_dir: Path, spec: SourceSpec) -> ListingCache:
        """The recorded listing, or an empty one when there is none, it is of another folder or format,
        or it cannot be read (then every file is read and hashed)."""
        try:
            data = json.loads(cls.path(cache_dir, spec).read_text(encoding="utf-8"))
            if data.get("format") != LISTING_FORMAT or data.get("root") != str(spec.path.resolve()):
                return cls()
            entries = data["entries"]
            return cls(
                {
                    rel: (tuple(companions), tuple((int(a), int(b), int(c)) for a, b, c in stat), str(hash_))
                    for rel, (companions, stat, hash_, _folder) in entries.items()
                },
                {rel: str(entry[3]) for rel, entry in entries.items()},
                str(data.get("signature", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    @staticmethod
    def entries_of(files: list[SourceFile]) -> dict[str, tuple[tuple[str, ...], StatKey, str]]:
        """What `write` records of `files`, in the form `read` gives back."""
        return {f.rel_path: (f.companion_paths, f.stat, f.content_hash) for f in files if f.stat}

    @staticmethod
    def write(cache_dir: Path, spec: SourceSpec, files: list[SourceFile], signature: str = "") -> None:
        """Record `files` (in their order); `signature` only when every one of them is recorded."""
        entries = {
            f.rel_path: [list(f.companion_paths), [list(s) for s in f.stat], f.content_hash, f.folder]
            for f in files
            if f.stat
        }
        complete = len(entries) == len(files)
        data = {
            "format": LISTING_FORMAT,
            "root": str(spec.path.resolve()),
            "signature": signature if complete else "",
            "entries": entries,
        }
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(ListingCache.path(cache_dir, spec), json.dumps(data, separators=(",", ":")))


def tree_signature(spec: SourceSpec) -> str:
    """A hash of every path under the source's folder with its stat (size, mtime_ns, inode), hidden entries
    skipped, and of its reader's version; "" when some file was modified within RACY_SECONDS (a change in
    the same clock tick would not show) or the folder cannot be walked."""
    digest = hashlib.sha256(f"{INGEST_VERSION}\0{reader_version(spec.name)}\n".encode())
    racy_from = time.time_ns() - int(RACY_SECONDS * 1e9)
    stack = [os.fspath(spec.path)]
    try:
        while stack:
            folder = stack.pop()
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                st = entry.stat()  # a link's target: what a reader reads
                if st.st_mtime_ns >= racy_from:
                    return ""
                digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
    except OSError:
        return ""
    return digest.hexdigest()


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


def prepare_reader(name: str) -> None:
    """Import the source's reader and build the parsers its modules declare, in this process, so worker
    processes forked after it share them. A reader or grammar that fails here is left to fail again where
    each file is parsed, which reports it as that file's problem."""
    from ruleatlas.sources.grammar import build_declared_parsers  # Lark only where a build parses

    with contextlib.suppress(Exception):  # reported per file by parse_file
        load_reader(name)
        build_declared_parsers()


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


def list_source_files(
    spec: SourceSpec, known: ListingCache | None = None, signature: str = ""
) -> tuple[list[SourceFile], list[Problem]]:
    """Every rule file of a source with its content hash (an unusable file carries its problem), and the
    problems of the source itself (its reader cannot be loaded or fails to list). Files whose stat `known`
    recorded keep its hash, unread (`deferred`); when `signature` (the tree's now, `tree_signature`) is the
    one `known` was listed at, its files are the listing."""
    if not spec.path.is_dir():
        return [], [source_problem(spec, "not a folder")]
    if known is not None and signature and known.signature == signature:
        return [
            SourceFile(
                spec.name,
                spec.vendor,
                rel,
                known.folders[rel],
                hash_,
                None,
                deferred=True,
                companion_paths=companions,
                stat=stat,
            )
            for rel, (companions, stat, hash_) in known.entries.items()
        ], []
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
    racy_from = time.time_ns() - int(RACY_SECONDS * 1e9)
    entries = known.entries if known is not None else {}
    return [_listed(spec, f, entries, racy_from) for f in listed], []


def _stat_key(paths: list[Path]) -> StatKey:
    out = []
    for path in paths:
        st = os.stat(path)
        out.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def _listed(
    spec: SourceSpec,
    rule_file: RuleFile,
    known: Mapping[str, tuple[tuple[str, ...], StatKey, str]],
    racy_from: int,
) -> SourceFile:
    """The file from the listing cache when its stat is the recorded one, else read and hashed."""
    try:
        stat = _stat_key([rule_file.path, *(spec.path / rel for rel in rule_file.companions)])
    except OSError:
        stat = ()
    recorded = known.get(rule_file.rel_path)
    if stat and recorded is not None and recorded[0] == rule_file.companions and recorded[1] == stat:
        return SourceFile(
            spec.name,
            spec.vendor,
            rule_file.rel_path,
            rule_file.folder,
            recorded[2],
            None,
            deferred=True,
            companion_paths=rule_file.companions,
            stat=stat,
        )
    file = _read(spec, rule_file)
    if stat and file.read_error is None and all(mtime < racy_from for _, mtime, _ in stat):
        file.stat = stat
    return file


def read_deferred(spec: SourceSpec, file: SourceFile) -> SourceFile:
    """A file the listing left unread, read now (to be parsed); others as they are."""
    if not file.deferred:
        return file
    rule_file = RuleFile(spec.path / file.rel_path, file.rel_path, file.folder, file.companion_paths)
    return _read(spec, rule_file)


def _read(spec: SourceSpec, rule_file: RuleFile) -> SourceFile:
    def unusable(hash_: str, problem: Problem) -> SourceFile:
        return SourceFile(
            spec.name,
            spec.vendor,
            rule_file.rel_path,
            rule_file.folder,
            hash_,
            None,
            problem,
            companion_paths=rule_file.companions,
        )

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
        companion_paths=rule_file.companions,
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
