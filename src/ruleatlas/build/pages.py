"""Build step 5: the pages whose document or corpus counts changed (all of them when `rerender_all`), and
the telemetry pages of the events the changed rules covered before and after."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from ruleatlas.build.inputs import InputContext
from ruleatlas.build.plan import Plan
from ruleatlas.build.store import Stored
from ruleatlas.build.summary import BuildSummary
from ruleatlas.output.generation import Stage
from ruleatlas.progress import Progress
from ruleatlas.store import CATALOG_FILE
from ruleatlas.web.site import write_site
from ruleatlas.web.telemetry_pages import TelemetryPagesJob


def write_pages(
    stage: Stage,
    plan: Plan,
    stored: Stored,
    context: InputContext,
    out: Path,
    jobs: int,
    log: TextIO,
    summary: BuildSummary,
) -> None:
    """The pages whose document or corpus counts changed (all of them when `rerender_all`)."""
    summaries, previous = stored.summaries, plan.previous
    todo_uids = (
        [s["uid"] for s in summaries]
        if stored.rerender_all
        else sorted({r.uid for r in stored.rows} | stored.affected)
    )
    gone = set(previous.base_uids) - {s["uid"] for s in summaries} if previous is not None else set()
    # Telemetry pages: all of them, or those of the events the changed rules covered before and after.
    telemetry_job = None
    if stored.rerender_telemetry or stored.rows:
        loaded = context.telemetry()
        telemetry_job = TelemetryPagesJob(
            telemetry=loaded.value if loaded else None,
            samples=context.samples(stored.samples_key),
            events=None if stored.rerender_telemetry else stored.touched_events,
            catalog_dir=out,  # readiness.json is kept at the top of the catalog folder
        )
    with Progress("pages", len(todo_uids), log) as bar:
        write_site(
            stage.site,
            stage.catalog,
            todo_uids,
            summaries,
            gone,
            jobs=jobs,
            progress=bar,
            changed_indicators=None if stored.rerender_all else stored.touched_keys,
            telemetry_pages=telemetry_job,
            changed_rules=None if stored.rerender_all else {r.uid for r in stored.rows} | gone,
            previous_catalog=None if stage.previous is None else stage.previous / CATALOG_FILE,
        )
    summary.pages_written = len(todo_uids)
    summary.pages_kept = len(summaries) - len(todo_uids)
