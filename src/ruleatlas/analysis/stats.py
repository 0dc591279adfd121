"""The catalog's totals in words, the same on the command line (`ruleatlas stats`) and the home page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict


class ProblemFigures(TypedDict):
    files_failed: int
    problem_errors: int
    problem_warnings: int
    rules_with_problems: int


def _rules(n: int) -> str:
    return f"{n:,} rule{'s' if n != 1 else ''}"


def kind_vs_status_text(name: str, counts: Mapping[str, int]) -> str:
    """Why "per kind" and "per status" differ for `name` (deprecated, unsupported): the kind comes from
    where the rule sits (Sigma: the folder), the status from what the rule says about itself.

    "172 rules in deprecated/, 167 of them with status deprecated; 0 rules elsewhere with status deprecated"
    """
    text = f"{_rules(counts['kind'])} in {name}/, {counts['kind_and_status']:,} of them with status {name}"
    return text + f"; {_rules(counts['status_elsewhere'])} elsewhere with status {name}"


def problems_text(stats: ProblemFigures) -> str:
    """Files that failed (no rule read) apart from problems found in rules, by severity."""
    return (
        f"{stats['files_failed']:,} file{'s' if stats['files_failed'] != 1 else ''} failed (no rule read); "
        f"{stats['problem_errors']:,} errors and {stats['problem_warnings']:,} warnings "
        f"in {_rules(stats['rules_with_problems'])}"
    )
