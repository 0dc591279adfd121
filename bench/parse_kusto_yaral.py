"""Parse the Kusto (Sentinel) and YARA-L (Chronicle) corpora into stages; print parse counts, the queries that
do not parse with their cause, CPU seconds, the YARA-L regexes the canonicaliser reduces, and one cloud
indicator counted through the parsers against a count made from the text alone.

    .venv/bin/python bench/parse_kusto_yaral.py [SHARED]   (default: ../shared)

CPU time is this process's (`time.process_time()`): reading, YAML, parsing and building the stages.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from ruleatlas.analysis.canonical import reduce_regex
from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import MEMBERSHIP, Kind, Rule, walk_preds
from ruleatlas.sources import kusto, yaral
from ruleatlas.sources.common import load_mapping, read_tree, text
from ruleatlas.sources.yaral.rulefile import split_rules

REPO = Path(__file__).resolve().parents[1]
STOP_LOGGING = ("eventName", "eq", "stoplogging", "")
_WORD = re.compile(r"\bStopLogging\b")


def _report(label: str, rules: list[Rule], cpu: float) -> None:
    parsed = [r for r in rules if r.logic_parsed]
    print(f"{label}: {len(rules)} rules, {len(parsed)} parsed into stages, {len(rules) - len(parsed)} not")
    print(f"  CPU {cpu:.2f} s (list, read, parse, stages)")
    for rule in rules:
        if not rule.logic_parsed:
            for problem in rule.problems:
                if "does not parse" in problem.message:
                    print(f"  not parsed: {rule.source.path}:{problem.line}: {problem.message}")


def _regexes(rules: list[Rule]) -> tuple[int, int]:
    total = reduced = 0
    for rule in rules:
        for stage in rule.stages:
            for pred, _ in walk_preds(stage.expr):
                if (
                    pred.kind is Kind.REGEX
                    and MEMBERSHIP not in pred.transforms
                    and isinstance(pred.value, str)
                ):
                    total += 1
                    reduced += reduce_regex(pred.value, pred.regex_flags) is not None
    return total, reduced


def _indicator_count(rules: list[Rule]) -> tuple[int, int]:
    """Rules with the indicator as a positive, and rules with it only as an exclusion."""
    positive = excluded = 0
    for rule in rules:
        found = rule_indicators(rule)
        if any(i.key == STOP_LOGGING for i in found.positives):
            positive += 1
        elif any(i.key == STOP_LOGGING for i in found.exclusions):
            excluded += 1
    return positive, excluded


def _text_count_kusto(root: Path) -> int:
    count = 0
    for file in kusto.list_files(root):
        doc, _ = load_mapping(file.path.read_text(encoding="utf-8", errors="replace"), file.rel_path, "")
        query = text(doc.get("query")) if doc is not None else ""
        code = "\n".join(line.split("//", 1)[0] for line in query.splitlines())
        count += bool(_WORD.search(code))
    return count


def _text_count_yaral(root: Path) -> int:
    count = 0
    for file in yaral.list_files(root):
        for found in split_rules(file.path.read_text(encoding="utf-8", errors="replace")):
            events = found.sections.get("events")
            count += bool(events is not None and _WORD.search(events.text))
    return count


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared"
    corpus = shared / "corpus"
    results: dict[str, list[Rule]] = {}
    for label, reader, folder in (("kusto", kusto, "sentinel"), ("yaral", yaral, "chronicle")):
        cpu = time.process_time()
        tree = read_tree(reader, corpus / folder, repo_url="", commit="")
        _report(label, tree.rules, time.process_time() - cpu)
        results[label] = tree.rules
    total, reduced = _regexes(results["yaral"])
    print(f"yaral regex predicates: {total}, reduced to ordinary comparisons by the canonicaliser: {reduced}")
    print(f"indicator {STOP_LOGGING[:3]}: rules with it (positive / only excluded), and a text count")
    for label, count_text in (
        ("kusto", _text_count_kusto(corpus / "sentinel")),
        ("yaral", _text_count_yaral(corpus / "chronicle")),
    ):
        positive, excluded = _indicator_count(results[label])
        print(f"  {label}: parser {positive} / {excluded}; text (word StopLogging in the query) {count_text}")


if __name__ == "__main__":
    main()
