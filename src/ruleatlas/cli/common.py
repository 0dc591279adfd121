"""What every `ruleatlas` command shares: exit codes, the --catalog option, the catalog check, one-line
errors."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from ruleatlas.config import ConfigError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED = 0, 1, 2, 130, 141
DEFAULT_OUT = Path("catalog")


class CatalogUnreadable(Exception):
    """The catalog file exists but is not a readable RuleAtlas catalog (exit 1: an input problem)."""


def add_catalog_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", type=Path, default=DEFAULT_OUT, help="catalog folder (the build's --out)")


def require_catalog(folder: Path) -> None:
    """Refuse at once, with the reason, a folder without a catalog or with a damaged one."""
    from ruleatlas.store import CATALOG_FILE

    path = folder / CATALOG_FILE
    if not path.is_file():
        raise ConfigError(f"no catalog in {folder}: run `ruleatlas build --out {folder}` first")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        rebuild = f"rebuild it with `ruleatlas build --out {folder}`"
        raise CatalogUnreadable(f"{path} is not a readable RuleAtlas catalog ({exc}); {rebuild}") from exc


def os_error(exc: OSError) -> str:
    """One line for an OSError: the file it names and the cause, without Python's decoration."""
    where = exc.filename if exc.filename is not None else ""
    if exc.strerror:
        return f"{where}: {exc.strerror}" if where else exc.strerror
    return str(exc)


def quiet_broken_pipe() -> None:
    """The reader of our output went away (`| head`): point stdout at /dev/null so the interpreter's final
    flush does not complain about the pipe too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
