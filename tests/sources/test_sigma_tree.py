"""Reading trees: SigmaHQ layout vs plain folders, per-folder counts, progress, uid collisions."""

from __future__ import annotations

from pathlib import Path

from ruleatlas.model import Rule, RuleKind, SourceRef
from ruleatlas.sources.sigma import assign_unique_uids, list_sigma_files, read_sigma_tree


def test_sigmahq_layout_reads_only_rule_folders(test_data: Path) -> None:
    root = test_data / "sigma" / "hq"
    listed = [(rel, folder) for _path, rel, folder in list_sigma_files(root)]
    assert listed == [
        ("deprecated/dup_stem.yml", "deprecated"),
        ("rules-emerging-threats/2024/dup_stem.yml", "rules-emerging-threats"),
        ("rules-threat-hunting/hunt_sample.yml", "rules-threat-hunting"),
        ("rules/windows/broken.yml", "rules"),
        ("rules/windows/dup_stem.yml", "rules"),
        ("rules/windows/proc_creation_win_sample.yml", "rules"),
        ("unsupported/legacy_count.yml", "unsupported"),
    ]


def test_read_sigmahq_tree(test_data: Path) -> None:
    seen: list[int] = []
    result = read_sigma_tree(
        test_data / "sigma" / "hq",
        repo_url="https://github.com/SigmaHQ/sigma",
        commit="abc123",
        progress=seen.append,
    )
    assert result.files == 7
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert result.files_per_folder == {
        "deprecated": 1,
        "rules-emerging-threats": 1,
        "rules-threat-hunting": 1,
        "rules": 3,
        "unsupported": 1,
    }
    by_path = {r.source.path: r for r in result.rules}
    assert by_path["rules/windows/dup_stem.yml"].uid == "sigma/dup_stem"
    assert by_path["rules-emerging-threats/2024/dup_stem.yml"].uid == "sigma/dup_stem-rules-emerging-threats"
    assert by_path["deprecated/dup_stem.yml"].uid == "sigma/dup_stem-deprecated"
    assert by_path["deprecated/dup_stem.yml"].kind is RuleKind.DEPRECATED
    assert by_path["rules-threat-hunting/hunt_sample.yml"].kind is RuleKind.HUNTING
    assert by_path["unsupported/legacy_count.yml"].kind is RuleKind.UNSUPPORTED
    sample = by_path["rules/windows/proc_creation_win_sample.yml"]
    assert sample.source == SourceRef(
        "https://github.com/SigmaHQ/sigma",
        "rules/windows/proc_creation_win_sample.yml",
        "abc123",
        "https://github.com/SigmaHQ/sigma/blob/abc123/rules/windows/proc_creation_win_sample.yml",
    )
    assert sample.attack_ids == ("T1059.001",)
    assert sample.authors == ("Alice Example (Org, Team)", "Bob", "Carol")
    assert sample.problems == []
    legacy = by_path["unsupported/legacy_count.yml"]
    assert [(p.severity, p.line) for p in legacy.problems] == [("warning", 9), ("error", 10)]
    assert legacy.problems[1].message.startswith(
        "condition: legacy aggregation '| count() by IpAddress > 10'"
    )
    # every file is a rule or an error
    [broken] = result.errors
    assert (broken.file, broken.line) == ("rules/windows/broken.yml", 8)
    assert broken.message.startswith("malformed YAML")
    assert {r.source.path for r in result.rules} | {p.file for p in result.errors} == {
        rel for _p, rel, _f in list_sigma_files(test_data / "sigma" / "hq")
    }


def test_plain_folder_is_read_recursively_skipping_hidden(test_data: Path) -> None:
    result = read_sigma_tree(test_data / "sigma" / "plain", vendor="mysigma")
    assert result.files == 3
    assert result.files_per_folder == {".": 2, "sub": 1}
    assert result.errors == []
    assert [(r.uid, r.folder, r.kind) for r in result.rules] == [
        ("mysigma/multi", ".", RuleKind.CORRELATION),
        ("mysigma/multi-2", ".", RuleKind.CORRELATION),
        ("mysigma/multi-3", ".", RuleKind.DETECTION),
        ("mysigma/multi-4", ".", RuleKind.DETECTION),
        ("mysigma/root_rule", ".", RuleKind.DETECTION),
        ("mysigma/nested_rule", "sub", RuleKind.DETECTION),
    ]
    correlation = result.rules[1].correlation
    assert correlation is not None
    assert (correlation.rules, correlation.group_by, correlation.condition) == (
        ("failed",),
        ("User",),
        {"gte": 10},
    )
    assert all(r.vendor == "mysigma" for r in result.rules)


def _rule(uid: str, path: str, folder: str) -> Rule:
    return Rule(uid=uid, vendor="sigma", language="sigma", source=SourceRef("", path), folder=folder)


def test_assign_unique_uids_is_deterministic_and_complete() -> None:
    rules = [
        _rule("sigma/x", "deprecated/x.yml", "deprecated"),
        _rule("sigma/x-2", "deprecated/x.yml", "deprecated"),
        _rule("sigma/x", "rules/a/x.yml", "rules"),
        _rule("sigma/x", "rules/b/x.yml", "rules"),
        _rule("sigma/x-2", "rules/x-2.yml", "rules"),
    ]
    assign_unique_uids(rules)
    assert [r.uid for r in rules] == [
        "sigma/x-deprecated",
        "sigma/x-deprecated-2",
        "sigma/x",
        "sigma/x-rules",
        "sigma/x-2",
    ]
    assert len({r.uid for r in rules}) == len(rules)
