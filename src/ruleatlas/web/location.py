"""Where a catalog folder's catalog file and site are, for the server.

The one place that knows the layout, asked on every request: a build that publishes a new generation beside
the old one (and swaps a pointer) changes `locate` only, and the server follows on its next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SITE_DIRNAME = "site"
CATALOG_FILENAME = "catalog.sqlite"


class CatalogUnavailable(Exception):
    """The catalog cannot answer: no catalog file, or no store module to read it."""


@dataclass(slots=True, frozen=True)
class Served:
    catalog: Path  # the SQLite catalog
    site: Path  # the built static site


def locate(catalog_dir: Path) -> Served:
    return Served(catalog_dir / CATALOG_FILENAME, catalog_dir / SITE_DIRNAME)
