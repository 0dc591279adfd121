"""Every file a build writes goes through here: written under a temporary name and renamed over the old one,
and noted in the change journal of the generation being built (`output/generation.py`).

Why a rename: a reader (the server, a browser on file://) never sees a half-written or emptied page, a failed
write (a full disk) leaves the previous file whole, and the generations of a catalog folder share unchanged
files as hard links, which only a rename (a new inode) keeps apart: writing in place would change the page
in both generations at once.

Why a journal: the next build brings the other generation up to date by copying what this one changed, and
a journal of the paths written or removed is far cheaper than comparing two trees of 12,000 folders. Forked
page workers inherit the journal's descriptor; each entry is one `O_APPEND` write, so entries from several
processes never interleave.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The open journal: (file descriptor, root prefix with a trailing "/"). Set by `journal()`.
_journal: tuple[int, str] | None = None


class WriteError(OSError):
    """A file could not be written (disk full, permissions): names the file and the cause."""

    def __init__(self, path: str, cause: OSError) -> None:
        super().__init__(cause.errno, f"cannot write {path}: {cause.strerror or cause}")
        self.path = path


def _note(path: str) -> None:
    if _journal is None:
        return
    fd, root = _journal
    if not path.startswith(root):
        path = os.path.abspath(path)
    if path.startswith(root):
        os.write(fd, (path[len(root) :] + "\n").encode("utf-8", "surrogateescape"))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename it into place."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, WriteError):
            raise
        raise WriteError(path, exc) from exc
    _note(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def copy_file(source: str | Path, path: str | Path) -> None:
    """`path` becomes a copy of `source` (a new file, never the old one rewritten)."""
    with open(source, "rb") as fh:
        write_bytes(path, fh.read())


def remove(path: str | Path) -> bool:
    """Remove a file or a folder tree, and note it; False when there was nothing to remove."""
    path = os.fspath(path)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return False
    _note(path)
    return True


@contextmanager
def journal(root: Path, file: Path) -> Iterator[None]:
    """Note every write and removal under `root` in `file` (one path relative to `root` a line)."""
    global _journal
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    previous, _journal = _journal, (fd, os.fspath(root).rstrip("/") + "/")
    try:
        yield
    finally:
        _journal = previous
        os.close(fd)


def read_journal(file: Path) -> set[str] | None:
    """The paths a journal names; None when it cannot be read (the caller then compares whole trees)."""
    try:
        text = file.read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        return None
    return {line for line in text.split("\n") if line}


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
