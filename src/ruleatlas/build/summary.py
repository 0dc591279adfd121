"""What a build reports: files, rules and problems per folder, pages written and kept, time per step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass(slots=True)
class FolderSummary:
    files: int = 0
    rules: int = 0
    error_files: int = 0


@dataclass(slots=True)
class BuildSummary:
    mode: str = "full"
    # nothing changed: the current generation stayed published, no new one was made (build/unchanged.py)
    unchanged: bool = False
    files: int = 0
    files_parsed: int = 0
    rules: int = 0
    errors: int = 0
    problems: int = 0
    per_folder: dict[str, FolderSummary] = field(default_factory=dict)
    pages_written: int = 0
    pages_kept: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    # The relations step (build/relations.py): links, conversions run and cached, fires-on engine runs.
    relations: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "unchanged": self.unchanged,
            "files": self.files,
            "files_parsed": self.files_parsed,
            "rules": self.rules,
            "errors": self.errors,
            "problems": self.problems,
            "per_folder": {
                k: {"files": v.files, "rules": v.rules, "error_files": v.error_files}
                for k, v in self.per_folder.items()
            },
            "pages_written": self.pages_written,
            "pages_kept": self.pages_kept,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "relations": self.relations,
        }


class StepTimer:
    """Wall time of each step, added to `summary.timings` under the step's name."""

    def __init__(self, summary: BuildSummary) -> None:
        self.summary = summary
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.summary.timings[name] = self.summary.timings.get(name, 0.0) + now - self.last
        self.last = now


def print_summary(summary: BuildSummary, stream: TextIO) -> None:
    stream.write(
        f"{summary.mode} build: {summary.rules} rules from {summary.files} files "
        f"({summary.files_parsed} parsed, {summary.errors} files failed, {summary.problems} rule problems) "
        f"in {summary.seconds:.1f}s; pages: {summary.pages_written} written, {summary.pages_kept} unchanged\n"
    )
    width = max((len(k) for k in summary.per_folder), default=6)
    stream.write(f"  {'folder':<{width}}  {'files':>6}  {'rules':>6}  {'errors':>6}\n")
    for name, f in sorted(summary.per_folder.items()):
        stream.write(f"  {name:<{width}}  {f.files:>6}  {f.rules:>6}  {f.error_files:>6}\n")
