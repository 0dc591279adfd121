"""Print the share of a vendor's non-scope predicates that get a Sigma name from the canonicaliser (canonical
`how` other than "native"), by how, how many of them are implied rather than equal, with the largest fields
left native and the scope fields set aside.

    .venv/bin/python bench/canonical_share.py --vendor elastic [--shared ../shared] [--top 30]

Deprecated rules and predicates on columns the query itself defines (ES|QL EVAL/STATS) are left out, as the
corpus test does.
"""

from __future__ import annotations

import argparse
import importlib
from collections import Counter
from pathlib import Path

from ruleatlas.analysis.canonical import canonical
from ruleatlas.analysis.indicators import defined_columns
from ruleatlas.model import RuleKind, walk_preds
from ruleatlas.sources import SHARED_FOLDERS, SOURCES
from ruleatlas.sources.common import read_tree

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vendor", required=True, help="a vendor label: elastic, splunk...")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    hows: Counter[str] = Counter()
    native: Counter[str] = Counter()
    scope: Counter[str] = Counter()
    implied = 0  # named by a comparison the native one implies (a part field, Kusto `has`), not equals
    for source, (vendor, module_name) in SOURCES.items():
        root = args.shared / "corpus" / SHARED_FOLDERS[source]
        if vendor != args.vendor or not root.is_dir():
            continue
        result = read_tree(importlib.import_module(module_name), root, repo_url="", commit="")
        for rule in result.rules:
            if rule.kind is RuleKind.DEPRECATED:
                continue
            defined = defined_columns(rule.stages)
            for stage in rule.stages:
                for pred, _ in walk_preds(stage.expr):
                    if pred.scope:
                        scope[pred.field or ""] += 1
                        continue
                    if pred.field in defined:
                        continue
                    form = canonical(pred, args.vendor, rule.logsource)
                    how = form.how
                    hows[how.split(":")[0]] += 1
                    implied += form.implied
                    if how == "native":
                        native[pred.field or ""] += 1
    total = sum(hows.values())
    named = total - hows["native"]
    print(f"{args.vendor}: {named} of {total} non-scope predicates named ({named / max(total, 1):.1%})")
    print("by how: " + ", ".join(f"{how} {n}" for how, n in hows.most_common()))
    print(f"implied (counted under a comparison the native one implies, not equals): {implied}")
    print("scope (not counted): " + ", ".join(f"{field} {n}" for field, n in scope.most_common()))
    print("largest native fields:")
    for field, n in native.most_common(args.top):
        print(f"  {n:6d}  {field}")


if __name__ == "__main__":
    main()
