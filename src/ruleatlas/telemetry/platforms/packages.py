"""Where a platform loader finds its package's data: installed packages, read as files, never imported.

Importing botocore, googleapiclient or kubernetes would pull in their whole runtimes (HTTP clients, auth);
the catalogs need only the data files they ship, so the loaders locate the package folder and read those.
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from pathlib import Path


def package_dir(module: str) -> Path | None:
    """The folder of installed package `module` (without importing it), or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def package_label(distribution: str) -> str:
    """`"botocore 1.44.18"`, as pages show a catalog's source."""
    version = package_version(distribution)
    return f"{distribution} {version}" if version else distribution


_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s")
SUMMARY_CHARS = 160


def summary(text: str) -> str:
    """The first sentence of a package's description, whitespace collapsed, at most SUMMARY_CHARS: the
    full texts would make the catalog several times larger for what a page lists once."""
    plain = " ".join(text.split())
    plain = _SENTENCE_END.split(plain, maxsplit=1)[0]
    return plain if len(plain) <= SUMMARY_CHARS else plain[: SUMMARY_CHARS - 1] + "…"
