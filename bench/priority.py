"""Collection priority figures on a built catalog: the CPU cost of the whole-catalog model (rule needs with
bridges, priorities), of the priority page and of every coverage matrix, and the top events per platform.
Prints; asserts nothing.

    .venv/bin/ruleatlas build --shared ../shared --out /tmp/cat --no-pages
    .venv/bin/python bench/priority.py /tmp/cat [--top 10] [--platform windows]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ruleatlas.store import open_catalog
from ruleatlas.store.telemetry import TelemetryQueries
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.web.collection_views import collection_model, coverage_matrix_view, priority_view
from ruleatlas.web.telemetry_views import TelemetryAtlas


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("catalog", type=Path, help="a catalog folder (or its catalog.sqlite)")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--platform", action="append", default=[], help="platforms to list (default: all)")
    args = parser.parse_args()
    path = args.catalog / "catalog.sqlite" if args.catalog.is_dir() else args.catalog
    with open_catalog(path) as catalog:
        started = time.process_time()
        telemetry = TelemetryCatalog.from_json(catalog.blob("telemetry"))
        atlas = TelemetryAtlas(telemetry, TelemetryQueries(catalog.db))
        loaded = time.process_time()
        model = collection_model(atlas)
        modelled = time.process_time()
        view = priority_view(atlas, args.top)
        ranked = time.process_time()
        for key in telemetry.platforms:
            coverage_matrix_view(atlas, key)
        matrices = time.process_time()
    print(f"definitions and atlas: {loaded - started:.2f} s CPU")
    print(
        f"model ({len(model.needs):,} detection rules, {len(model.priorities):,} events): "
        f"{modelled - loaded:.2f} s CPU"
    )
    print(
        f"priority view: {ranked - modelled:.2f} s CPU; every coverage matrix: {matrices - ranked:.2f} s CPU"
    )
    for platform in view["platforms"]:
        if args.platform and platform["key"] not in args.platform:
            continue
        print(f"\n{platform['label']} ({platform['events']:,} named events)")
        for e in platform["ranked"]:
            split = ", ".join(f"{v} {n}" for v, n in e["by_vendor"].items())
            title = f" ({e['title']})" if e["title"] else ""
            print(
                f"{e['rank']:>4}. {e['label']}{title}: priority {e['priority']}, "
                f"{e['rules']:,} rules ({split}), {e['alone']:,} only here"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
