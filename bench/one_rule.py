"""One-rule rebuilds against a kept catalog folder: CPU and wall per build step, without pages (the pages
step is measured by bench/build.py). The first run makes a cold build into OUT (minutes); each later run
flips one Sigma rule's level and rebuilds, so steps can be profiled one rebuild at a time.

    .venv/bin/python bench/one_rule.py --out /tmp/ruleatlas-one-rule [--shared ../shared] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import shutil
import sys
import time
from pathlib import Path

from bench_support import EDITED, STEP_CPU, count_step_cpu, cpu_seconds
from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec, shared_defaults

ROOT = Path(__file__).resolve().parents[1]


def timed(label: str, config: BuildConfig, profile: cProfile.Profile | None = None) -> None:
    count_step_cpu()
    start, cpu = time.perf_counter(), cpu_seconds()
    if profile is not None:
        profile.enable()
    summary = build(config, log=open(os.devnull, "w"))  # noqa: SIM115
    if profile is not None:
        profile.disable()
    print(
        f"{label}: {time.perf_counter() - start:.2f} s wall, {cpu_seconds() - cpu:.2f} s CPU, "
        f"{summary.mode}, {summary.files_parsed} files parsed (load average {os.getloadavg()[0]:.1f})"
    )
    print("  wall per step: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.timings.items()))
    print("  CPU per step:  " + ", ".join(f"{k} {v:.2f}" for k, v in STEP_CPU.items()))
    print("  relations:     " + ", ".join(f"{k} {v}" for k, v in summary.relations.items()))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True, help="kept between runs (a sigma copy beside it)")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--profile", type=Path, help="write the rebuild's cProfile stats here")
    args = parser.parse_args()
    shared = args.shared.resolve()
    sources, attack, telemetry = shared_defaults(shared)
    corpus = args.out.resolve().parent / (args.out.name + "-sigma")
    if not corpus.exists():
        shutil.copytree(shared / "corpus" / "sigma", corpus)
    config = BuildConfig(
        out=args.out,
        sources=[SourceSpec("sigma", corpus) if s.name == "sigma" else s for s in sources],
        attack=attack,
        telemetry=telemetry,
        samples=shared / "logs" if (shared / "logs").is_dir() else None,
        pages=False,
    )
    if not (args.out / "current").exists():
        timed("cold build", config)
    rule = corpus / EDITED
    text = rule.read_text(encoding="utf-8")
    flipped = (
        ("level: high", "level: critical") if "level: high" in text else ("level: critical", "level: high")
    )
    rule.write_text(text.replace(*flipped), encoding="utf-8")
    profile = cProfile.Profile() if args.profile else None
    timed("rebuild, one rule changed", config, profile)
    if profile is not None and args.profile:
        profile.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
