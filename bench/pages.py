"""Cold page rendering per family, in CPU seconds: the build's pages step (`web/site.write_site`) over a
catalog built already without pages, each family timed alone. Prints figures; asserts nothing.

    .venv/bin/ruleatlas build --shared ../shared --out CAT --no-pages      # once
    .venv/bin/python bench/pages.py --catalog CAT [--jobs 1] [--site DIR] [--only rules,catalog,...]

Families: `rules` (every rule page: document, corpus counts, relations, deploy links, template, file),
`static`, `catalog` (home, browse, search, fields, indicators, API docs), `attack`, `classes` (equivalence
classes), `telemetry` (event and readiness pages); `site` (not in the default) is the whole step as the build
runs it (`web/site.write_site`: every family, rule pages on `--jobs` workers), for its wall time. CPU is
this process's and its finished workers' (`--jobs 1`, the default, renders everything here). `--site DIR`
keeps the site (an empty or new folder), so two versions of the code can be compared page by page
(`diff -r`).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ruleatlas.build.inputs import InputContext
from ruleatlas.build.plan import plan_build
from ruleatlas.config import BuildConfig, shared_defaults
from ruleatlas.store import Catalog
from ruleatlas.web import site as web_site
from ruleatlas.web.attack_pages import write_attack_pages
from ruleatlas.web.catalog_site import write_catalog_pages
from ruleatlas.web.relations_pages import write_class_pages
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.telemetry_pages import TelemetryPagesJob, write_telemetry_pages
from ruleatlas.workers import map_batches

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("rules", "static", "catalog", "attack", "classes", "telemetry")


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(name: str, work: Callable[[], object], n: int | None = None) -> float:
    start, wall = cpu_seconds(), time.perf_counter()
    work()
    cpu, wall = cpu_seconds() - start, time.perf_counter() - wall
    per = f"  ({cpu / n * 1000:.2f} ms CPU per page, {n} pages)" if n else ""
    print(f"{name:<10} {cpu:7.2f} s CPU {wall:7.2f} s wall{per}", flush=True)
    return cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True, help="a catalog folder (build --no-pages)")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--site", type=Path, help="keep the site here (default: a temporary folder)")
    parser.add_argument("--only", default=",".join(FAMILIES))
    args = parser.parse_args()
    wanted = args.only.split(",")
    folder = args.catalog.resolve()
    catalog_path = folder / "catalog.sqlite"
    sources, attack, telemetry = shared_defaults(args.shared.resolve())
    samples = args.shared.resolve() / "logs"
    config = BuildConfig(
        out=folder, sources=sources, attack=attack, telemetry=telemetry, samples=samples, jobs=args.jobs
    )
    plan = plan_build(config, None, folder / "cache")  # the input fingerprints, for the cached inputs
    context = InputContext(config, folder / "cache", plan.keys)
    loaded = context.telemetry()
    catalog = Catalog(catalog_path)
    summaries = catalog.summaries()
    samples_key = catalog.meta().get("samples_key", "")
    catalog.close()
    uids = [s["uid"] for s in summaries]
    with tempfile.TemporaryDirectory(prefix="ruleatlas-bench-pages-") as tmp:
        site = args.site.resolve() if args.site else Path(tmp) / "site"
        site.mkdir(parents=True, exist_ok=True)
        print(f"catalog {catalog_path} ({len(uids)} rules), jobs {args.jobs}, site {site}")
        total = 0.0
        if "site" in wanted:  # the whole pages step as the build runs it: every family, on `--jobs` cores
            job = TelemetryPagesJob(
                telemetry=loaded.value if loaded else None,
                samples=context.samples(samples_key),
                events=None,
                catalog_dir=folder,
            )
            total += timed(
                "site",
                lambda: web_site.write_site(
                    site, catalog_path, uids, summaries, set(), jobs=args.jobs, telemetry_pages=job
                ),
                len(uids),
            )
        if "rules" in wanted:

            def rules() -> None:
                web_site._worker = None
                map_batches(
                    partial(web_site._render_batch, site, catalog_path),
                    uids,
                    args.jobs,
                    parallel_from=200,
                    least=25,
                    per_job=8,
                    serial_batch=100,
                )
                if web_site._worker is not None:
                    web_site._worker[1].close()
                    web_site._worker = None

            total += timed("rules", rules, len(uids))
        if "static" in wanted:
            total += timed("static", lambda: SiteRenderer().write_static(site))
        if "catalog" in wanted:
            total += timed(
                "catalog", lambda: write_catalog_pages(site, catalog_path, summaries, None, jobs=args.jobs)
            )
        if "attack" in wanted:
            linked = SiteRenderer(indicator_pages=True, field_pages=True, telemetry_pages=True)
            total += timed(
                "attack",
                lambda: write_attack_pages(site, catalog_path, changed=None, renderer=linked, jobs=args.jobs),
            )
        if "classes" in wanted:
            total += timed("classes", lambda: write_class_pages(site, catalog_path))
        if "telemetry" in wanted:
            job = TelemetryPagesJob(
                telemetry=loaded.value if loaded else None,
                samples=context.samples(samples_key),
                events=None,
                catalog_dir=folder,
            )
            renderer = SiteRenderer(indicator_pages=True, field_pages=True)
            total += timed(
                "telemetry",
                lambda: write_telemetry_pages(site, catalog_path, job, jobs=args.jobs, renderer=renderer),
            )
        print(f"{'total':<10} {total:7.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
