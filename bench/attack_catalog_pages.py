"""CPU seconds of the ATT&CK and catalog pages (web/attack_pages.py, web/catalog_site.py) in a one-rule
rebuild, without the rest of a build: in a work folder, a copy of a built catalog (and its site) gets all
those pages written once (the full render, timed too), then each edit is made in a copy of the catalog's
rows (a rule's level, its title, one of its techniques) and the two steps run as an incremental build runs
them, timed with `time.process_time()` (this process: incremental renders use no workers). Asserts nothing.

    .venv/bin/python bench/attack_catalog_pages.py --catalog /tmp/rebuild/out --work /tmp/acp

`--catalog`: a built catalog folder (bench/rebuild.py's `out`); its site is copied into the work folder.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from ruleatlas.store import Catalog
from ruleatlas.web.attack_pages import write_attack_pages
from ruleatlas.web.catalog_changes import catalog_changes
from ruleatlas.web.catalog_site import write_catalog_pages
from ruleatlas.web.render import SiteRenderer

UID = "sigma/net_connection_win_domain_localtonet_tunnel"
EDITS = {
    "level": "UPDATE rules SET level = CASE level WHEN 'high' THEN 'critical' ELSE 'high' END WHERE uid = ?",
    "title": "UPDATE rules SET title = 'Traffic To LocaltoNet' || title WHERE uid = ?",
    "tag": "UPDATE rule_techniques SET technique_id = 'T1219' WHERE uid = ? AND technique_id = 'T1102'",
}


def run(
    site: Path, catalog: Path, changed: set[str] | None, previous: Path | None, jobs: int
) -> tuple[float, float]:
    renderer = SiteRenderer(indicator_pages=True, field_pages=True, telemetry_pages=True)
    opened = Catalog(catalog)
    try:
        summaries = opened.summaries()
        keys = (
            None
            if changed is None
            else set(
                opened.db.execute(
                    "SELECT field, kind, value, transforms FROM indicators WHERE uid = ?", (UID,)
                )
            )
        )
    finally:
        opened.close()
    start = time.process_time()
    changes = None if changed is None else catalog_changes(previous, catalog, changed)
    write_catalog_pages(
        site, catalog, summaries, keys, jobs=jobs, changed_rules=changed or (), changes=changes
    )
    middle = time.process_time()
    write_attack_pages(site, catalog, changed=changed, renderer=renderer, jobs=jobs)
    return middle - start, time.process_time() - middle


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--skip-full", action="store_true", help="the work folder holds a full render already"
    )
    args = parser.parse_args()
    work: Path = args.work
    site, current, previous = work / "site", work / "cur", work / "prev"
    if not args.skip_full:
        shutil.rmtree(work, ignore_errors=True)
        current.mkdir(parents=True)
        previous.mkdir()
        shutil.copytree(args.catalog / "site", site, symlinks=True)
        shutil.copyfile(args.catalog / "catalog.sqlite", current / "catalog.sqlite")
        catalog_s, attack_s = run(site, current / "catalog.sqlite", None, None, args.jobs)
        print(
            f"full render (this process, not its workers): catalog {catalog_s:.2f} s, ATT&CK {attack_s:.2f} s"
        )
    for what, sql in EDITS.items():
        shutil.copyfile(current / "catalog.sqlite", previous / "catalog.sqlite")
        db = sqlite3.connect(current / "catalog.sqlite")
        db.execute(sql, (UID,))
        db.commit()
        db.close()
        catalog_s, attack_s = run(
            site, current / "catalog.sqlite", {UID}, previous / "catalog.sqlite", args.jobs
        )
        print(f"{what}: catalog pages {catalog_s:.3f} s CPU, ATT&CK pages {attack_s:.3f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
