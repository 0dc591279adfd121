"""The cold build's catalog steps one by one, in this process: list, attack+telemetry (no cache),
parse+analysis per source, store (with the neighbours/classes pass timed on its own). Prints CPU seconds
per step and per source; asserts nothing. Pages, relations and publishing are left out (`bench/build.py`
times them).

    .venv/bin/python bench/cold_steps.py [--shared ../shared] [--jobs N] [--only sigma,...]
        [--profile STEP] [--dump FILE] [--no-store] [--save-results FILE]

--jobs 1 (the default) parses on one core so the per-source CPU figures are this process's own; with more
jobs the workers' CPU counts where each source's pool is joined. --profile parse|store|attack writes the
step's cProfile top functions to stderr. --dump writes every table of the stored catalog (rows sorted, the
build time left out) to FILE, so two versions of the code can be diffed for identical output.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pickle
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_support import cpu_seconds, only_sources
from ruleatlas.build.analyse import FileResult, analyse_files
from ruleatlas.build.inputs import InputContext
from ruleatlas.build.plan import plan_build
from ruleatlas.build.store import store_catalog
from ruleatlas.build.uids import assign_uids
from ruleatlas.config import BuildConfig, shared_defaults
from ruleatlas.output.generation import Output
from ruleatlas.progress import Progress
from ruleatlas.store import relations as relations_store

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def step(name: str, profile: str, figures: dict[str, float]) -> Iterator[None]:
    profiler = cProfile.Profile() if profile == name else None
    start = cpu_seconds()
    if profiler is not None:
        profiler.enable()
    try:
        yield
    finally:
        if profiler is not None:
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(60)
        figures[name] = figures.get(name, 0.0) + cpu_seconds() - start


def loaded_value(loaded: Any) -> Any:
    """The value of an input as `InputContext` gives it: a `Loaded` (its `.value`), or, in older versions
    of the code this bench is run against for an A/B, a (value, text) pair."""
    if loaded is None:
        return None
    return loaded.value if hasattr(loaded, "value") else loaded[0]


def dump_catalog(path: Path, out: Path) -> None:
    """Every table's rows, sorted, one line each (long values by their hash), meta's build time left out."""
    db = sqlite3.connect(path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    with out.open("w", encoding="utf-8") as fh:
        for table in tables:
            rows = []
            for row in db.execute(f'SELECT * FROM "{table}"'):
                if table == "meta" and row[0] == "built_at":
                    continue
                rows.append(repr(tuple(_short(v) for v in row)))
            rows.sort()
            fh.write(f"## {table} {len(rows)}\n")
            fh.writelines(r + "\n" for r in rows)
    db.close()


def _short(value: Any) -> Any:
    if isinstance(value, str | bytes) and len(value) > 200:
        data = value.encode() if isinstance(value, str) else value
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return value


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", default="")
    parser.add_argument("--profile", default="", help="list, attack+telemetry, parse, store or neighbours")
    parser.add_argument("--dump", type=Path, default=None)
    parser.add_argument("--save-results", type=Path, default=None, help="pickle the parse results here")
    parser.add_argument("--load-results", type=Path, default=None, help="store these instead of parsing")
    parser.add_argument("--no-store", action="store_true", help="stop after parse+analysis")
    args = parser.parse_args()
    sources, attack_path, telemetry_path = shared_defaults(args.shared.resolve())
    sources = only_sources(sources, args.only)
    figures: dict[str, float] = {}
    per_source: dict[str, tuple[int, int, float]] = {}
    devnull = open(os.devnull, "w")  # noqa: SIM115
    with tempfile.TemporaryDirectory(prefix="ruleatlas-cold-") as tmp:
        config = BuildConfig(
            out=Path(tmp) / "out",
            sources=sources,
            attack=attack_path,
            telemetry=telemetry_path,
            jobs=args.jobs,
        )
        with Output.open(config.out) as output:
            with step("list", args.profile, figures):
                plan = plan_build(config, None, output.root / "cache")
            with step("attack+telemetry", args.profile, figures):
                context = InputContext(config, output.root / "cache", plan.keys)
                attack, telemetry = context.attack(), context.telemetry()
            results: list[FileResult] = []
            if args.load_results is not None:
                results = pickle.loads(args.load_results.read_bytes())
            for spec, todo in plan.changed_files() if args.load_results is None else ():
                start = cpu_seconds()
                with step("parse", args.profile, figures):
                    got = analyse_files(
                        todo,
                        spec,
                        loaded_value(attack),
                        loaded_value(telemetry),
                        args.jobs,
                        Progress(spec.name, len(todo), devnull),
                    )
                results += got
                per_source[spec.name] = (len(todo), sum(len(r.rows) for r in got), cpu_seconds() - start)
            if args.save_results is not None:
                args.save_results.write_bytes(pickle.dumps(results))
            if args.no_store:
                results = []
            assign_uids(results, {})
            stage = output.begin(fresh=True)
            refresh: Callable[..., Any] = relations_store.refresh

            def timed_refresh(*a: Any, **kw: Any) -> Any:
                with step("neighbours+classes", args.profile, figures):
                    return refresh(*a, **kw)

            relations_store.refresh = timed_refresh  # type: ignore[assignment]
            if not args.no_store:
                with step("store", args.profile, figures):
                    store_catalog(stage, plan, results, attack, telemetry, context)
            relations_store.refresh = refresh  # type: ignore[assignment]
            if args.dump is not None and not args.no_store:
                dump_catalog(stage.catalog, args.dump)
    print(f"{'source':<10} {'files':>6} {'rules':>6} {'parse+analysis CPU s':>21}")
    for name, (files, rules, cpu) in per_source.items():
        print(f"{name:<10} {files:>6} {rules:>6} {cpu:>21.2f}")
    print("CPU s per step: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    print("(store includes neighbours+classes)")
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"wall {time.perf_counter() - start:.1f} s, load average {os.getloadavg()[0]:.1f}")
    sys.exit(code)
