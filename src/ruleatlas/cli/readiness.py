"""`ruleatlas readiness`: which rules can fire on the telemetry of some logs, and why not (the verdicts:
telemetry/readiness.py; the report: telemetry/report.py; its page: web/readiness_page.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ruleatlas.cli.common import EXIT_OK, EXIT_PROBLEMS, add_catalog_arg, require_catalog

if TYPE_CHECKING:  # the command imports what it runs when it runs (`ruleatlas --help` stays quick)
    from ruleatlas.store import Catalog
    from ruleatlas.telemetry import TelemetryCatalog
    from ruleatlas.telemetry.next_steps import CollectionPlan
    from ruleatlas.telemetry.readiness import LogsRead
    from ruleatlas.telemetry.report import ReadinessReport


def add_parser(sub: Any) -> None:
    p = sub.add_parser("readiness", help="which rules can fire on the telemetry of some logs, and why not")
    add_catalog_arg(p)
    p.add_argument("logs", nargs="+", type=Path, metavar="LOGS", help="EVTX/JSON/JSONL files or folders")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--next",
        action="store_true",
        help="also say which events to collect next, and the rules each would let fire (kept in the report)",
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every input was read, 1 when some were reported and skipped (corrupt EVTX, bad lines)."""
    from ruleatlas.store import open_catalog
    from ruleatlas.store.telemetry import readiness_inputs
    from ruleatlas.telemetry import TelemetryCatalog
    from ruleatlas.telemetry.readiness import read_logs
    from ruleatlas.telemetry.report import readiness_report
    from ruleatlas.web.readiness_page import write_readiness

    require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        blob = catalog.blob("telemetry")
        telemetry = TelemetryCatalog.from_json(blob) if isinstance(blob, dict) else None
        logs = read_logs(args.logs, telemetry)
        report = readiness_report(readiness_inputs(catalog), logs, args.logs, telemetry)
        if args.next:
            report["next"] = next_plan(catalog, logs, telemetry)
    write_readiness(args.catalog, report)
    try:
        if args.json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            print_table(report, sys.stdout)
            if args.next:
                from ruleatlas.telemetry.next_steps import print_next

                print_next(report["next"], sys.stdout.write)
    except BrokenPipeError:  # `| head`: the reader has seen enough
        sys.stderr.close()
    return EXIT_PROBLEMS if report["logs"]["problems_total"] else EXIT_OK


def print_table(report: ReadinessReport, out: TextIO) -> None:
    """The report for a terminal: figures, then one line per rule (blocked ones first)."""
    from ruleatlas.telemetry.readiness import (
        BLOCKED,
        EVENT_NEVER_SEEN,
        FIELD_NEVER_PRESENT,
        FIRES,
        NEEDS_PIPELINE,
        PARTIAL,
        THROUGH_BRIDGE,
        UNKNOWN,
    )

    logs, rules, tech = report["logs"], report["rules"], report["techniques"]
    unattributed = f", {logs['unattributed']:,} without an EventID" if logs["unattributed"] else ""
    out.write(
        f"Logs: {logs['files']} files, {logs['events']:,} events of {logs['event_types']} types"
        f"{unattributed}; {logs['problems_total']} problems (skipped)\n"
    )
    for problem in logs["problems"][:20]:
        place = problem["file"] + (f": {problem['where']} {problem['record']}" if problem["record"] else "")
        out.write(f"  problem: {place}: {problem['message']}\n")
    if logs["problems_total"] > 20:
        out.write(f"  ... and {logs['problems_total'] - 20} more (see --json)\n")
    reasons = report["reasons"]
    out.write(
        f"Rules: {rules['total']:,} — {rules[FIRES]:,} can fire ({reasons[THROUGH_BRIDGE]:,} of them "
        f"{THROUGH_BRIDGE}), {rules[PARTIAL]:,} partial ({NEEDS_PIPELINE}), {rules[BLOCKED]:,} cannot "
        f"({reasons[EVENT_NEVER_SEEN]:,} event never seen, {reasons[FIELD_NEVER_PRESENT]:,} field never "
        f"present), {rules[UNKNOWN]:,} without event coverage\n"
    )
    out.write(f"ATT&CK: {tech['covered']:,} of {tech['tagged']:,} tagged techniques effectively covered\n\n")
    order = {BLOCKED: 0, PARTIAL: 1, FIRES: 2, UNKNOWN: 3}
    rows = sorted(report["rule_verdicts"], key=lambda v: (order[v["verdict"]], v["reason"], v["uid"]))
    width = min(max((len(v["uid"]) for v in rows), default=10), 70)
    out.write(f"{'verdict':<8}  {'rule':<{width}}  why\n")
    for v in rows:
        why = v["reason"] + (f": {v['detail']}" if v.get("detail") else "")
        if v["verdict"] == FIRES:
            why = "on " + ", ".join(v["events"][:4]) + (" …" if len(v["events"]) > 4 else "")
            if v["reason"] == THROUGH_BRIDGE:
                why = f"{THROUGH_BRIDGE}: {why}"
        out.write(f"{v['verdict']:<8}  {v['uid']:<{width}}  {why}\n")


def next_plan(catalog: Catalog, logs: LogsRead, telemetry: TelemetryCatalog | None) -> CollectionPlan:
    """`--next`: the events to collect next (telemetry/next_steps.py) for the rules the catalog holds, with
    their pages' links."""
    from ruleatlas.store.collection import pipeline_only, rule_needs
    from ruleatlas.telemetry.bridges import bridge_index
    from ruleatlas.telemetry.catalog import parse_event_key
    from ruleatlas.telemetry.next_steps import plan_from_logs
    from ruleatlas.web import urls

    needs, event_needs = rule_needs(catalog.db, bridge_index(telemetry) if telemetry is not None else None)
    plan = plan_from_logs(
        needs, event_needs, logs.observed, telemetry, pipeline_only=pipeline_only(catalog.db)
    )
    for step in plan["steps"]:
        step["path"] = urls.telemetry_event_path(step["provider"], parse_event_key(step["event_key"]))
        for rule in step["unlocks"]:
            try:
                rule["path"] = urls.rule_path(rule["uid"])
            except ValueError:
                rule["path"] = ""
    return plan
