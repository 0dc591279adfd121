"""The ATT&CK pages of the site: `/attack/` (matrix), `/attack/<technique>/`, `/attack/tactics/<tactic>/`,
`/attack/gaps/`.

A full build renders them all from one read of the catalog (a few SQL reads, then
`ruleatlas.analysis.coverage` and `technique_guide` in memory). A build that re-rendered only some rules'
pages passes those rules (`changed`): a technique page depends only on the rules tagging the technique, its
sub-techniques or the retired ids it replaces (their documents and indicator corpus counts, which the build
reports through exactly those rules), so only the pages of the techniques those rules tag now or tagged at
the last build are rendered again; the matrix, tactic and gaps pages are recomputed and written when their
view changed. What each rule tagged, and the aggregate pages' view hashes, are recorded beside the catalog
(`cache/attack-pages.json`), never in the published site.

What the aggregate pages read of a rule is its row's kind, status, level, vendor, log source and placements
(the record keeps them per tagged rule). When the changed rules' rows differ at most in level or vendor, only
the matrix can change, and it is made from the recorded matrix frame and per-rule filter data with those
rules' entries replaced; the technique pages are made from the rows of the rules under their techniques
alone. Any other change (a tag, a kind or status, a log source, a rule tagged or untagged) recomputes the
aggregate pages from every rule, as a full render does.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard

from jinja2 import Template

from ruleatlas.analysis.coverage import (
    AttackFilters,
    CoverageIndex,
    Placement,
    RuleInfo,
    data_platforms,
    index_coverage,
    restrict,
)
from ruleatlas.analysis.coverage_matrix import Matrix, build_matrix, tactic_report
from ruleatlas.analysis.technique_guide import (
    CorpusReach,
    EventRow,
    RuleKeys,
    group_rows,
    rule_keys,
    technique_report,
)
from ruleatlas.attack import AttackData
from ruleatlas.output import atomic
from ruleatlas.store import Catalog
from ruleatlas.store import attack as store_attack
from ruleatlas.web import attack_answers, urls
from ruleatlas.web.attack_views import (
    MatrixFrame,
    MatrixRule,
    gaps_view,
    matrix_frame,
    matrix_page_view,
    tactic_view,
    technique_view,
)
from ruleatlas.web.render import SiteRenderer, _use_fast_escape, templates_fingerprint
from ruleatlas.workers import batch_size, forked_pool

MANIFEST_FILE = "attack-pages.json"
MANIFEST_FORMAT = "ruleatlas-attack-pages/3"
TEMPLATES = ("matrix", "technique", "tactic", "gaps", "missing")
STYLESHEET = urls.STATIC_PATH + "attack.css"


@dataclass(slots=True)
class PageSpec:
    """One page to write: its template, title and view."""

    template: str
    title: str
    view: Mapping[str, Any]  # one of attack_views' views (TechniqueView, MatrixView, TacticView, GapsView)

    def digest(self, templates_key: str) -> str:
        text = json.dumps([templates_key, self.template, self.title, self.view], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


@dataclass(slots=True)
class AttackPagesResult:
    mode: str = "full"
    written: int = 0
    kept: int = 0
    removed: int = 0
    written_paths: list[str] = field(default_factory=list)


class RuleSignature(NamedTuple):
    """A tagged rule as the aggregate pages read it (kept in the record as a JSON list)."""

    kind: str
    status: str
    level: str
    vendor: str
    product: str
    service: str
    placements: tuple[str, ...]  # flat and sorted: technique, tactic, technique, tactic, ...

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> RuleSignature:
        kind, status, level, vendor, product, service, placements = row
        return cls(
            str(kind),
            str(status),
            str(level),
            str(vendor),
            str(product),
            str(service),
            tuple(str(p) for p in placements),
        )


FACET_COLUMNS = (2, 3)  # level and vendor: of the aggregate pages, only the matrix's filter data shows them


def _matrix_frame(data: object) -> MatrixFrame | None:
    """The kept frame, or None (no record of one: the next build renders the matrix from every rule)."""
    return data if _is_frame(data) else None


def _is_frame(data: object) -> TypeGuard[MatrixFrame]:
    return isinstance(data, dict) and isinstance(data.get("columns"), list) and "cells" in data


def matrix_rule_from_json(row: Sequence[Any]) -> MatrixRule:
    vendor, level, status, mask, cells = row
    return (str(vendor), str(level), str(status), int(mask), [int(c) for c in cells])


def rule_signatures(
    rules: Mapping[str, RuleInfo], placements: Iterable[Placement]
) -> dict[str, RuleSignature]:
    placed: dict[str, set[tuple[str, str]]] = {}
    for p in placements:
        placed.setdefault(p.uid, set()).add((p.technique_id, p.tactic_id))
    return {
        uid: RuleSignature(
            r.kind,
            r.status,
            r.level,
            r.vendor,
            r.product,
            r.service,
            tuple(part for pair in sorted(placed.get(uid, ())) for part in pair),
        )
        for uid, r in rules.items()
    }


def signature_tags(signature: RuleSignature | None) -> list[str]:
    """The technique ids a signature places, in order, once each."""
    return list(dict.fromkeys(signature.placements[0::2])) if signature else []


@dataclass(slots=True)
class Manifest:
    """What the last build wrote: the hash of each aggregate page's view, the technique pages, each tagged
    rule's `RuleSignature`, and the matrix page's frame and per-rule filter data (`matrix_frame`)."""

    templates_key: str
    attack_version: str
    aggregates: dict[str, str] = field(default_factory=dict)
    techniques: list[str] = field(default_factory=list)
    rules: dict[str, RuleSignature] = field(default_factory=dict)
    matrix_frame: MatrixFrame | None = None
    matrix_rules: dict[str, MatrixRule] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path | None, site: str) -> Manifest | None:
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != MANIFEST_FORMAT or data.get("site") != site:
                return None
            return cls(
                str(data["templates_key"]),
                str(data["attack_version"]),
                {str(k): str(v) for k, v in data["aggregates"].items()},
                [str(p) for p in data["techniques"]],
                {str(u): RuleSignature.from_json(r) for u, r in data["rules"].items()},
                _matrix_frame(data["matrix_frame"]),
                {str(u): matrix_rule_from_json(r) for u, r in data["matrix_rules"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # a damaged record only costs a full render

    def write(self, path: Path | None, site: str) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "format": MANIFEST_FORMAT,
            "site": site,
            "templates_key": self.templates_key,
            "attack_version": self.attack_version,
            "aggregates": self.aggregates,
            "techniques": self.techniques,
            "rules": self.rules,
            "matrix_frame": self.matrix_frame,
            "matrix_rules": self.matrix_rules,
        }
        atomic.write_text(path, json.dumps(body, sort_keys=True, separators=(",", ":")))


class AttackPageRenderer:
    """Renders ATT&CK page specs with the site's renderer (its templates, chrome and link style)."""

    def __init__(self, renderer: SiteRenderer | None = None) -> None:
        self.renderer = renderer or SiteRenderer()
        self.templates: dict[str, Template] = {}  # compiled on first use
        self._rule_links: dict[str, str] = {}

    def template(self, name: str) -> Template:
        if name not in TEMPLATES:
            raise ValueError(f"no ATT&CK page template {name!r}")
        if name not in self.templates:
            template = self.renderer.env.get_template(f"attack_{name}.html")
            for compiled in (template, self.renderer.env.get_template("attack_macros.html")):
                _use_fast_escape(compiled)
            self.templates[name] = template
        return self.templates[name]

    def linker(self, page: str) -> Callable[[str], str]:
        def link(target: str) -> str:
            return self.renderer.link(page, target)

        return link

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

    @property
    def flags(self) -> dict[str, bool]:
        return {
            "indicator_pages": self.renderer.indicator_pages,
            "field_pages": self.renderer.field_pages,
            "telemetry_pages": getattr(self.renderer, "telemetry_pages", False),
        }

    def render(self, path: str, spec: PageSpec) -> str:
        chrome = self.renderer._chrome(path, spec.title, current=urls.ATTACK_PATH)
        return self.template(spec.template).render(
            {**chrome, **spec.view, "attack_css": self.renderer.link(path, STYLESHEET)}
        )


