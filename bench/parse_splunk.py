"""Parse the whole Splunk corpus with the Splunk reader and print counts and CPU seconds.

    .venv/bin/python bench/parse_splunk.py [path to corpus/splunk]

Figures: live detections, how many have every search/tstats/where stage parsed, predicates, the share of
non-scope predicates (all stages) and of indicators (what corpus counts use) whose canonical field is a Sigma
name, and the parse CPU time (process time, so a loaded machine does not inflate it).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from ruleatlas.analysis.canonical import canonical
from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import RuleKind, walk_preds
from ruleatlas.sources import splunk
from ruleatlas.sources.common import read_tree


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/corpus/splunk"
    start = time.process_time()
    tree = read_tree(splunk, root)
    seconds = time.process_time() - start
    live = [r for r in tree.rules if r.kind is not RuleKind.DEPRECATED]
    parsed = [r for r in live if r.logic_parsed]
    hows: Counter[str] = Counter()
    scope = 0
    for rule in tree.rules:
        for stage in rule.stages:
            for pred, _negated in walk_preds(stage.expr):
                if pred.scope:
                    scope += 1
                    continue
                hows[canonical(pred, rule.vendor, rule.logsource).how.split(":")[0]] += 1
    total = sum(hows.values())
    named = total - hows["native"]
    print(f"files {tree.files}, rules {len(tree.rules)}, live {len(live)}")
    print(
        f"live with every logic stage parsed: {len(parsed)} ({100 * len(parsed) / max(1, len(live)):.1f} %)"
    )
    print(
        f"predicates: {total + scope} ({scope} scope); non-scope with a Sigma name: {named} "
        f"({100 * named / max(1, total):.1f} %) {dict(hows)}"
    )
    indicators = [
        i for r in live for found in [rule_indicators(r)] for i in (*found.positives, *found.exclusions)
    ]
    sigma_named = sum(i.how != "native" for i in indicators)
    print(
        f"indicators of live rules (no scope, no defined column): {len(indicators)}; with a Sigma name: "
        f"{sigma_named} ({100 * sigma_named / max(1, len(indicators)):.1f} %)"
    )
    print(f"parse CPU seconds (read + parse of {tree.files} files): {seconds:.2f}")


if __name__ == "__main__":
    main()
