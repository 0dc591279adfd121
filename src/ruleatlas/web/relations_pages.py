"""The equivalence-class pages of the static site: `rules/eq/` (every class, largest first) and
`rules/eq/<id>/` (a class's members across vendors, each with its stages in its own syntax).

A full render writes the list and every class page, and removes the pages of classes that no longer exist.
An incremental one (`changed`: the rules stored again or removed, with the catalog they were in before)
renders only the pages of the classes those rules were or are in: a class page reads its members' rows
alone (title, vendor, document, form), and no other rule's rows changed. The list is rendered at every
build (one page); a page whose HTML is unchanged is left as it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from pathlib import Path

from ruleatlas.output import atomic
from ruleatlas.store import Catalog
from ruleatlas.store import relations as relations_store
from ruleatlas.store.relations import ClassDetail, ClassSummary
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

    def render_list(self, classes: list[ClassSummary]) -> str:
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

    def render_class(self, detail: ClassDetail) -> str:
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


def _class_keys(db: sqlite3.Connection, uids: Collection[str]) -> set[str]:
    """The classes `uids` are members of."""
    has_table = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rel_classes'")
    if not uids or has_table.fetchone() is None:
        return set()
    keys: set[str] = set()
    uid_list = sorted(uids)
    for start in range(0, len(uid_list), 500):
        part = uid_list[start : start + 500]
        keys.update(
            key
            for (key,) in db.execute(
                f"SELECT DISTINCT class_key FROM rel_classes WHERE uid IN ({','.join('?' * len(part))})", part
            )
        )
    return keys


def _previous_class_keys(previous_catalog: Path, uids: Collection[str]) -> set[str] | None:
    """The classes `uids` were in at the previous build; None when that catalog cannot be read."""
    try:
        db = sqlite3.connect(f"file:{previous_catalog}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return _class_keys(db, uids)
    except sqlite3.Error:
        return None
    finally:
        db.close()


def write_class_pages(
    site: Path,
    catalog_path: Path,
    renderer: SiteRenderer | None = None,
    *,
    changed: Collection[str] | None = None,
    previous_catalog: Path | None = None,
) -> int:
    """Write the class list and the class pages (module docstring: all of them, or with `changed` and
    `previous_catalog` those of the classes the changed rules were or are in); returns the pages written."""
    pages = ClassPages(renderer or SiteRenderer(indicator_pages=True, field_pages=True, telemetry_pages=True))
    catalog = Catalog(catalog_path)
    written = 0
    try:
        classes = relations_store.classes(catalog.db)
        root = site / urls.RULE_CLASSES_PATH
        written += _write_if_changed(
            site.joinpath(*urls.page_file(urls.RULE_CLASSES_PATH).parts), pages.render_list(classes)
        )
        before = (
            _previous_class_keys(previous_catalog, changed)
            if changed is not None and previous_catalog is not None
            else None
        )
        if before is not None and changed is not None:
            todo = before | _class_keys(catalog.db, changed)
            for key in sorted(todo):
                detail = relations_store.class_detail(catalog.db, key)
                target = site.joinpath(*urls.page_file(urls.rule_class_path(key)).parts)
                if detail is None:  # the class is gone
                    if target.parent.is_dir() and target.parent.resolve().is_relative_to(root.resolve()):
                        atomic.remove(target.parent)
                    continue
                written += _write_if_changed(target, pages.render_class(detail))
            return written
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
