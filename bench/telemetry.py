"""Telemetry figures on a built catalog: every telemetry page rendered again (1 and N workers), the samples
pass, and `readiness` over ../shared/logs (time and peak memory, in a child process). Prints; asserts nothing.

    .venv/bin/ruleatlas build --shared ../shared --out /tmp/cat4
    .venv/bin/python bench/telemetry.py /tmp/cat4 [--shared ../shared] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from ruleatlas.build.inputs import _collect_samples
from ruleatlas.store import Catalog
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.telemetry_pages import TelemetryPagesJob, write_telemetry_pages

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("catalog", type=Path)
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}")
    catalog = Catalog(args.catalog)
    started = time.perf_counter()
    telemetry = TelemetryCatalog.from_json(catalog.blob("telemetry"))
    print(f"definitions from the catalog: {time.perf_counter() - started:.2f} s")
    catalog.close()

    started, cpu = time.perf_counter(), time.process_time()
    samples = _collect_samples(args.shared / "logs", telemetry)
    print(
        f"samples pass over {args.shared / 'logs'}: {time.perf_counter() - started:.2f} s "
        f"(cpu {time.process_time() - cpu:.2f} s), {len(samples['events'])} event types, "
        f"{len(json.dumps(samples)) / 1024:.0f} KiB"
    )
    for jobs in sorted({1, args.jobs}):
        started = time.perf_counter()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.process_time()
        written = write_telemetry_pages(
            args.catalog / "site",
            args.catalog / "catalog.sqlite",
            TelemetryPagesJob(telemetry, samples, None, args.catalog),
            jobs=jobs,
            renderer=SiteRenderer(indicator_pages=True, field_pages=True),
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        wall = time.perf_counter() - started
        print(
            f"all telemetry pages, {jobs} worker(s): {written} pages in {wall:.2f} s "
            f"(cpu: parent {time.process_time() - cpu:.2f} s, workers {child_cpu:.2f} s)"
        )

    started = time.perf_counter()
    run = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            sys.executable,
            "-m",
            "ruleatlas.cli",
            "readiness",
            "--catalog",
            str(args.catalog),
            str(args.shared / "logs"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    peak_kib = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "?"
    first = run.stdout.splitlines()[:3]
    print(f"readiness over the samples: {time.perf_counter() - started:.2f} s, peak RSS {peak_kib} KiB")
    for line in first:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
