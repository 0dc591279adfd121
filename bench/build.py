"""Build speed: cold build of every source in ../shared (catalog + every page), then rebuilds with nothing
changed and after one rule changed. Prints wall and CPU time (the parent's and its workers'), rules per
vendor and class, and files per vendor that gave no rule; asserts nothing.

    .venv/bin/python bench/build.py [--shared ../shared] [--jobs N] [--only sigma,...] [--no-deploy-as]

Each build's line is followed by the CPU seconds of each step (the parent's and its finished workers'; a
step's workers count where their pool is joined). The relations pass's figures follow: links, conversions
run and cached, fires-on engine runs, and its CPU milliseconds per part (cpu_ms_deploy is the pySigma
conversions, workers included). A full build starts the conversions and the fires-on scan on workers before
the store step (`build.relations.start_relations`): their CPU counts in the relations step, where their pool
is joined (cpu_ms_early_workers; cpu_ms_early_deploy and cpu_ms_early_fires_on are each part's own), while
their wall time overlaps the store step's.

SigmaHQ's corpus is copied to a temporary folder so one rule can be edited without touching ../shared; the
other sources are read in place. A source whose reader is not available is reported by the build as a
problem of that source (the figures then leave it out: the summary says so).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_support import EDITED, STEP_CPU, count_step_cpu, cpu_seconds, only_sources
from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec, shared_defaults
from ruleatlas.store import open_catalog

ROOT = Path(__file__).resolve().parents[1]


def timed(label: str, config: BuildConfig) -> float:
    count_step_cpu()
    start, cpu = time.perf_counter(), cpu_seconds()
    summary = build(config, log=open(os.devnull, "w"))  # noqa: SIM115
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in summary.timings.items())
    print(
        f"{label:<28} {seconds:6.2f} s wall, {cpu:6.2f} s CPU  rules {summary.rules}, files {summary.files}, "
        f"pages written {summary.pages_written}  ({phases}; load average {os.getloadavg()[0]:.1f})"
    )
    print(f"{'':<28} CPU per step: " + ", ".join(f"{k} {v:.2f}s" for k, v in STEP_CPU.items() if v >= 0.01))
    # The relations pass (related links, fires-on samples, deploy-as conversions): what it ran, its CPU.
    print(f"{'':<28} relations: " + ", ".join(f"{k} {v}" for k, v in summary.relations.items()))
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated source names (default: every one there)")
    parser.add_argument("--no-deploy-as", action="store_true", help="builds without pySigma conversions")
    args = parser.parse_args()
    shared = args.shared.resolve()
    sources, attack, telemetry = shared_defaults(shared)
    sources = only_sources(sources, args.only)
    print(f"cores: {os.cpu_count()}, jobs: {args.jobs or 'all'}, python {sys.version.split()[0]}")
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("sources: " + ", ".join(f"{s.name} ({s.vendor})" for s in sources))
    with tempfile.TemporaryDirectory(prefix="ruleatlas-bench-") as tmp:
        corpus = Path(tmp) / "sigma"
        shutil.copytree(shared / "corpus" / "sigma", corpus)
        sources = [SourceSpec("sigma", corpus) if s.name == "sigma" else s for s in sources]
        config = BuildConfig(
            out=Path(tmp) / "out",
            sources=sources,
            attack=attack,
            telemetry=telemetry,
            samples=shared / "logs" if (shared / "logs").is_dir() else None,  # as `ruleatlas build --shared`
            jobs=args.jobs,
            deploy_as=not args.no_deploy_as,
        )
        timed("cold build", config)
        timed("rebuild, nothing changed", config)
        rule = corpus / EDITED
        rule.write_text(
            rule.read_text(encoding="utf-8").replace("level: high", "level: critical"), encoding="utf-8"
        )
        timed("rebuild, one rule changed", config)
        rule.write_text(
            rule.read_text(encoding="utf-8").replace("level: critical", "level: high"), encoding="utf-8"
        )
        timed("rebuild, changed back", config)
        with open_catalog(config.out) as catalog:
            stats = catalog.stats()
            for vendor, kinds in stats["per_vendor_kind"].items():
                files = stats["per_vendor_files"].get(vendor, {})
                print(
                    f"  {vendor:<8} rules {sum(kinds.values()):>5}  "
                    + ", ".join(f"{k} {n}" for k, n in kinds.items())
                    + f"; files {files.get('files', 0)}, gave no rule {files.get('error_files', 0)}"
                )
            for problem in catalog.problems():
                if problem.file == "":
                    print(f"  source problem: {problem.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
