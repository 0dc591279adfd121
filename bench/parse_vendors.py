"""List and parse every vendor's corpus with its reader on one core; print files, rules, problems and CPU
time.

    .venv/bin/python bench/parse_vendors.py [SHARED]   (default: ../shared)

For each source of `ruleatlas.sources.SOURCES` whose folder exists under SHARED/corpus: "list" is the CPU
time of `list_files` (for Panther it reads each YAML's `Filename:` to name the Python companion), "parse"
the CPU time of reading the files (and companions) and `parse_file` over all of them. "cpu" figures are this
process's CPU time (less sensitive to other load on a shared machine than wall-clock time, which is printed
last).
"""

from __future__ import annotations

import importlib
import sys
import time
from collections import Counter
from pathlib import Path

from ruleatlas.sources import SHARED_FOLDERS, SOURCES
from ruleatlas.sources.common import read_text
from ruleatlas.sources.sigma import assign_unique_uids

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared"
    total_cpu = total_wall = vendors_cpu = 0.0
    header = f"{'source':<10} {'files':>6} {'rules':>6} {'file problems':>13} {'rule problems':>13}"
    print(f"{header}  list cpu  parse cpu")
    for source, (_vendor, module_name) in SOURCES.items():
        root = shared / "corpus" / SHARED_FOLDERS[source]
        if source == "sigma" or not root.is_dir():
            continue  # SigmaHQ has its own benchmark (bench/parse_sigma.py)
        reader = importlib.import_module(module_name)
        wall, cpu = time.perf_counter(), time.process_time()
        files = list(reader.list_files(root))
        list_cpu = time.process_time() - cpu
        rules, file_problems = [], []
        parse_start = time.process_time()
        for file in files:
            text, problem = read_text(file.path, file.rel_path)
            if text is None:
                file_problems.extend([problem] if problem else [])
                continue
            companions = {}
            for rel in file.companions:
                companion, _missing = read_text(root / rel, rel)
                if companion is not None:
                    companions[rel] = companion
            got, problems = reader.parse_file(
                text, file.rel_path, file.folder, repo_url="", commit="", companions=companions
            )
            rules.extend(got)
            file_problems.extend(problems)
        assign_unique_uids(rules)
        parse_cpu = time.process_time() - parse_start
        total_cpu += time.process_time() - cpu
        if _vendor != "sigma":  # Hayabusa and Suzaku are Sigma rules, read by the Sigma reader
            vendors_cpu += time.process_time() - cpu
        total_wall += time.perf_counter() - wall
        severity = Counter(p.severity for r in rules for p in r.problems)
        print(
            f"{source:<10} {len(files):>6} {len(rules):>6} {len(file_problems):>13} "
            f"{sum(severity.values()):>13}  {list_cpu:7.2f}s  {parse_cpu:8.2f}s"
        )
    print(f"six vendors cpu {vendors_cpu:.2f}s  all sources cpu {total_cpu:.2f}s  wall {total_wall:.2f}s")


if __name__ == "__main__":
    main()