@dataclass(slots=True)
class AttackSite:
    """The catalog's ATT&CK coverage, read once for a build."""

    attack: AttackData
    rules: dict[str, RuleInfo]
    placements: list[Placement]
    index: CoverageIndex
    matrix: Matrix

    @classmethod
    def read(cls, catalog: Catalog) -> AttackSite | None:
        attack = store_attack.attack_data(catalog)
        if attack is None:
            return None
        rules = store_attack.tagged_rules(catalog)
        placements = store_attack.placements(catalog)
        index = index_coverage(attack, rules, placements)
        return cls(attack, rules, placements, index, build_matrix(index))

    @classmethod
    def read_under(cls, catalog: Catalog, attack: AttackData, technique_ids: Iterable[str]) -> AttackSite:
        """Only the rules that the pages of `technique_ids` show (every rule naming one of the ids each
        page covers), with all their placements: enough for those technique pages, as the technique API
        route does. Its matrix counts only these rules; no aggregate page is made from it."""
        covered = {c for tid in technique_ids for c in attack_answers.covered_ids(attack, tid)}
        uids = {p.uid for p in store_attack.placements(catalog, covered)} if covered else set()
        rules = store_attack.tagged_rules(catalog, uids)
        placements = store_attack.placements(catalog, uids=uids)
        index = index_coverage(attack, rules, placements)
        return cls(
            attack, rules, placements, index, Matrix(attack.version, AttackFilters(), [], 0, {}, 0, [])
        )


