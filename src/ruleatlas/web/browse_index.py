"""The static site's indexes: what the browse and search pages' script (`static/atlas.js`) works over.

Why files written at build time: the site must browse, filter and search with no server at all (any
static host, or file://). Why scripts (`window.RuleAtlasIndex = {...}`) and not JSON: a file:// page may
not fetch() a file, but it may load a script.

Kept compact because it grows with the catalog (4,000 rules today, 16,000 later):

- `data/rules.js`: one array per rule, facet values as small integers into per-facet value lists, dates as
  yyyymmdd numbers, ATT&CK placements as a flat [technique, tactic, technique, tactic, ...] list of indexes,
  and the Sigma service when the rule also has a category (the log source shown is the category; search's
  `logsource:` matches either); plus the matrix layout (tactics in ATT&CK order, their techniques with
  sub-techniques) and names. About 140 bytes per rule.
- `data/search.js`: the text the server's FTS5 index holds per rule, in the same rule order (description,
  tags, references, authors, fields, values), with each rule's indicators (field, kind, value, exclusion, as
  indexes) and rule id, so that `field:X value:Y` and a search by id work as the server's; loaded by the
  search page only when there is no server API.
- `data/mode.js`: `{"api": false}`; `ruleatlas serve` answers this path with `{"api": true}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from ruleatlas.attack import AttackData, AttackDataError, technique_sort_key
from ruleatlas.output import atomic
from ruleatlas.store import Catalog
from ruleatlas.store import attack as store_attack
from ruleatlas.store.browse import FACETS, RETIRED, BrowseRow, browse_rows, browse_rows_of
from ruleatlas.store.search import search_indicators, search_texts
from ruleatlas.web import urls
from ruleatlas.web.render import vendor_name

INDEX_VERSION = 1
RULES_VAR = "RuleAtlasIndex"
SEARCH_VAR = "RuleAtlasSearch"
MODE_VAR = "RuleAtlasMode"
SIMPLE_FACETS = ("vendor", "product", "logsource", "status", "level", "kind")
STATUS_ORDER = ("stable", "test", "experimental", "deprecated", "unsupported")
LEVEL_ORDER = ("critical", "high", "medium", "low", "informational")


class RulesIndex(TypedDict):
    """data/rules.js: the browse list's rows as arrays of facet codes (module docstring)."""

    version: int
    index_file: str
    rules_path: str
    retired: list[str]
    facets: dict[str, list[list[str]]]  # facet -> [value, label(, tactic shortname)] by code
    rules: list[list[object]]  # [vendor, stem or uid, title, product, log source, status, level, kind, ...]
    matrix: list[list[object]]  # [tactic code, [[technique code, [sub-technique codes]]]]


class SearchIndex(TypedDict):
    """data/search.js: per rule, in the browse index's order, what the static search reads."""

    kinds: list[str]
    retired: list[str]
    rules: list[list[object]]  # [description, tags, references, authors, fields, values, indicators, id]


def as_script(variable: str, value: object) -> str:
    return f"window.{variable}={json.dumps(value, ensure_ascii=False, separators=(',', ':'))};\n"


def mode_script(api: bool) -> str:
    return as_script(MODE_VAR, {"api": api})


def _date_number(text: str) -> int:
    digits = text.replace("-", "").replace("/", "")
    return int(digits) if len(digits) == 8 and digits.isdigit() else 0


def _attack(catalog: Catalog) -> AttackData | None:
    blob = catalog.blob("attack")
    if blob is None:
        return None
    try:
        return AttackData.from_json(blob)
    except AttackDataError:
        return None


