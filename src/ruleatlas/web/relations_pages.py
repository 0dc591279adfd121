"""The equivalence-class pages of the static site: `rules/eq/` (every class, largest first) and
`rules/eq/<id>/` (a class's members across vendors, each with its stages in its own syntax).

Written at every build with pages: a page whose HTML is unchanged is left as it is, and the page of a class
that no longer exists is removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruleatlas.output import atomic
from ruleatlas.store import Catalog
from ruleatlas.store import relations as relations_store
from ruleatlas.web import urls
from ruleatlas.web.pages import CATALOG_CSS
from ruleatlas.web.relations_views import vendor_label
from ruleatlas.web.render import Chrome, SiteRenderer


class ClassPages:
    def __init__(self, renderer: SiteRenderer) -> None:
        self.renderer = renderer
        self._list = renderer.env.get_template("rule_classes.html")
        self._one = renderer.env.get_template("rule_class.html")

    def _chrome(self, page: str, title: str) -> Chrome:
        chrome = self.renderer._chrome(page, title, urls.RULES_PATH)
        chrome["catalog_css"] = self.renderer.link(page, CATALOG_CSS)
        return chrome

    def render_list(self, classes: list[dict[str, Any]]) -> str:
        page = urls.RULE_CLASSES_PATH
        rows = [
            {
                **c,
                "href": self.renderer.link(page, urls.rule_class_path(c["id"])),
                "vendors": [vendor_label(v) for v in c["vendors"]],
            }
            for c in classes
        ]
        return self._list.render(**self._chrome(page, "Equivalence classes"), classes=rows)

    def render_class(self, detail: dict[str, Any]) -> str:
        page = urls.rule_class_path(detail["id"])
        members = [
            {
                **m,
                "href": self.renderer.link(page, urls.rule_path(m["uid"])),
                "vendor": vendor_label(m["vendor"]),
            }
            for m in detail["members"]
        ]
        return self._one.render(
            **self._chrome(page, f"Equivalence class {detail['id']}"),
            id=detail["id"],
            size=detail["size"],
            shape=detail["shape"],
            members=members,
            classes_href=self.renderer.link(page, urls.RULE_CLASSES_PATH),
        )


def _write_if_changed(target: Path, html: str) -> bool:
    try:
        if target.read_text(encoding="utf-8") == html:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(target, html)
    return True


def write_class_pages(site: Path, catalog_path: Path, renderer: SiteRenderer | None = None) -> int:
    """Write the class list and every class page; returns the pages written."""
    pages = ClassPages(renderer or SiteRenderer(indicator_pages=True, field_pages=True, telemetry_pages=True))
    catalog = Catalog(catalog_path)
    written = 0
    try:
        classes = relations_store.classes(catalog.db)
        root = site / urls.RULE_CLASSES_PATH
        written += _write_if_changed(
            site.joinpath(*urls.page_file(urls.RULE_CLASSES_PATH).parts), pages.render_list(classes)
        )
        keep = set()
        for item in classes:
            detail = relations_store.class_detail(catalog.db, item["id"])
            if detail is None:
                continue
            path = urls.rule_class_path(item["id"])
            keep.add(item["id"])
            written += _write_if_changed(
                site.joinpath(*urls.page_file(path).parts), pages.render_class(detail)
            )
        if root.is_dir():
            for child in root.iterdir():
                if child.is_dir() and child.name not in keep:
                    atomic.remove(child)
    finally:
        catalog.close()
    return written