def pages_of(attack: AttackData, technique_ids: Iterable[str]) -> set[str]:
    """The technique pages that show rules tagging these ids: each id, the parent of a sub-technique, and
    for a retired id its replacement (and the replacement's parent)."""
    out: set[str] = set()
    for tid in technique_ids:
        tech = attack.technique(tid)
        if tech is None:
            continue
        out.add(tech.id)
        for t in (tech, attack.technique(tech.replaced_by) if tech.replaced_by else None):
            if t is None:
                continue
            out.add(t.id)
            if t.is_subtechnique and t.parent:
                out.add(t.parent)
    return out


@dataclass(slots=True)
class TechniqueInputs:
    """What technique reports read besides the coverage index: each rule's indicator keys and events,
    corpus reach, and rule titles."""

    indicators: dict[str, RuleKeys]
    events: dict[str, list[EventRow]]
    reach: CorpusReach
    titles: dict[str, str]

    @classmethod
    def read(
        cls, catalog: Catalog, data: AttackSite, technique_ids: Iterable[str] | None = None
    ) -> TechniqueInputs:
        """For every technique, or only the rules under `technique_ids`."""
        if technique_ids is None:
            rows = store_attack.indicator_rows(catalog)
            events = group_rows(store_attack.event_rows(catalog))
            reach = CorpusReach(store_attack.corpus_reach(catalog), spellings=catalog.spellings())
        else:
            uids = {
                u
                for tid in technique_ids
                for cid in attack_answers.covered_ids(data.attack, tid)
                for u in data.index.tagged.get(cid, ())
            }
            rows = store_attack.indicator_rows(catalog, uids)
            events = group_rows(store_attack.event_rows(catalog, uids))
            reach = CorpusReach(
                store_attack.corpus_reach(catalog, {r.key for r in rows}), spellings=catalog.spellings()
            )
        titles = {uid: rule.title for uid, rule in data.rules.items()}
        return cls(rule_keys(rows), events, reach, titles)


def technique_spec(
    data: AttackSite, inputs: TechniqueInputs, pages: AttackPageRenderer, technique_id: str
) -> tuple[str, PageSpec] | None:
    report = technique_report(data.index, technique_id, inputs.indicators, inputs.events, inputs.reach)
    if report is None:
        return None
    path = urls.attack_technique_path(technique_id)
    view = technique_view(
        report, data.attack, pages.linker(path), inputs.titles, pages.flags, pages.technique_rule_link
    )
    return path, PageSpec("technique", f"{technique_id} {report['name']}", view)


def technique_specs(
    catalog: Catalog, data: AttackSite, pages: AttackPageRenderer, technique_ids: Iterable[str] | None = None
) -> dict[str, PageSpec]:
    """The technique pages of `technique_ids` (default: every technique of the ATT&CK data)."""
    ids = list(data.attack.techniques) if technique_ids is None else sorted(set(technique_ids))
    inputs = TechniqueInputs.read(catalog, data, None if technique_ids is None else ids)
    return dict(made for tid in ids if (made := technique_spec(data, inputs, pages, tid)) is not None)


# Set in the parent before the pool forks: workers inherit them instead of receiving them pickled.
_FORKED: tuple[Path, AttackSite, TechniqueInputs, AttackPageRenderer] | None = None


def _render_techniques(ids: list[str]) -> list[str]:
    assert _FORKED is not None, "technique pages are rendered in forked workers only"
    site, data, inputs, pages = _FORKED
    written = []
    for tid in ids:
        made = technique_spec(data, inputs, pages, tid)
        if made is not None:
            path, spec = made
            pages.renderer.write_page(site, path, pages.render(path, spec))
            written.append(path)
    return written


def _submit_techniques(
    pool: ProcessPoolExecutor,
    site: Path,
    data: AttackSite,
    inputs: TechniqueInputs,
    pages: AttackPageRenderer,
    jobs: int,
) -> list[Future[list[str]]]:
    """Every technique page, rendered and written by forked workers (`jobs` of them, more slices than
    workers so both finish together)."""
    global _FORKED
    pages.template("technique")  # compiled once, before the fork
    _FORKED = (site, data, inputs, pages)
    ids = list(data.attack.techniques)
    size = batch_size(len(ids), jobs, per_job=4, least=20)
    return [pool.submit(_render_techniques, ids[i : i + size]) for i in range(0, len(ids), size)]


