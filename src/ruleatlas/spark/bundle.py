"""Rules shipped to Spark executors: the rule files packed in one archive, named by its content.

The driver packs the `--rules` paths (files and folders, as given) into a tar.gz whose name carries a
digest of its content, and adds it to the job (`SparkContext.addFile`): Spark's file server hands it to
every executor. A Python worker unpacks it once into its executor's SparkFiles folder, then reads and
compiles the rules once (worker.py). Rule identity does not depend on the archive: uids come from file
names, which are kept, and every path keeps its own folder name (SigmaHQ's `rules/` stays `rules/`).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ruleatlas.engine.scan_rules import Selection
from ruleatlas.sources.sigma import list_sigma_files


@dataclass(slots=True, frozen=True)
class RuleBundle:
    """What a worker needs to find and compile the rules (small: pickled into every task)."""

    archive: str  # file name under SparkFiles
    entries: tuple[str, ...]  # the packed paths, relative to the unpacked folder, in --rules order
    digest: str
    routing: bool = True
    prefilter: bool = True
    correlations: bool = True  # False: single-event rules only, every match reported (streaming)
    selection: Selection = field(default_factory=Selection)  # which rules run and report (scan_rules)
    placeholders: dict[str, list[str]] = field(default_factory=dict)  # %name% values (expand)


def bundle_for(
    paths: Sequence[Path],
    folder: Path,
    *,
    routing: bool = True,
    prefilter: bool = True,
    correlations: bool = True,
    selection: Selection | None = None,
    placeholders: dict[str, list[str]] | None = None,
) -> tuple[RuleBundle, Path]:
    """Write the archive of `paths` into `folder`: the bundle naming it, and the archive's path."""
    data, entries, digest = _archive(paths)
    target = folder / f"ruleatlas-rules-{digest}.tar.gz"
    target.write_bytes(data)
    bundle = RuleBundle(
        target.name,
        entries,
        digest,
        routing,
        prefilter,
        correlations,
        selection or Selection(),
        dict(placeholders or {}),
    )
    return bundle, target


def _archive(paths: Sequence[Path]) -> tuple[bytes, tuple[str, ...], str]:
    buffer = io.BytesIO()
    entries: list[str] = []
    # mtime 0 and sorted members: the same rules give the same bytes, hence the same digest
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for number, path in enumerate(paths):
            entry = f"{number}/{path.name or 'rules'}"
            entries.append(entry)
            if path.is_dir():  # the files load_rules reads there, nothing else
                for file, relative, _folder in list_sigma_files(path):
                    _add(tar, file, f"{entry}/{relative}")
            elif path.is_file():
                _add(tar, path, entry)
            # a missing path is packed as nothing: the driver reports it (load_rules) before any job runs
    data = buffer.getvalue()
    return data, tuple(entries), hashlib.sha256(data).hexdigest()[:16]


def _add(tar: tarfile.TarFile, file: Path, name: str) -> None:
    data = file.read_bytes()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def unpack(archive: Path, into: Path) -> Path:
    """Unpack once per executor: into a temporary folder renamed into place, so that Python workers
    unpacking at the same time never see half a folder."""
    target = into / archive.name.removesuffix(".tar.gz")
    if target.is_dir():
        return target
    scratch = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=into))
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(scratch, filter="data")
    try:
        os.rename(scratch, target)
    except OSError:  # another worker was first: its folder has the same content
        _remove(scratch)
    return target


def _remove(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    folder.rmdir()
