"""The files a scan writes, checked against the files it reads, and write failures turned into one message.

A scan runs on evidence: `--output` or `--problems` naming one of the input logs (directly, through a
symlink or a hard link, or inside a scanned folder) would truncate it on open. Files are compared by
identity (device, inode), never by name, and the check runs before anything is opened for writing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

FileId = tuple[int, int]  # (st_dev, st_ino)


class OutputRefused(Exception):
    """A file the scan was asked to write must not be written; the message says why."""


class OutputFailed(Exception):
    """Writing an output failed (full disk, I/O error); `where` names the output, `cause` the OS error."""

    def __init__(self, where: str, cause: OSError) -> None:
        super().__init__(f"cannot write {where}: {cause.strerror or cause}")
        self.where = where
        self.cause = cause


def file_id(path: Path) -> FileId | None:
    """The identity of the file `path` names (symlinks followed), None when there is none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def check_outputs(outputs: Sequence[tuple[str, Path | None]], inputs: Iterable[Path]) -> None:
    """Raise OutputRefused when an output is a folder, one of `inputs`, or the same file as another output.

    `outputs` are (option name, path); `inputs` the log files the scan will read (folders expanded)."""
    named = [(option, path) for option, path in outputs if path is not None]
    if not named:
        return
    existing: dict[FileId, tuple[str, Path]] = {}
    for option, path in named:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue  # created by the scan: it cannot be an input yet
        except OSError as exc:
            raise OutputRefused(f"{option} {path}: {exc.strerror or exc}") from exc
        if stat.S_ISDIR(info.st_mode):
            raise OutputRefused(f"{option} {path} is a folder; name a file to write")
        key = (info.st_dev, info.st_ino)
        if key in existing:
            other, _ = existing[key]
            raise OutputRefused(f"{option} {path} is the same file as {other}; name two different files")
        if stat.S_ISREG(info.st_mode):  # /dev/stdout, a pipe or a terminal cannot be a log we read
            existing[key] = (option, path)
    if not existing:
        return
    for log in inputs:
        found = file_id(log)
        if found is not None and found in existing:
            option, path = existing[found]
            same = "" if Path(log) == path else f" (as {log})"
            raise OutputRefused(
                f"{option} {path} is one of the logs to scan{same}: refusing to overwrite it; "
                "write the output somewhere else"
            )


class GuardedStream:
    """A text stream whose write errors become OutputFailed naming the output (a full disk, an I/O error).

    A closed pipe (`| head`) stays BrokenPipeError: the caller ends quietly."""

    __slots__ = ("_stream", "_where")

    def __init__(self, stream: TextIO, where: str) -> None:
        self._stream = stream
        self._where = where

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(self._where, exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(self._where, exc) from exc

    def isatty(self) -> bool:
        return self._stream.isatty()