@dataclass(slots=True)
class Aggregates:
    """The matrix, tactic and gaps pages, and the matrix's two parts (`matrix_frame`) the record keeps."""

    specs: dict[str, PageSpec]
    matrix_frame: MatrixFrame
    matrix_rules: dict[str, MatrixRule]


MATRIX_TITLE = "ATT&CK coverage"


def aggregate_specs(catalog: Catalog, data: AttackSite, pages: AttackPageRenderer) -> Aggregates:
    """The matrix, tactic and gaps pages."""
    attack, index, matrix = data.attack, data.index, data.matrix
    specs: dict[str, PageSpec] = {}
    path = urls.ATTACK_PATH
    frame, matrix_rules = matrix_frame(
        matrix, index, pages.linker(path), store_attack.counted_rules_without_techniques(catalog)
    )
    specs[path] = PageSpec("matrix", MATRIX_TITLE, matrix_page_view(frame, matrix_rules))
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
    return Aggregates(specs, frame, matrix_rules)


def facet_only(
    previous: Mapping[str, RuleSignature], current: Mapping[str, RuleSignature], uids: Iterable[str]
) -> bool:
    """Whether the rows of `uids` differ between the two records at most in level or vendor (a rule tagged
    in one and not the other is a difference of more)."""
    for uid in uids:
        old, new = previous.get(uid), current.get(uid)
        if (old is None) != (new is None):
            return False
        if (
            old is not None
            and new is not None
            and any(o != n for i, (o, n) in enumerate(zip(old, new, strict=True)) if i not in FACET_COLUMNS)
        ):
            return False
    return True


def default_manifest(catalog_path: Path) -> Path:
    """Where the page record of a catalog lives: its build cache, beside the catalog file."""
    return catalog_path.parent / "cache" / MANIFEST_FILE


def write_attack_pages(
    site: Path,
    catalog_path: Path,
    *,
    changed: Collection[str] | None = None,
    renderer: SiteRenderer | None = None,
    manifest: Path | None = None,
    jobs: int = 1,
) -> AttackPagesResult:
    """Write the ATT&CK pages; with `changed` (uids of rules whose page was re-rendered or removed), only
    those that can have changed. `manifest`: the page record (default: `default_manifest(catalog_path)`);
    `jobs`: worker processes for a full render."""
    global _FORKED
    pages = AttackPageRenderer(renderer)
    manifest_path = manifest if manifest is not None else default_manifest(catalog_path)
    root = site.resolve()
    # The record names its site relative to itself: a catalog folder's generations each hold a site and a
    # record side by side (output/generation.py), and a copied generation's record stays valid.
    site_id = os.path.relpath(root, manifest_path.parent.resolve())
    key = templates_fingerprint()
    previous = Manifest.read(manifest_path, site_id)
    result = AttackPagesResult()
    catalog = Catalog(catalog_path)
    try:
        attack = store_attack.attack_data(catalog)
        if attack is None:
            specs = {urls.ATTACK_PATH: PageSpec("missing", MATRIX_TITLE, {})}
            _write(site, pages, specs, result)
            for path in previous.techniques if previous is not None else ():
                result.removed += _remove_page(site, root, path)
            Manifest(key, "").write(manifest_path, site_id)
            return result
        if (
            changed is not None
            and previous is not None
            and previous.templates_key == key
            and previous.attack_version == attack.version
            and previous.matrix_frame
        ):
            record = _write_incremental(site, catalog, attack, pages, previous, changed, result)
        else:
            record = _write_full(site, root, catalog, attack, pages, previous, jobs, result)
    finally:
        catalog.close()
    record.write(manifest_path, site_id)
    return result


def _exists(site: Path, path: str) -> bool:
    return site.joinpath(*urls.page_file(path).parts).is_file()


