"""The build's relations step alone, cold: a copy of a built catalog's file, an empty cache folder, and
`build.relations.relate` as the build calls it (related links, fires-on over the samples, deploy-as
conversions). Prints the step's wall and CPU seconds (this process and its finished workers), the CPU of each
part (`RelationsSummary.cpu`), and a digest of every relations table, so two commits can be compared for
speed and for identical output:

    .venv/bin/python bench/relations_step.py --catalog DIR [--shared ../shared] [--jobs N] [--warm]
        [--profile FILE]
    PYTHONPATH=OTHER/src .venv/bin/python bench/relations_step.py ...   # the same step at another commit

DIR is a catalog folder a build wrote (`ruleatlas build ... --no-pages --out DIR` is enough). `--warm` runs
the step a second time in a new process over the cache the first run left (what a rebuild that must redo
every rule's relations costs). `--profile FILE` writes this process's cProfile statistics (workers are not
profiled). Asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_support import cpu_seconds
from ruleatlas.build.relations import relate, sample_roots
from ruleatlas.store import deploy as deploy_store

ROOT = Path(__file__).resolve().parents[1]
TABLES = (*deploy_store.TABLES, "rule_relation_inputs")


def digest(catalog: Path) -> dict[str, str]:
    """Each relations table's rows, sorted, hashed."""
    db = sqlite3.connect(catalog)
    out = {}
    for table in TABLES:
        rows = sorted(repr(tuple(row)) for row in db.execute(f"SELECT * FROM {table}"))
        text = "\n".join(rows).encode()
        out[table] = f"{len(rows)} rows {hashlib.sha256(text).hexdigest()[:16]}"
    db.close()
    return out


def run(catalog: Path, cache: Path, shared: Path, jobs: int, profile: str) -> None:
    sigma = [(name, shared / "corpus" / folder) for name, folder in (("sigma", "sigma"),)]
    roots = sample_roots(shared / "logs", sigma)
    profiler = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), cpu_seconds()
    if profiler is not None:
        profiler.enable()
    summary = relate(catalog, cache, roots, jobs=jobs)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(
        f"relations step: {wall:.1f} s wall, {cpu:.1f} s CPU (load average {os.getloadavg()[0]:.1f}); "
        + ", ".join(f"{k} {v}" for k, v in summary.counts().items())
    )
    for table, value in digest(catalog).items():
        print(f"  {table}: {value}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--warm", action="store_true")
    parser.add_argument("--profile", default="")
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)  # the --warm rerun's
    args = parser.parse_args()
    shared = args.shared.resolve()
    if args.work is not None:
        run(args.work / "catalog.sqlite", args.work / "cache", shared, args.jobs, args.profile)
        return 0
    with tempfile.TemporaryDirectory(prefix="ruleatlas-relations-step-") as tmp:
        work = Path(tmp)
        shutil.copyfile(args.catalog / "catalog.sqlite", work / "catalog.sqlite")
        db = sqlite3.connect(work / "catalog.sqlite")
        deploy_store.ensure_tables(db)  # a catalog of an earlier pass: its relations rows are made again
        for table in (*TABLES, "relation_state"):
            db.execute(f"DELETE FROM {table}")
        db.commit()
        db.close()
        print("cold:")
        run(work / "catalog.sqlite", work / "cache", shared, args.jobs, args.profile)
        if args.warm:
            print("warm (the cache of the cold run, a new process):")
            sys.stdout.flush()
            command = [sys.executable, __file__, "--catalog", str(args.catalog), "--work", str(work)]
            subprocess.run([*command, "--shared", str(shared), "--jobs", str(args.jobs)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
