"""Parse the Sublime and Panther corpora with their readers; print, per vendor and language, the files, rules,
rules whose logic parsed, the problems by message, the CPU seconds, and Panther's unit-test oracle share.

    .venv/bin/python bench/parse_sublime_panther.py [SHARED]   (default: ../shared)

CPU time (`time.process_time`) is what counts on the shared machine; wall time is printed for reference.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

from ruleatlas.model import Rule, SourceResult
from ruleatlas.sources import panther, sublime
from ruleatlas.sources.common import load_mapping, read_tree
from ruleatlas.sources.panther.oracle import OracleCount, alerting_events, evaluate

REPO = Path(__file__).resolve().parents[1]


def run(reader: ModuleType, root: Path) -> tuple[SourceResult, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = read_tree(reader, root, repo_url="bench", commit="bench")
    return result, time.process_time() - cpu, time.perf_counter() - wall


def report(name: str, result: SourceResult, cpu: float, wall: float) -> None:
    print(
        f"{name}: {result.files} files, {len(result.rules)} rules, {len(result.errors)} file problems, "
        f"cpu {cpu:.1f}s, wall {wall:.1f}s"
    )
    by_language = Counter((r.language, r.logic_parsed) for r in result.rules)
    for (language, parsed), count in sorted(by_language.items()):
        print(f"  {language:<13} {'parsed' if parsed else 'not parsed':<11} {count:>5}")
    problems = Counter(p.message.split(":")[0] for r in result.rules for p in r.problems)
    for message, count in problems.most_common(8):
        print(f"  problem {count:>4}  {message}")


def oracle(root: Path, rules: list[Rule]) -> OracleCount:
    count = OracleCount()
    for rule in rules:
        if rule.language != "python" or not rule.stages or rule.stages[0].expr is None:
            continue
        doc, _problems = load_mapping((root / rule.source.path).read_text(encoding="utf-8"), "", "")
        if doc is None:
            continue
        for event in alerting_events(doc.get("Tests"), doc.get("AnalysisType") == "policy"):
            count.events += 1
            result = evaluate(rule.stages[0].expr, event)
            count.satisfied += result is not False
            count.contradicted += result is False
    return count


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared"
    result, cpu, wall = run(sublime, shared / "corpus" / "sublime")
    report("sublime", result, cpu, wall)
    root = shared / "corpus" / "panther"
    result, cpu, wall = run(panther, root)
    report("panther", result, cpu, wall)
    python = [r for r in result.rules if r.language == "python"]
    status = Counter(dict(r.facts).get("Python logic", "no rule()/policy()") for r in python)
    for label, rules in status.most_common():
        print(f"  python {rules:>4}  {label}")
    tests = oracle(root, result.rules)
    print(
        f"  unit-test oracle: {tests.satisfied} of {tests.events} alerting test events satisfy the reduced "
        f"logic ({tests.share:.3f}); {tests.contradicted} contradict it"
    )


if __name__ == "__main__":
    main()