def _write_incremental(
    site: Path,
    catalog: Catalog,
    attack: AttackData,
    pages: AttackPageRenderer,
    previous: Manifest,
    changed: Collection[str],
    result: AttackPagesResult,
) -> Manifest:
    """The technique pages of what the changed rules tag now or tagged before, and the aggregate pages
    whose view changed (module docstring: from the record alone when only levels or vendors changed)."""
    key = previous.templates_key
    result.mode = "incremental"
    current = rule_signatures(
        store_attack.tagged_rules(catalog, changed), store_attack.placements(catalog, uids=changed)
    )
    touched = {
        t
        for uid in changed
        for t in (*signature_tags(previous.rules.get(uid)), *signature_tags(current.get(uid)))
    }
    ids = pages_of(attack, touched)
    # Someone removed pages from the site: put them back.
    ids |= {p.removeprefix(urls.ATTACK_PATH).rstrip("/") for p in previous.techniques if not _exists(site, p)}
    light = facet_only(previous.rules, current, changed) and all(
        _exists(site, p) for p in previous.aggregates
    )
    data = AttackSite.read_under(catalog, attack, ids) if light else _read_all(catalog)
    specs = technique_specs(catalog, data, pages, ids)
    _write(site, pages, specs, result)
    result.kept += max(len(previous.techniques) - len(specs), 0)
    if not light:
        aggregates = aggregate_specs(catalog, data, pages)
        frame, matrix_rules = aggregates.matrix_frame, dict(aggregates.matrix_rules)
        todo = aggregates.specs
        rules = rule_signatures(data.rules, data.placements)
    else:
        assert previous.matrix_frame is not None  # the caller takes this path only with a kept frame
        frame, matrix_rules = previous.matrix_frame.copy(), dict(previous.matrix_rules)
        rules = {u: r for u, r in previous.rules.items() if u not in current} | current
        for uid in changed:
            entry, now = matrix_rules.get(uid), current.get(uid)
            if entry is not None and now is not None:
                # vendor and level; the rest is unchanged
                matrix_rules[uid] = (now.vendor, now.level, entry[2], entry[3], entry[4])
        if any(uid not in previous.rules and uid not in current for uid in changed):
            # an untagged rule changed: the matrix tells how many counted rules name no technique
            frame["without_techniques"] = store_attack.counted_rules_without_techniques(catalog)
        todo = {urls.ATTACK_PATH: PageSpec("matrix", MATRIX_TITLE, matrix_page_view(frame, matrix_rules))}
    digests = dict(previous.aggregates) | {path: spec.digest(key) for path, spec in todo.items()}
    todo = {path: spec for path, spec in todo.items() if previous.aggregates.get(path) != digests[path]}
    _write(site, pages, todo, result)
    result.kept += len(digests) - len(todo)
    return Manifest(key, attack.version, digests, previous.techniques, rules, frame, matrix_rules)


def _read_all(catalog: Catalog) -> AttackSite:
    data = AttackSite.read(catalog)
    if data is None:  # the caller read the blob a moment ago; a catalog does not lose it in between
        raise ValueError(f"{catalog.path}: the ATT&CK data could not be read")
    return data


def _write_full(
    site: Path,
    root: Path,
    catalog: Catalog,
    attack: AttackData,
    pages: AttackPageRenderer,
    previous: Manifest | None,
    jobs: int,
    result: AttackPagesResult,
) -> Manifest:
    """Every ATT&CK page, from one read of the catalog."""
    global _FORKED
    key = templates_fingerprint()
    data = _read_all(catalog)
    aggregates: Aggregates | None = None
    if jobs > 1:
        inputs = TechniqueInputs.read(catalog, data)
        with forked_pool(jobs) as pool:
            try:
                futures = _submit_techniques(pool, site, data, inputs, pages, jobs)
            finally:
                _FORKED = None
            aggregates = aggregate_specs(catalog, data, pages)  # meanwhile, in this process
            written = [path for future in futures for path in future.result()]
        result.written += len(written)
        result.written_paths += written
        technique_paths = sorted(written)
    else:
        specs = technique_specs(catalog, data, pages)
        _write(site, pages, specs, result)
        technique_paths = sorted(specs)
    for path in set(previous.techniques if previous is not None else ()) - set(technique_paths):
        result.removed += _remove_page(site, root, path)
    if aggregates is None:
        aggregates = aggregate_specs(catalog, data, pages)
    _write(site, pages, aggregates.specs, result)
    return Manifest(
        key,
        attack.version,
        {path: spec.digest(key) for path, spec in aggregates.specs.items()},
        technique_paths,
        rule_signatures(data.rules, data.placements),
        aggregates.matrix_frame,
        dict(aggregates.matrix_rules),
    )


def _write(
    site: Path, pages: AttackPageRenderer, specs: dict[str, PageSpec], result: AttackPagesResult
) -> None:
    for path, spec in specs.items():
        pages.renderer.write_page(site, path, pages.render(path, spec))
        result.written += 1
        result.written_paths.append(path)


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
    atomic.remove(target)
    folder = target.parent
    if folder.resolve() != root and not any(folder.iterdir()):
        folder.rmdir()
    return 1
