"""The collection pages of the static site: `telemetry/priority/`, `coverage/` and `coverage/<platform>/`.

Written by `write_telemetry_pages` beside the platform pages (web/telemetry_pages.py), from the views of
web/collection_views.py, which the API returns as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from ruleatlas.web.collection_views import (
    COVERAGE_PATH,
    PRIORITY_PATH,
    coverage_matrix_view,
    coverage_path,
    priority_view,
)
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.telemetry_views import TelemetryAtlas
from ruleatlas.web.urls import page_file

if TYPE_CHECKING:
    from ruleatlas.web.telemetry_pages import TelemetryPageRenderer


class PlatformLink(TypedDict):
    key: str
    label: str
    path: str


def _platform_links(atlas: TelemetryAtlas) -> list[PlatformLink]:
    return [
        {"key": key, "label": p.label, "path": coverage_path(key)}
        for key, p in atlas.telemetry.platforms.items()
    ]


def priority_page(pages: TelemetryPageRenderer, atlas: TelemetryAtlas) -> str:
    page = PRIORITY_PATH
    crumbs = pages.crumbs(page, ("Collection priority", page))
    return pages.render(
        "telemetry_priority", page, "Collection priority", priority_view(atlas), crumbs=crumbs
    )


def coverage_page(pages: TelemetryPageRenderer, atlas: TelemetryAtlas, platform: str) -> str | None:
    view = coverage_matrix_view(atlas, platform)
    if view is None:
        return None
    page = view["path"]
    crumbs = pages.crumbs(page, (f"{view['label']} coverage", page))
    return pages.render(
        "coverage_platform",
        page,
        f"{view['label']} coverage matrix",
        view,
        current=COVERAGE_PATH,
        crumbs=crumbs,
        platforms=_platform_links(atlas),
    )


def coverage_index_page(pages: TelemetryPageRenderer, atlas: TelemetryAtlas | None) -> str:
    """One link per platform (its figures are on its own page: working out every matrix here would cost a
    one-rule rebuild a second of CPU); without telemetry definitions, a page that says so."""
    platforms = _platform_links(atlas) if atlas is not None else []
    return pages.render(
        "coverage_index", COVERAGE_PATH, "Coverage matrices", {}, current=COVERAGE_PATH, platforms=platforms
    )


def write_collection_pages(
    site: Path,
    pages: TelemetryPageRenderer,
    atlas: TelemetryAtlas,
    platforms: set[str] | None,
    *,
    priority: bool = True,
    coverage: bool = True,
) -> int:
    """The priority page (it ranks every event) unless `priority` is False, the coverage index (it lists the
    platforms: only a full build, or when it is missing), and the coverage matrices of `platforms` (None: all)
    unless `coverage` is False. A page the site lacks is written all the same."""

    def missing(path: str) -> bool:
        return not (site / page_file(path)).is_file()

    written = 0
    if priority or missing(PRIORITY_PATH):
        SiteRenderer.write_page(site, PRIORITY_PATH, priority_page(pages, atlas))
        written += 1
    if platforms is None or missing(COVERAGE_PATH):
        SiteRenderer.write_page(site, COVERAGE_PATH, coverage_index_page(pages, atlas))
        written += 1
    for key in sorted(atlas.telemetry.platforms if platforms is None else platforms):
        if not coverage and not missing(coverage_path(key)):
            continue
        html = coverage_page(pages, atlas, key)
        if html is not None:
            SiteRenderer.write_page(site, coverage_path(key), html)
            written += 1
    return written
