"""Rule uids (`<vendor>/<file stem>`) made unique across the files of every source of one vendor.

Every reader names its rules after their file's stem; two files can share a stem (a rule and its deprecated
copy, Hayabusa's copy of a SigmaHQ rule, the same stem in two Sentinel solutions). This module settles who
keeps the plain uid, deterministically, so that URLs stay stable from one build to the next.
"""

from __future__ import annotations

from collections.abc import Callable

from ruleatlas.model import Rule


def file_stem(rel_path: str) -> str:
    """`rules/windows/x.yml` → `x`; a name that is only an extension keeps it (`.yml` stays `.yml`)."""
    name = rel_path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


def folder_rank(rule: Rule) -> tuple[int, str, str]:
    """Rules in a `rules` folder first, then other `rules*` folders, then the rest (deprecated, ...)."""
    folder = rule.folder
    return (
        0 if folder == "rules" else 1 if folder.startswith("rules") else 2,
        rule.source.repo,
        rule.source.path,
    )


def assign_unique_uids(rules: list[Rule], rank: Callable[[Rule], tuple[object, ...]] = folder_rank) -> None:
    """Make uids unique across files, in place and deterministically.

    A file is (source.repo, source.path): the same path in two repositories is two files. Files with the same
    stem: the first by `rank` keeps `<vendor>/<stem>`, the others become `<vendor>/<stem>-<folder>`. Any uid
    still shared after that gets a numeric suffix.
    """
    files: dict[str, dict[tuple[str, str], list[Rule]]] = {}
    for rule in rules:
        base = f"{rule.vendor}/{file_stem(rule.source.path)}"
        files.setdefault(base, {}).setdefault((rule.source.repo, rule.source.path), []).append(rule)
    taken = set(files)
    for base, by_file in files.items():
        if len(by_file) < 2:
            continue
        ordered = sorted(by_file.values(), key=lambda group: rank(group[0]))
        for group in ordered[1:]:
            new_base = f"{base}-{group[0].folder.strip('./') or 'root'}"
            suffix = 2
            candidate = new_base
            while candidate in taken:
                candidate = f"{new_base}-{suffix}"
                suffix += 1
            taken.add(candidate)
            for rule in group:
                if rule.uid.startswith(base):
                    _rename(rule, candidate + rule.uid[len(base) :])
    seen: set[str] = set()
    for rule in rules:
        if rule.uid in seen:
            suffix = 2
            while f"{rule.uid}-{suffix}" in seen:
                suffix += 1
            _rename(rule, f"{rule.uid}-{suffix}")
        seen.add(rule.uid)


def _rename(rule: Rule, uid: str) -> None:
    rule.uid = uid
    for problem in rule.problems:
        problem.rule_uid = uid
