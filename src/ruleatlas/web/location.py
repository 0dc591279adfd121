"""Where a catalog folder's catalog file and site are, for the server.

Asked on every request: a build publishes a new generation beside the old one and swaps a pointer
(`ruleatlas.output.generation`), and the server follows on its next request, reading the catalog and the
site of one generation together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ruleatlas.output.generation import current_generation

SITE_DIRNAME = "site"
CATALOG_FILENAME = "catalog.sqlite"


class CatalogUnavailable(Exception):
    """The catalog cannot answer: no catalog file, or no store module to read it."""


@dataclass(slots=True, frozen=True)
class Served:
    catalog: Path  # the SQLite catalog
    site: Path  # the built static site


def locate(catalog_dir: Path) -> Served:
    generation = current_generation(catalog_dir)
    return Served(generation / CATALOG_FILENAME, generation / SITE_DIRNAME)
