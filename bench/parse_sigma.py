"""Parse a Sigma tree on one core and print files, rules, errors and seconds.

    .venv/bin/python bench/parse_sigma.py [ROOT]   (default: ../shared/corpus/sigma)

Files are read into memory first, so the figure is parse time (YAML + IR), not disk time. "seconds" is
wall-clock time, "cpu" the process's CPU time (the one-core figure, unaffected by other load).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from ruleatlas.sources.sigma import assign_unique_uids, list_sigma_files, parse_sigma_file

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "corpus" / "sigma"
    files = [
        (rel, folder, path.read_bytes().decode("utf-8", "surrogateescape"))
        for path, rel, folder in list_sigma_files(root)
    ]
    start, cpu_start = time.perf_counter(), time.process_time()
    rules = []
    file_errors = []
    for rel, folder, text in files:
        got, problems = parse_sigma_file(text, rel, folder, repo_url="https://github.com/SigmaHQ/sigma")
        rules.extend(got)
        file_errors.extend(problems)
    assign_unique_uids(rules)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rule_problems = [p for r in rules for p in r.problems]
    severity = Counter(p.severity for p in rule_problems)
    with_errors = sum(1 for r in rules if any(p.severity == "error" for p in r.problems))
    print(
        f"files {len(files)}  rules {len(rules)}  file errors {len(file_errors)}  "
        f"rule problems {len(rule_problems)} ({dict(severity)}; {with_errors} rules with errors)  "
        f"seconds {seconds:.2f} (cpu {cpu:.2f})"
    )


if __name__ == "__main__":
    main()
