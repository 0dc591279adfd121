"""`ruleatlas scan --engine spark [--master URL]`: the scan command's run, done by Spark.

Thin: start (or join, under spark-submit) a SparkSession, call `ruleatlas.spark.scan`, and hand the
matches and alerts to the same writers as the local engine, one partition at a time (`toLocalIterator`:
the driver never holds them all). Problems come back as the local engine's `ScanOutput`, so the command
reports them (stderr, --problems FILE) and exits exactly as it does locally.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ruleatlas.engine.compile import CompiledSet
from ruleatlas.engine.correlate import CorrelationAlert
from ruleatlas.engine.scan import RuleFailure, RuleMatch, ScanOutput
from ruleatlas.engine.scan_rules import Selection
from ruleatlas.logs.event import Event, InputProblem, parse_time
from ruleatlas.logs.readers import flat_fields


def session(master: str | None) -> Any:
    """A SparkSession for `master` (None: the one spark-submit configured). Executors on this machine run
    this Python (`spark.pyspark.python`) unless PYSPARK_PYTHON says otherwise."""
    from pyspark.sql import SparkSession

    # the environment, not `spark.pyspark.python`: local mode starts workers from the resolved binary
    # with that setting, outside the virtual environment that holds ruleatlas
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("ruleatlas scan").config("spark.ui.showConsoleProgress", "false")
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


def run_spark_scan(
    args: argparse.Namespace,
    compiled: CompiledSet,
    *,
    on_match: Callable[[RuleMatch], None],
    on_alert: Callable[[Any], None],
    selection: Selection,
    placeholders: dict[str, list[str]],
) -> ScanOutput:
    from ruleatlas.spark import scan

    spark = session(args.master)
    result = scan(
        spark,
        args.rules,
        paths=[str(path) for path in args.logs],
        time_field=args.time_field,
        routing=not args.no_routing,
        prefilter=not args.no_prefilter,
        selection=selection,
        placeholders=placeholders,
        compiled=compiled,
    )
    out = ScanOutput()
    rules = {rule.uid: rule for rule in compiled.rules}
    for row in result.matches.toLocalIterator():
        file, record = row.source
        event = Event(flat_fields(json.loads(row.event)), file, record, parse_time(row.timestamp))
        out.stats.matches += 1
        on_match(RuleMatch(rules[row.rule.uid], event))
    correlations = {rule.uid: rule for rule in compiled.correlations}
    for row in result.alerts.toLocalIterator():
        out.stats.alerts += 1
        on_alert(_alert(row, correlations))
    for row in result.problems.toLocalIterator():
        if row.kind == "input":
            out.input_problems.append(InputProblem(row.file, row.at, row.message, where=row.where))
        elif row.kind == "rule_failure":
            # row["count"]: a Row is a tuple, whose .count is a method
            out.rule_failures.append(RuleFailure(row.rule, row.file, row.at, row.message, row["count"]))
        else:
            out.correlation_notes.append(row.message)
    assert result.counts is not None
    out.stats.events = result.counts.events.value
    out.stats.skipped_files = result.skipped_files
    out.stats.files = result.files
    return out


def _alert(row: Any, correlations: dict[str, Any]) -> CorrelationAlert:
    """The alert object the writers take, from its row (events are referred to, not carried)."""
    data = json.loads(row.correlation)
    events = [
        Event({}, ref["file"], ref["record"], parse_time(ref["timestamp"])) for ref in json.loads(row.events)
    ]
    start, end = parse_time(data["window"]["start"]), parse_time(data["window"]["end"])
    assert start is not None and end is not None
    return CorrelationAlert(
        correlations[row.rule.uid], data["type"], data["group"], start, end, data["count"], events
    )
