"""The readiness report kept beside the catalog, and its page written into the catalog's current site."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ruleatlas.output.generation import SITE
from ruleatlas.telemetry.report import REPORT_FILE, ReadinessReport
from ruleatlas.web import urls
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.telemetry_pages import TelemetryPageRenderer


def write_readiness(catalog_dir: Path, report: ReadinessReport) -> Path:
    """Keep the report beside the catalog and write its page into the catalog's site (when it has one);
    the build re-renders that page from the kept report."""
    target = catalog_dir / REPORT_FILE
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, target)
    site = catalog_dir / SITE
    if site.is_dir():
        pages = TelemetryPageRenderer(SiteRenderer(indicator_pages=True, field_pages=True))
        SiteRenderer.write_page(
            site, urls.READINESS_PATH, pages.readiness_page(report, report["catalog_rules"])
        )
    return target
