"""The catalog store: one SQLite file. This package owns the schema and every SQL statement.

`catalog.py` holds the schema, the writer the build uses and the reader every consumer opens; each area's
read queries (browse and search, telemetry, ATT&CK) live in a module of their own beside it.
"""

from ruleatlas.store.catalog import (
    CATALOG_FILE,
    SCHEMA_VERSION,
    Catalog,
    CatalogWriter,
    CorpusTable,
    ProblemRow,
    SourceRow,
    open_catalog,
)

__all__ = [
    "CATALOG_FILE",
    "SCHEMA_VERSION",
    "Catalog",
    "CatalogWriter",
    "CorpusTable",
    "ProblemRow",
    "SourceRow",
    "open_catalog",
]
