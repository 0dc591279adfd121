"""Scan memory: peak RSS for many matches and for many correlation groups, at two input sizes.

    .venv/bin/python bench/scan_memory.py                 # 200k and 800k events (about 2 minutes)
    .venv/bin/python bench/scan_memory.py --events 100000 # smaller: 100k and 400k

Two cases from the reliability study (S4), on generated JSONL (one small Sysmon-like event per line):

- catch-all: one rule matching every event (`EventID: 1`), JSONL out to a file: every event is a match;
  before streaming, matches were held until each file ended (6.2 GB at 49 s on a 2 GB file);
- correlation: an event_count correlation grouped by a field with a distinct value per event and a
  100-year timespan, so every event opens a group (1M groups took 2.9 GB); open groups are capped.

Each scan runs `ruleatlas scan` in its own process and prints its peak RSS (ru_maxrss) with the events
per CPU second. Flat = the peak does not grow with the input. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CATCH_ALL = """\
title: Every Process
id: 6b5d1f1e-0000-4000-8000-000000000001
level: low
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        EventID: 1
    condition: selection
"""

CORRELATION = """\
title: Same Logon Twice In A Century
id: 6b5d1f1e-0000-4000-8000-000000000002
level: medium
correlation:
    type: event_count
    rules:
        - 6b5d1f1e-0000-4000-8000-000000000001
    group-by:
        - LogonGuid
    timespan: 36500d
    condition:
        gte: 2
"""

# Run in the child: the scan itself, then its own peak memory and CPU time on the last stderr line.
CHILD = """
import resource, sys, time
from ruleatlas.cli import main
cpu = time.process_time()
code = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
sys.stderr.write(f"\\nMEASURED {code} {usage.ru_maxrss} {time.process_time() - cpu}\\n")
"""


def write_events(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            event = {
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "EventID": 1,
                "Computer": f"host{n % 50}.corp.example.com",
                "Image": "C:\\\\Windows\\\\System32\\\\cmd.exe",
                "CommandLine": f"cmd.exe /c echo {n}",
                "LogonGuid": f"{{00000000-0000-0000-0000-{n:012d}}}",
                "@timestamp": f"2024-01-01T{(n // 3600) % 24:02}:{(n // 60) % 60:02}:{n % 60:02}Z",
            }
            out.write(json.dumps(event) + "\n")


def scan(rules: Path, log: Path, output: Path) -> dict[str, float]:
    start = time.perf_counter()
    command = ["scan", "--rules", str(rules), "--format", "jsonl", "--output", str(output), str(log)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *command],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    line = [row for row in done.stderr.splitlines() if row.startswith("MEASURED ")]
    if not line:
        raise SystemExit(f"scan failed:\n{done.stderr[-2000:]}")
    _, code, maxrss_kb, cpu = line[-1].split()
    summary = next((row for row in done.stderr.splitlines() if row.startswith("scanned ")), "")
    return {
        "exit": int(code),
        "peak_mb": round(int(maxrss_kb) / 1024, 1),
        "cpu_s": round(float(cpu), 1),
        "wall_s": round(seconds, 1),
        "summary": summary,  # type: ignore[dict-item]
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="the smaller size; the larger is 4x")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ruleatlas-scan-memory-") as tmp:
        root = Path(tmp)
        catch_all = root / "catch_all"
        catch_all.mkdir()
        (catch_all / "every_process.yml").write_text(CATCH_ALL)
        correlated = root / "correlated"
        correlated.mkdir()
        (correlated / "every_process.yml").write_text(CATCH_ALL)
        (correlated / "same_logon.yml").write_text(CORRELATION)
        print(f"load average {os.getloadavg()[0]:.1f} (a shared machine: wall times vary with it)")
        for size in (args.events, args.events * 4):
            log = root / f"events-{size}.jsonl"
            write_events(log, size)
            mb = log.stat().st_size / 2**20
            for label, rules in (("catch-all", catch_all), ("correlation", correlated)):
                figures = scan(rules, log, root / "out.jsonl")
                rate = round(size / figures["cpu_s"]) if figures["cpu_s"] else None
                print(
                    f"{label:<12} {size:>9,} events ({mb:,.0f} MB): peak {figures['peak_mb']:>7} MB, "
                    f"{figures['cpu_s']} CPU s ({rate:,} events per CPU-second), {figures['wall_s']} s wall"
                )
                print(f"             {figures['summary']}")
            log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