def _matrix_layout(attack: AttackData) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Tactics in matrix order with their active parent techniques (by name) and active sub-techniques."""
    subs: dict[str, list[str]] = {}
    for tech in attack.techniques.values():
        if tech.is_subtechnique and tech.parent and tech.active:
            subs.setdefault(tech.parent, []).append(tech.id)
    layout = []
    for tactic in attack.tactics:
        parents = sorted(
            (
                t
                for t in attack.techniques.values()
                if not t.is_subtechnique and t.active and tactic.shortname in t.tactics
            ),
            key=lambda t: (t.name.casefold(), technique_sort_key(t.id)),
        )
        column = []
        for parent in parents:
            own = [s for s in subs.get(parent.id, []) if tactic.shortname in attack.techniques[s].tactics]
            column.append((parent.id, sorted(own, key=technique_sort_key)))
        layout.append((tactic.id, column))
    return layout


def rules_index(rows: Sequence[BrowseRow], attack: AttackData | None, index_file: str) -> RulesIndex:
    """The browse index (module docstring); `rows` in the order the list shows by default."""
    values: dict[str, dict[str, int]] = {f: {} for f in (*FACETS, "service")}

    def code(facet: str, value: str) -> int:
        table = values[facet]
        found = table.get(value)
        if found is None:
            found = table[value] = len(table)
        return found

    layout = _matrix_layout(attack) if attack is not None else []
    for tactic_id, column in layout:  # matrix order first, so the facet lists read in that order too
        code("tactic", tactic_id)
        for parent, subs in column:
            code("technique", parent)
            for sub in subs:
                code("technique", sub)
    for facet, order in (("status", STATUS_ORDER), ("level", LEVEL_ORDER)):
        for value in order:
            code(facet, value)
    rules = []
    for row in rows:
        vendor, _, stem = row.uid.partition("/")
        placements: list[int] = []
        for tech, tactic in row.placements:
            placements += [code("technique", tech), code("tactic", tactic) if tactic else -1]
        rules.append(
            [
                code("vendor", vendor if vendor == row.vendor else row.vendor),
                stem if vendor == row.vendor else row.uid,
                row.title,
                code("product", row.product),
                code("logsource", row.logsource),
                code("status", row.status),
                code("level", row.level),
                code("kind", row.kind),
                _date_number(row.created),
                _date_number(row.modified),
                placements,
                code("service", row.service) if row.service else -1,  # `logsource:` matches it too
            ]
        )
    technique_names = {t.id: t.name for t in attack.techniques.values()} if attack is not None else {}
    tactics = {t.id: t for t in attack.tactics} if attack is not None else {}
    facets: dict[str, list[list[str]]] = {}
    for facet in SIMPLE_FACETS:
        labels = vendor_name if facet == "vendor" else None
        facets[facet] = [[v, labels(v) if labels else v] for v in values[facet]]
    facets["tactic"] = [
        [tid, tactics[tid].name if tid in tactics else tid, tactics[tid].shortname if tid in tactics else tid]
        for tid in values["tactic"]
    ]
    facets["technique"] = [[tid, technique_names.get(tid, "")] for tid in values["technique"]]
    facets["service"] = [[v, v] for v in values["service"]]  # a lookup table, not a facet of the page
    technique_code = values["technique"]
    tactic_code = values["tactic"]
    return {
        "version": INDEX_VERSION,
        "index_file": index_file,
        "rules_path": "rules/",
        "retired": sorted(RETIRED),  # kinds and statuses left out unless asked for (store/browse.py)
        "facets": facets,
        "rules": rules,
        "matrix": [
            [tactic_code[tid], [[technique_code[p], [technique_code[s] for s in subs]] for p, subs in column]]
            for tid, column in layout
        ],
    }


def search_index(
    uids: Iterable[str],
    texts: dict[str, tuple[str, str, str, str, str, str]],
    indicators: dict[str, tuple[str, list[tuple[str, str, str, int]]]],
) -> SearchIndex:
    """`kinds` (the comparison kinds used) and per rule, in the browse index's order: [description, tags,
    references, authors, fields, values, indicators, rule id]. Fields and values are deduplicated lists;
    indicators a flat list of four integers each: field index, kind index, value index, exclusion 0/1."""
    kinds: dict[str, int] = {}
    out: list[list[object]] = []
    for uid in uids:
        description, tags, refs, authors, fields, vals = texts.get(uid, ("",) * 6)
        rule_id, rows = indicators.get(uid, ("", []))
        field_list = [f for f in dict.fromkeys(fields.split(",")) if f] if fields else []
        value_list = [v for v in dict.fromkeys(vals.split("\n")) if v] if vals else []
        field_at = {f: i for i, f in enumerate(field_list)}
        value_at = {v: i for i, v in enumerate(value_list)}
        flat: list[int] = []
        for fld, kind, value, exclusion in rows:
            if fld not in field_at:
                field_at[fld] = len(field_list)
                field_list.append(fld)
            if value not in value_at:
                value_at[value] = len(value_list)
                value_list.append(value)
            flat += [field_at[fld], kinds.setdefault(kind, len(kinds)), value_at[value], exclusion]
        out.append([description, tags, refs, authors, field_list, value_list, flat, rule_id])
    return {"kinds": list(kinds), "retired": sorted(RETIRED), "rules": out}


def write_indexes(site: Path, catalog: Catalog, index_file: str = "index.html") -> dict[str, int]:
    """Write data/rules.js, data/search.js and data/mode.js; returns each file's size in bytes."""
    rows = browse_rows(catalog)
    data_dir = site.joinpath(*urls.page_file(urls.DATA_PATH).parent.parts)
    data_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "rules.js": as_script(RULES_VAR, rules_index(rows, _attack(catalog), index_file)),
        "search.js": as_script(
            SEARCH_VAR,
            search_index((r.uid for r in rows), search_texts(catalog), search_indicators(catalog)),
        ),
        "mode.js": mode_script(api=False),
    }
    sizes = {}
    for name, text in files.items():
        data = text.encode("utf-8")
        atomic.write_bytes(data_dir / name, data)
        sizes[name] = len(data)
    return sizes


