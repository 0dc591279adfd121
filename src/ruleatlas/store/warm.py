"""What the store keeps per process and file, read at once: a server's parent calls `prime_store_caches`
before it forks its workers (`web/serve.py`), so that each worker starts with these tables instead of
reading them on its first requests, each read holding that worker for tens to hundreds of milliseconds.

- the browse rows and their facet bit sets (`/api/rules`, ~0.6 s of CPU on 13,700 rules);
- the ATT&CK tactic names (`tactic:` searches and filters: a megabyte of JSON);
- every rule's uid, rule id and file stem (a one-word search looks for the rule it names).
"""

from __future__ import annotations

from ruleatlas.store.browse import resolve_tactics
from ruleatlas.store.catalog import Catalog
from ruleatlas.store.facet_index import facet_index


def prime_store_caches(catalog: object) -> None:
    """Read the per-process tables of `catalog` (a test's stand-in reader is left alone)."""
    if not isinstance(catalog, Catalog):
        return
    facet_index(catalog)
    resolve_tactics(catalog, ())
    catalog.rule_identities()
