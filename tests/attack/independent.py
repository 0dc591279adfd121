"""Coverage counted a second way, from the stored page documents (their `attack` key), without
`ruleatlas.analysis.coverage` or the rule_techniques table: what the matrix must agree with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ruleatlas.attack import AttackData

LEFT_OUT = {"deprecated", "unsupported", "hunting"}


def counted(doc: dict[str, Any]) -> bool:
    return doc["kind"] not in LEFT_OUT and doc["status"] not in ("deprecated", "unsupported")


def independent_cells(docs: Iterable[dict[str, Any]], attack: AttackData) -> dict[tuple[str, str], set[str]]:
    """(tactic id, technique id) -> uids of counted rules: a technique under the tactic its document names,
    a sub-technique also in its parent's cell, a revoked (or moved) id under its replacement."""
    tactic_of = {t.shortname: t.id for t in attack.tactics}
    cells: dict[tuple[str, str], set[str]] = {}
    for doc in docs:
        if not counted(doc):
            continue
        for group in doc["attack"]:
            for tech in group["techniques"]:
                target = attack.techniques[tech["id"]]
                tactic_ids = [group["tactic_id"]]
                if target.revoked or target.deprecated or target.moved:
                    if not target.replaced_by:
                        continue
                    target = attack.techniques[target.replaced_by]
                    own = [tactic_of[s] for s in target.tactics]
                    tactic_ids = [t for t in tactic_ids if t in own] or own
                for tactic_id in tactic_ids:
                    ids = [target.id] + ([target.parent] if target.is_subtechnique else [])
                    for tid in ids:
                        cells.setdefault((tactic_id, tid), set()).add(doc["uid"])
    return cells
