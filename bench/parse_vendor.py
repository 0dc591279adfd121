"""Parse one vendor's corpus with its readers and print, per query language, the rules, how many have their
logic parsed into stages, the parse problems, and the CPU seconds spent in `parse_file` for them.

    .venv/bin/python bench/parse_vendor.py --vendor elastic [--shared ../shared]

The readers come from `ruleatlas.sources.SOURCES` (every source whose vendor label is `--vendor` and whose
folder exists under SHARED/corpus). A file's CPU time (`time.process_time()`, less sensitive to other load
on a shared machine than wall time) is counted under the language of the rules it gave; TOML/YAML reading is
included, as the build pays for it too.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections import Counter, defaultdict
from pathlib import Path

from ruleatlas.sources import SHARED_FOLDERS, SOURCES
from ruleatlas.sources.common import read_text

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vendor", required=True, help="a vendor label: elastic, splunk, sigma...")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    rules: Counter[str] = Counter()
    parsed: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    cpu: defaultdict[str, float] = defaultdict(float)
    files = 0
    for source, (vendor, module_name) in SOURCES.items():
        root = args.shared / "corpus" / SHARED_FOLDERS[source]
        if vendor != args.vendor or not root.is_dir():
            continue
        reader = importlib.import_module(module_name)
        for rule_file in reader.list_files(root):
            text, _unreadable = read_text(rule_file.path, rule_file.rel_path)
            if text is None:
                continue
            companions = {rel: read_text(root / rel, rel)[0] or "" for rel in rule_file.companions}
            start = time.process_time()
            found, _errors = reader.parse_file(
                text, rule_file.rel_path, rule_file.folder, repo_url="", commit="", companions=companions
            )
            spent = time.process_time() - start
            files += 1
            languages = [rule.language or "(none)" for rule in found] or ["(no rule)"]
            for rule in found:
                language = rule.language or "(none)"
                rules[language] += 1
                parsed[language] += rule.logic_parsed and bool(rule.stages)
                problems[language] += sum(1 for p in rule.problems if "does not parse" in p.message)
            for language in languages:
                cpu[language] += spent / len(languages)
    print(f"{args.vendor}: {files} files")
    print(f"{'language':<14} {'rules':>6} {'parsed':>7} {'unparsed':>9} {'cpu s':>7}")
    for language in sorted(cpu, key=lambda name: -cpu[name]):
        unparsed = rules[language] - parsed[language]
        print(
            f"{language:<14} {rules[language]:>6} {parsed[language]:>7} {unparsed:>9} {cpu[language]:>7.2f}"
        )
    print(
        f"{'total':<14} {sum(rules.values()):>6} {sum(parsed.values()):>7} {'':>9} {sum(cpu.values()):>7.2f}"
    )
    if problems:
        print("parse problems: " + ", ".join(f"{k} {v}" for k, v in sorted(problems.items()) if v))


if __name__ == "__main__":
    main()
