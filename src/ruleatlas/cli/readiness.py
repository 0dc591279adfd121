"""`ruleatlas readiness`: which rules can fire on the telemetry of some logs, and why not."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ruleatlas.cli.common import EXIT_OK, EXIT_PROBLEMS, add_catalog_arg, require_catalog


def add_parser(sub: Any) -> None:
    p = sub.add_parser("readiness", help="which rules can fire on the telemetry of some logs, and why not")
    add_catalog_arg(p)
    p.add_argument("logs", nargs="+", type=Path, metavar="LOGS", help="EVTX/JSON/JSONL files or folders")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every input was read, 1 when some were reported and skipped (corrupt EVTX, bad lines)."""
    from ruleatlas.readiness import print_table, read_logs, readiness_report, write_readiness
    from ruleatlas.store import open_catalog
    from ruleatlas.telemetry import TelemetryCatalog

    require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        blob = catalog.blob("telemetry")
        telemetry = TelemetryCatalog.from_json(blob) if isinstance(blob, dict) else None
        logs = read_logs(args.logs, telemetry)
        report = readiness_report(catalog, logs, args.logs, telemetry)
    write_readiness(args.catalog, report)
    try:
        if args.json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            print_table(report, sys.stdout)
    except BrokenPipeError:  # `| head`: the reader has seen enough
        sys.stderr.close()
    return EXIT_PROBLEMS if report["logs"]["problems_total"] else EXIT_OK
