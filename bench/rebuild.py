"""Rebuild speed step by step, in one kept catalog folder (bench/build.py starts from a cold build each run;
this one builds cold once, then measures rebuilds as often as wanted). Prints wall and CPU time (the
parent's and its workers'), the build's time per step and the relations pass's figures; with --profile, the
cProfile top items by cumulative time. Asserts nothing.

    .venv/bin/python bench/rebuild.py --work /tmp/rebuild cold      # copies SigmaHQ, full build
    .venv/bin/python bench/rebuild.py --work /tmp/rebuild one       # one rule's level flipped, rebuild
    .venv/bin/python bench/rebuild.py --work /tmp/rebuild none      # nothing changed, rebuild
    .venv/bin/python bench/rebuild.py --work /tmp/rebuild one --profile 40

SigmaHQ is copied into the work folder (the rule edited is bench/build.py's), the other sources are read in
place from ../shared.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

from bench_support import EDITED, STEP_CPU, count_step_cpu, cpu_seconds, only_sources
from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec, shared_defaults

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("cold", "one", "none"))
    parser.add_argument(
        "--work", type=Path, required=True, help="kept folder: SigmaHQ's copy and the catalog"
    )
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--only", default="", help="comma-separated source names (default: every one there)")
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, help="print this many cProfile items")
    parser.add_argument(
        "--no-pages",
        action="store_true",
        help="skip the pages step (its generation is then marked without pages: the next build with pages "
        "renders every page)",
    )
    args = parser.parse_args()
    shared = args.shared.resolve()
    sources, attack, telemetry = shared_defaults(shared)
    sources = only_sources(sources, args.only)
    corpus = args.work / "sigma"
    if args.what == "cold":
        shutil.rmtree(args.work, ignore_errors=True)
        shutil.copytree(shared / "corpus" / "sigma", corpus)
    sources = [SourceSpec("sigma", corpus) if s.name == "sigma" else s for s in sources]
    config = BuildConfig(
        out=args.work / "out",
        sources=sources,
        attack=attack,
        telemetry=telemetry,
        samples=shared / "logs" if (shared / "logs").is_dir() else None,
        jobs=args.jobs,
        pages=not args.no_pages,
    )
    if args.what == "one":
        rule = corpus / EDITED
        text = rule.read_text(encoding="utf-8")
        flipped = (
            ("level: high", "level: critical")
            if "level: high" in text
            else ("level: critical", "level: high")
        )
        rule.write_text(text.replace(*flipped), encoding="utf-8")
    profile = cProfile.Profile() if args.profile else None
    count_step_cpu()
    start, cpu = time.perf_counter(), cpu_seconds()
    if profile is not None:
        profile.enable()
    summary = build(config, log=open(os.devnull, "w"), force_full=args.what == "cold")  # noqa: SIM115
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(
        f"{args.what}: {summary.mode} build, {wall:.2f} s wall, {cpu:.2f} s CPU, rules {summary.rules}, "
        f"pages written {summary.pages_written} (load average {os.getloadavg()[0]:.1f})"
    )
    print("  steps: " + ", ".join(f"{k} {v:.2f}s" for k, v in summary.timings.items()))
    print("  CPU per step: " + ", ".join(f"{k} {v:.2f}s" for k, v in STEP_CPU.items()))
    print("  relations: " + ", ".join(f"{k} {v}" for k, v in summary.relations.items()))
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
