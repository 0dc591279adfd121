"""The ATT&CK pages of the site: `/attack/` (matrix), `/attack/<technique>/`, `/attack/tactics/<tactic>/`,
`/attack/gaps/`.

Every build computes every page's view from the catalog in one pass (a few SQL reads, then
`ruleatlas.analysis.coverage` and `technique_guide` in memory) and hashes it; a page is rendered and written
again only when its hash (view + templates) differs from the one recorded at the last build, or its file is
missing. So a one-rule rebuild rewrites the pages of the techniques that rule had before and after, their
tactics, the matrix and gaps pages, and the pages whose indicator corpus counts moved, and nothing else.
The record lives beside the catalog (`cache/attack-pages.json`), never in the published site.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Template

from ruleatlas.analysis.coverage import (
    AttackFilters,
    build_matrix,
    data_platforms,
    index_coverage,
    restrict,
    tactic_report,
)
from ruleatlas.analysis.technique_guide import CorpusReach, group_rows, rule_keys, technique_report
from ruleatlas.store import Catalog
from ruleatlas.store import attack as store_attack
from ruleatlas.web import urls
from ruleatlas.web.attack_views import gaps_view, matrix_view, tactic_view, technique_view
from ruleatlas.web.render import SiteRenderer, templates_fingerprint

MANIFEST_FILE = "attack-pages.json"
MANIFEST_FORMAT = "ruleatlas-attack-pages/1"
TEMPLATES = ("matrix", "technique", "tactic", "gaps", "missing")
STYLESHEET = urls.STATIC_PATH + "attack.css"


@dataclass(slots=True)
class PageSpec:
    """One page to write: its template, title and view."""

    template: str
    title: str
    view: dict[str, Any]

    def digest(self, templates_key: str) -> str:
        text = json.dumps([templates_key, self.template, self.title, self.view], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


@dataclass(slots=True)
class AttackPagesResult:
    written: int = 0
    kept: int = 0
    removed: int = 0


class AttackPageRenderer:
    """Renders ATT&CK page specs with the site's renderer (its templates, chrome and link style)."""

    def __init__(self, renderer: SiteRenderer | None = None) -> None:
        self.renderer = renderer or SiteRenderer()
        self.templates: dict[str, Template] = {}  # compiled on first use: a no-change build needs none
        self._rule_links: dict[str, str] = {}

    def template(self, name: str) -> Template:
        if name not in TEMPLATES:
            raise ValueError(f"no ATT&CK page template {name!r}")
        if name not in self.templates:
            self.templates[name] = self.renderer.env.get_template(f"attack_{name}.html")
        return self.templates[name]

    def technique_rule_link(self, uid: str) -> str:
        """A rule's link from a technique page. Technique pages all sit at `attack/<id>/`, so the link is
        the same from each of them; rules under many techniques are linked once."""
        href = self._rule_links.get(uid)
        if href is None:
            try:
                href = self.renderer.link(urls.attack_technique_path("T0000"), urls.rule_path(uid))
            except ValueError:
                href = ""
            self._rule_links[uid] = href
        return href

    def linker(self, page: str) -> Callable[[str], str]:
        def link(target: str) -> str:
            return self.renderer.link(page, target)

        return link

    @property
    def flags(self) -> dict[str, bool]:
        return {
            "indicator_pages": self.renderer.indicator_pages,
            "field_pages": self.renderer.field_pages,
        }

    def render(self, path: str, spec: PageSpec) -> str:
        chrome = self.renderer._chrome(path, spec.title, current=urls.ATTACK_PATH)
        return self.template(spec.template).render(
            {**chrome, **spec.view, "attack_css": self.renderer.link(path, STYLESHEET)}
        )