def _read_script(path: Path, variable: str) -> Any:
    """The value a `as_script(variable, ...)` file holds; None when it is missing or not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    prefix = f"window.{variable}="
    if not text.startswith(prefix) or not text.endswith(";\n"):
        return None
    try:
        return json.loads(text[len(prefix) : -2])
    except ValueError:
        return None


def _decoded_rows(index: Any) -> list[BrowseRow] | None:
    """The browse rows a rules index was made from, as far as `rules_index` reads them (None when the index
    is not one this version writes, or a rule's uid cannot be told from it)."""
    try:
        if index["version"] != INDEX_VERSION:
            return None
        facets = {name: [entry[0] for entry in values] for name, values in index["facets"].items()}
        rows = []
        for entry in index["rules"]:
            vendor_code, name, title, product, logsource, status, level, kind = entry[:8]
            created, modified, placements, service = entry[8:12]
            vendor = facets["vendor"][vendor_code]
            if "/" in name:  # written whole when the uid's prefix is not the vendor: not always tellable
                return None
            pairs = tuple(
                (
                    facets["technique"][placements[i]],
                    facets["tactic"][placements[i + 1]] if placements[i + 1] >= 0 else "",
                )
                for i in range(0, len(placements), 2)
            )
            rows.append(
                BrowseRow(
                    f"{vendor}/{name}",
                    vendor,
                    title,
                    facets["status"][status],
                    facets["level"][level],
                    facets["kind"][kind],
                    facets["product"][product],
                    facets["logsource"][logsource],
                    str(created) if created else "",
                    str(modified) if modified else "",
                    (),
                    (),
                    pairs,
                    facets["service"][service] if service >= 0 else "",
                )
            )
        return rows
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def update_indexes(
    site: Path, catalog: Catalog, uids: Iterable[str], search_changed: bool, index_file: str = "index.html"
) -> dict[str, int] | None:
    """An incremental build's indexes: data/rules.js made from the rows the site's own rules.js holds with
    those of `uids` (the rules written again or removed) read again, written when it differs; data/search.js
    made again only when `search_changed` or the title order moved (it is in that order). Returns the bytes
    written per file; None when the site's rules.js cannot be read back (then `write_indexes`)."""
    data_dir = site.joinpath(*urls.page_file(urls.DATA_PATH).parent.parts)
    old = _decoded_rows(_read_script(data_dir / "rules.js", RULES_VAR))
    if old is None or not (data_dir / "search.js").is_file() or not (data_dir / "mode.js").is_file():
        return None
    changed = set(uids)
    rows = [r for r in old if r.uid not in changed] + browse_rows_of(catalog, changed)
    rows.sort(key=lambda r: (r.title.casefold(), r.uid))
    attack = store_attack.attack_data(catalog)
    sizes: dict[str, int] = {}
    text = as_script(RULES_VAR, rules_index(rows, attack, index_file)).encode("utf-8")
    target = data_dir / "rules.js"
    if target.read_bytes() != text:
        atomic.write_bytes(target, text)
        sizes["rules.js"] = len(text)
    order = [r.uid for r in rows]
    if search_changed or [r.uid for r in old] != order:
        moved = (
            None if search_changed else _reordered_search(data_dir / "search.js", [r.uid for r in old], order)
        )
        index = moved or search_index(order, search_texts(catalog), search_indicators(catalog))
        text = as_script(SEARCH_VAR, index).encode("utf-8")
        atomic.write_bytes(data_dir / "search.js", text)
        sizes["search.js"] = len(text)
    return sizes


def _reordered_search(path: Path, old_order: list[str], order: list[str]) -> SearchIndex | None:
    """The search index at `path` (made in `old_order`) with the same rules' entries in `order`, as
    `search_index` makes it: comparison kinds numbered again by first use. None when it cannot be read."""
    index = _read_script(path, SEARCH_VAR)
    try:
        entries = index["rules"]
        if len(entries) != len(old_order) or sorted(old_order) != sorted(order):
            return None
        at = {uid: i for i, uid in enumerate(old_order)}
        entries = [entries[at[uid]] for uid in order]
        kinds: list[str] = index["kinds"]
        renumber: dict[int, int] = {}
        for entry in entries:
            flat = entry[6]
            for i in range(1, len(flat), 4):
                renumber.setdefault(flat[i], len(renumber))
        if list(renumber) != list(range(len(renumber))):
            for entry in entries:
                flat = entry[6]
                for i in range(1, len(flat), 4):
                    flat[i] = renumber[flat[i]]
        return {"kinds": [kinds[k] for k in renumber], "retired": sorted(RETIRED), "rules": entries}
    except (KeyError, IndexError, TypeError):
        return None
