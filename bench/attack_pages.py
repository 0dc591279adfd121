"""ATT&CK views: time to write every ATT&CK page (one and all cores), to rewrite them after one rule
changed, and to answer the ATT&CK API and `ruleatlas coverage` from a built catalog. Prints figures;
asserts nothing.

    .venv/bin/python bench/attack_pages.py --catalog DIR     # DIR from `ruleatlas build --out DIR`

Pages go to a temporary folder; the catalog is only read. Times are wall-clock and CPU of this process
(the workers' CPU is not in the second figure).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruleatlas.analysis.coverage import AttackFilters
from ruleatlas.analysis.coverage_matrix import coverage_summary
from ruleatlas.store import attack as store_attack
from ruleatlas.store import open_catalog
from ruleatlas.web import attack_answers
from ruleatlas.web.attack_pages import write_attack_pages
from ruleatlas.web.render import SiteRenderer

SEED = "sigma/net_connection_win_domain_localtonet_tunnel"


def timed(label: str, work: Callable[[], Any], repeat: int = 1) -> Any:
    best_wall, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(f"{label:<46} {best_wall * 1000:8.1f} ms wall  {best_cpu * 1000:8.1f} ms cpu (best of {repeat})")
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True)
    args = parser.parse_args()
    catalog_path = args.catalog / "catalog.sqlite"
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, catalog {args.catalog}")
    renderer = SiteRenderer(indicator_pages=True, field_pages=True)
    with tempfile.TemporaryDirectory(prefix="ruleatlas-attack-bench-") as tmp:
        site, manifest = Path(tmp) / "site", Path(tmp) / "pages.json"
        for jobs in (1, 2):
            result = timed(
                f"all ATT&CK pages, jobs {jobs}",
                lambda jobs=jobs: (
                    manifest.unlink(missing_ok=True),
                    write_attack_pages(site, catalog_path, renderer=renderer, manifest=manifest, jobs=jobs),
                )[1],
            )
        print(f"  pages written: {result.written}")
        result = timed(
            "after one rule changed (its techniques only)",
            lambda: write_attack_pages(
                site, catalog_path, renderer=renderer, manifest=manifest, changed={SEED}
            ),
            repeat=3,
        )
        print(f"  pages written: {result.written} {sorted(result.written_paths)}")
    with open_catalog(args.catalog) as catalog:
        timed(
            "API /api/attack/techniques/T1059 (406 rules)",
            lambda: attack_answers.technique_api(catalog, "T1059"),
            5,
        )
        timed("API /api/attack/techniques/T1572", lambda: attack_answers.technique_api(catalog, "T1572"), 5)
        timed("API /api/attack/tactics/TA0005", lambda: attack_answers.tactic_api(catalog, "TA0005"), 5)
        timed(
            "API /api/attack/gaps?platform=Windows",
            lambda: attack_answers.gaps_api(catalog, AttackFilters(platform="Windows")),
            5,
        )

        def summary() -> Any:
            attack = store_attack.attack_data(catalog)
            assert attack is not None
            return coverage_summary(attack_answers.coverage_index(catalog, attack))

        timed("ruleatlas coverage (summary, no printing)", summary, 5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