def collect_pages(catalog: Catalog, pages: AttackPageRenderer) -> dict[str, PageSpec]:
    """Every ATT&CK page of the site, by site path, from one read of the catalog."""
    attack = store_attack.attack_data(catalog)
    if attack is None:
        return {urls.ATTACK_PATH: PageSpec("missing", "ATT&CK coverage", {})}
    rules = store_attack.tagged_rules(catalog)
    placements = store_attack.placements(catalog)
    index = index_coverage(attack, rules, placements)
    matrix = build_matrix(index)
    indicators = rule_keys(store_attack.indicator_rows(catalog))
    events = group_rows(store_attack.event_rows(catalog))
    reach = CorpusReach(store_attack.corpus_reach(catalog))
    titles = {uid: rule.title for uid, rule in rules.items()}
    specs: dict[str, PageSpec] = {}

    path = urls.ATTACK_PATH
    view = matrix_view(
        matrix, index, pages.linker(path), store_attack.counted_rules_without_techniques(catalog)
    )
    specs[path] = PageSpec("matrix", "ATT&CK coverage", view)

    for tid in attack.techniques:
        report = technique_report(index, tid, indicators, events, reach)
        if report is None:
            continue
        path = urls.attack_technique_path(tid)
        view = technique_view(
            report, attack, pages.linker(path), titles, pages.flags, pages.technique_rule_link
        )
        specs[path] = PageSpec("technique", f"{tid} {report['name']}", view)

    for tactic in attack.tactics:
        tactic_data = tactic_report(index, matrix, tactic.id)
        if tactic_data is None:
            continue
        path = urls.attack_tactic_path(tactic.id)
        specs[path] = PageSpec(
            "tactic", f"{tactic.id} {tactic.name}", tactic_view(tactic_data, attack, pages.linker(path))
        )

    per_platform = {"": index}
    for platform in data_platforms(attack):
        per_platform[platform] = restrict(index, AttackFilters(platform=platform))
    path = urls.ATTACK_GAPS_PATH
    specs[path] = PageSpec("gaps", "ATT&CK coverage gaps", gaps_view(per_platform, pages.linker(path)))
    return specs


def _read_manifest(path: Path | None, site: Path) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged record only costs a full re-render
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or data.get("site") != str(site):
        return {}
    pages = data.get("pages")
    return {str(k): str(v) for k, v in pages.items()} if isinstance(pages, dict) else {}


def _write_manifest(path: Path | None, site: Path, pages: dict[str, str]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"format": MANIFEST_FORMAT, "site": str(site), "pages": pages}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def default_manifest(catalog_path: Path) -> Path:
    """Where the page record of a catalog lives: its build cache, beside the catalog file."""
    return catalog_path.parent / "cache" / MANIFEST_FILE


def write_attack_pages(
    site: Path,
    catalog_path: Path,
    *,
    renderer: SiteRenderer | None = None,
    manifest: Path | None = None,
) -> AttackPagesResult:
    """Write the ATT&CK pages whose view changed since the last build; remove those no longer produced.

    `manifest`: the page record (default: `default_manifest(catalog_path)`).
    """
    pages = AttackPageRenderer(renderer)
    manifest = manifest if manifest is not None else default_manifest(catalog_path)
    root = site.resolve()
    previous = _read_manifest(manifest, root)
    catalog = Catalog(catalog_path)
    try:
        specs = collect_pages(catalog, pages)
    finally:
        catalog.close()
    key = templates_fingerprint()
    result = AttackPagesResult()
    current: dict[str, str] = {}
    for path, spec in specs.items():
        digest = spec.digest(key)
        current[path] = digest
        target = site.joinpath(*urls.page_file(path).parts)
        if previous.get(path) == digest and target.is_file():
            result.kept += 1
            continue
        pages.renderer.write_page(site, path, pages.render(path, spec))
        result.written += 1
    for path in set(previous) - set(current):
        result.removed += _remove_page(site, root, path)
    _write_manifest(manifest, root, current)
    return result


def _remove_page(site: Path, root: Path, path: str) -> int:
    """Delete a page that is no longer produced (its index.html; its folder when nothing else is left)."""
    if not path.startswith(urls.ATTACK_PATH):
        return 0
    try:
        target = site.joinpath(*urls.page_file(path).parts)
    except ValueError:
        return 0
    if not target.is_file() or not target.resolve().is_relative_to(root):
        return 0
    target.unlink()
    folder = target.parent
    if folder.resolve() != root and not any(folder.iterdir()):
        shutil.rmtree(folder)
    return 1
