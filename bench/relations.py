"""Relations speed (issue 14 §1–§3): neighbours, equivalence classes and same-action groups over a whole
catalog, in CPU seconds. Builds every source of ../shared into a temporary catalog without pages (or reads
`--catalog DIR`, a catalog built already), then times the relation pass alone on the stored forms: loading
them, `relate` (the index and the implication checks) and the store's full refresh (tables and digests).
Prints figures; asserts nothing.

    .venv/bin/python bench/relations.py [--shared ../shared] [--catalog DIR | --out DIR] [--repeat 3]

`--out DIR` keeps the catalog it builds there (an empty or new folder) for a later `--catalog DIR`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ruleatlas.analysis.relations import relate
from ruleatlas.build import build
from ruleatlas.config import BuildConfig, shared_defaults
from ruleatlas.store import relations as relations_store

ROOT = Path(__file__).resolve().parents[1]


def catalog_file(args: argparse.Namespace, scratch: Path) -> Path:
    if args.catalog is not None:
        return Path(args.catalog) / "catalog.sqlite"
    sources, attack, telemetry = shared_defaults(Path(args.shared))
    start = time.process_time()
    build(
        BuildConfig(out=scratch, sources=sources, attack=attack, telemetry=telemetry, pages=False),
        log=open(os.devnull, "w"),  # noqa: SIM115
    )
    print(f"catalog built (no pages) in {time.process_time() - start:.1f} s CPU of the parent")
    return scratch / "catalog.sqlite"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--catalog", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ruleatlas-relations-") as scratch:
        path = catalog_file(args, Path(args.out or scratch))
        db = sqlite3.connect(path)
        rules = Counter(v for (v,) in db.execute("SELECT vendor FROM rules"))
        for _ in range(args.repeat):
            start = time.process_time()
            forms = relations_store.load_forms(db)
            loaded = time.process_time()
            relations = relate(forms)
            related = time.process_time()
            summary = relations_store.refresh(db)
            refreshed = time.process_time()
            print(
                f"load {len(forms)} forms {loaded - start:.2f} s CPU, relate {related - loaded:.2f} s CPU "
                f"({relations.candidates} pairs checked), full refresh (load, relate, tables, digests) "
                f"{refreshed - related:.2f} s CPU; load average {os.getloadavg()[0]:.1f}"
            )
        per_vendor = Counter(f.vendor for f in forms)
        print("rules per vendor:", dict(sorted(rules.items())))
        print("forms per vendor (rules compared):", dict(sorted(per_vendor.items())))
        undecidable = sum(1 for f in forms if f.terms is None)
        aggregated = sum(1 for f in forms if f.shape is not None)
        print(f"undecidable (too large): {undecidable}; with an aggregation shape: {aggregated}")
        print(f"neighbour pairs {summary.neighbours}, classes {summary.classes}, actions {summary.actions}")
        sizes = sorted((len(uids) for uids in relations.classes.values()), reverse=True)
        print("largest classes:", sizes[:10])
        vendor_of = {f.uid: f.vendor for f in forms}
        cross = {
            key: uids for key, uids in relations.classes.items() if len({vendor_of[u] for u in uids}) > 1
        }
        pairs = Counter("+".join(sorted({vendor_of[u] for u in uids})) for uids in cross.values())
        print(f"classes across vendors: {len(cross)} {dict(sorted(pairs.items()))}")
        for key, uids in sorted(cross.items())[:5]:
            print(f"  class {key}: {', '.join(uids)}")
        across = [n for n in relations.neighbours if vendor_of[n.narrow] != vendor_of[n.broad]]
        neighbour_pairs = Counter(f"{vendor_of[n.narrow]}<{vendor_of[n.broad]}" for n in across)
        shown = dict(sorted(neighbour_pairs.items()))
        print(f"neighbour pairs across vendors (narrow<broad): {len(across)} {shown}")
        for n in across[:5]:
            print(f"  {n.narrow} < {n.broad}: {n.broad_reason}")
        for key, uids in sorted(relations.classes.items(), key=lambda item: -len(item[1]))[:5]:
            print(f"  class {key}: {', '.join(uids[:4])}{' ...' if len(uids) > 4 else ''}")
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
