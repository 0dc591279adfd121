"""`ruleatlas export`: the rules a browse selection picks, with their indicators, as JSON Lines or CSV, or as
an ATT&CK Navigator layer (format 4.5).

- jsonl: one page document per line (docs/page-document.md: the object `show --json` prints, corpus
  counts included), in the browse list's order (title).
- csv: one row per (rule, indicator or exclusion), the rule's columns repeated; a rule without indicators
  is one row with the indicator columns empty. Spreadsheets and pandas read it as is.
- navigator: the selected rules' ATT&CK coverage as a layer the Navigator loads as is: score = number of
  rules per technique and tactic, a parent counting its sub-techniques' rules. The counting rules are the
  ATT&CK pages' (`ruleatlas.analysis.coverage`): deprecated, unsupported and hunting rules are left out,
  and the layer's description says how many.

The selection is the browse list's (`store.browse.RuleFilter`), so `export --level high --technique T1059`
writes what `rules/?level=high&technique=T1059` lists.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from ruleatlas.analysis.coverage import NavigatorLayer, index_coverage, navigator_layer
from ruleatlas.analysis.document import RuleDocument
from ruleatlas.store import Catalog
from ruleatlas.store import attack as store_attack
from ruleatlas.store.browse import FACETS, BrowseRow, RuleFilter, browse_rows, filter_rows, resolve_tactics

FORMATS = ("jsonl", "csv", "navigator")
CSV_COLUMNS = (
    "uid",
    "title",
    "vendor",
    "status",
    "level",
    "kind",
    "product",
    "logsource",
    "techniques",
    "tactics",
    "role",
    "field",
    "comparison",
    "value",
    "transforms",
    "corpus",
    "url",
)


class ExportError(Exception):
    """An export that cannot be made (no ATT&CK data for a layer)."""


def select(catalog: Catalog, selection: RuleFilter) -> list[BrowseRow]:
    """The rules the selection lists, in the browse list's order; tactic names resolved to ids."""
    if selection.tactic:
        values = {facet: list(selection.selection(facet)) for facet in FACETS}
        values["tactic"] = list(resolve_tactics(catalog, selection.tactic))
        selection = RuleFilter.from_lists(retired=selection.retired, **values)
    return filter_rows(browse_rows(catalog), selection)


def _documents(catalog: Catalog, rows: Iterable[BrowseRow]) -> Iterable[RuleDocument]:
    counts = catalog.counts()
    for _, doc in catalog.raw_documents(r.uid for r in rows):
        yield counts.fill(doc)


def write_jsonl(catalog: Catalog, rows: list[BrowseRow], out: TextIO) -> int:
    n = 0
    for doc in _documents(catalog, rows):
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(catalog: Catalog, rows: list[BrowseRow], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    by_uid = {r.uid: r for r in rows}
    n = 0
    for doc in _documents(catalog, rows):
        row = by_uid[doc["uid"]]
        rule = [
            row.uid,
            row.title,
            row.vendor,
            row.status,
            row.level,
            row.kind,
            row.product,
            row.logsource,
            " ".join(row.techniques),
            " ".join(row.tactics),
        ]
        url = doc.get("source", {}).get("url", "")
        items = [("indicator", i) for i in doc["indicators"]] + [("exclusion", i) for i in doc["exclusions"]]
        if not items:
            writer.writerow([*rule, "", "", "", "", "", "", url])
        for role, item in items:
            value = item["value"]
            writer.writerow(
                [
                    *rule,
                    role,
                    item["field"] or "",
                    item["kind"],
                    "" if value is None else json.dumps(value) if not isinstance(value, str) else value,
                    "|".join(item["transforms"]),
                    item["corpus"]["total"],
                    url,
                ]
            )
        n += 1
    return n


def navigator(catalog: Catalog, rows: list[BrowseRow], name: str = "RuleAtlas export") -> NavigatorLayer:
    """An ATT&CK Navigator layer (4.5) of the selected rules."""
    attack = store_attack.attack_data(catalog)
    if attack is None:
        raise ExportError("the catalog was built without ATT&CK data (build with --attack)")
    uids = [r.uid for r in rows]
    index = index_coverage(
        attack, store_attack.tagged_rules(catalog, uids), store_attack.placements(catalog, uids=uids)
    )
    layer = navigator_layer(index, name)
    layer["metadata"].append({"name": "rules selected", "value": str(len(rows))})
    return layer


def export(catalog: Catalog, selection: RuleFilter, fmt: str, out: TextIO) -> int:
    """Write the selection in `fmt` to `out`; returns the number of rules selected."""
    rows = select(catalog, selection)
    if fmt == "jsonl":
        write_jsonl(catalog, rows, out)
    elif fmt == "csv":
        write_csv(catalog, rows, out)
    elif fmt == "navigator":
        json.dump(navigator(catalog, rows), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    return len(rows)
