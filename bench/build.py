"""Build speed: cold build of the whole Sigma corpus (catalog + every page), a rebuild with nothing changed
(the first after a full build also links the idle generation's tree: output/generation.py), then after one
rule changed, and back. Prints wall and CPU seconds (the machine is shared); asserts nothing.

    .venv/bin/python bench/build.py [--shared ../shared] [--jobs N]

The corpus is copied to a temporary folder so one rule can be edited without touching ../shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

ROOT = Path(__file__).resolve().parents[1]
EDITED = "rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the build's worker pools)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, config: BuildConfig) -> float:
    start, cpu = time.perf_counter(), cpu_seconds()
    summary = build(config, log=open(os.devnull, "w"))  # noqa: SIM115
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in summary.timings.items())
    print(
        f"{label:<28} {seconds:6.2f} s wall, {cpu:6.2f} s CPU  rules {summary.rules}, files {summary.files}, "
        f"pages written {summary.pages_written}  ({phases}; load average {os.getloadavg()[0]:.1f})"
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()
    shared = args.shared.resolve()
    print(f"cores: {os.cpu_count()}, jobs: {args.jobs or 'all'}, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="ruleatlas-bench-") as tmp:
        corpus = Path(tmp) / "sigma"
        shutil.copytree(shared / "corpus" / "sigma", corpus)
        config = BuildConfig(
            out=Path(tmp) / "out",
            sources=[SourceSpec("sigma", corpus)],
            attack=shared / "attack",
            telemetry=shared / "providers",
            jobs=args.jobs,
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
