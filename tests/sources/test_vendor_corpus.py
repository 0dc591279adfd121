"""The six vendors' real corpora (../shared): every file is a rule or a reported problem, and the counts agree
with counts taken straight from the files (a glob, a regular expression over the text), not from the readers.

Common to every vendor: each listed file gives a rule or a file problem; every rule has a uid, a title and a
body; uids are unique once `assign_unique_uids` ran; every problem names its file and line.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from ruleatlas.model import RuleKind, SourceResult
from ruleatlas.sources import elastic, kusto, panther, splunk, sublime, yaral
from ruleatlas.sources.common import read_tree

pytestmark = pytest.mark.corpus
LOGIC_PARSED = frozenset(
    {"panther-yaml", "eql", "kuery", "esql", "lucene", "ml", "kql", "yaral", "spl", "mql", "python", "sql"}
)


def walk(reader: ModuleType, root: Path) -> SourceResult:
    result = read_tree(reader, root, repo_url="https://github.com/example/repo", commit="c0ffee")
    listed = {f.rel_path for f in reader.list_files(root)}
    assert result.files == len(listed)
    assert {r.source.path for r in result.rules} | {p.file for p in result.errors} == listed
    assert all(r.uid.startswith(f"{reader.VENDOR}/") and r.title and r.body.strip() for r in result.rules)
    assert len({r.uid for r in result.rules}) == len(result.rules)
    problems = result.errors + [p for r in result.rules for p in r.problems]
    assert all(p.file and p.line is not None for p in problems), [p for p in problems if p.line is None][:3]
    assert all(r.vendor == reader.VENDOR for r in result.rules)
    # languages whose logic is read into stages have their own corpus tests (test_elastic_corpus.py...)
    assert all(not r.logic_parsed for r in result.rules if r.language not in LOGIC_PARSED)
    return result


def grep(root: Path, pattern: str, glob: str) -> set[str]:
    """Relative paths of the files under root matching glob whose text matches pattern (multiline)."""
    regex = re.compile(pattern, re.MULTILINE)
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob(glob)
        if regex.search(p.read_text(encoding="utf-8", errors="replace"))
    }


def kinds(result: SourceResult) -> Counter[RuleKind]:
    return Counter(r.kind for r in result.rules)


def test_elastic(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "elastic"
    result = walk(elastic, root)
    files = {
        p.relative_to(root).as_posix()
        for top in ("rules", "rules_building_block")
        for p in (root / top).rglob("*.toml")
    }
    assert len(result.rules) == len(files) == 2192 and result.errors == []
    deprecated = {f for f in files if f.startswith("rules/_deprecated/")}
    promotions = grep(root, r"^promotion = true", "*.toml") - deprecated
    promotions |= grep(root, r'^type = "threat_match"', "*.toml") - deprecated  # indicator matches
    building = grep(root, r"^building_block_type = ", "*.toml") - deprecated - promotions
    assert kinds(result) == {
        RuleKind.DEPRECATED: len(deprecated),  # 124
        RuleKind.ALERT_FEED: len(promotions),  # 42 promotions, 6 indicator matches
        RuleKind.BUILDING_BLOCK: len(building),  # 127
        RuleKind.DETECTION: 2192 - len(deprecated) - len(promotions) - len(building),
    }
    languages = Counter(r.language for r in result.rules)
    for language in ("eql", "kuery", "esql", "lucene"):
        assert languages[language] == len(grep(root, rf'^language = "{language}"', "*.toml"))
    assert languages["ml"] == len(grep(root, r'^type = "machine_learning"', "*.toml")) == 106
    with_threat = grep(root, r"^\s*\[\[rule\.threat\.technique\]\]", "*.toml")
    assert {r.source.path for r in result.rules if r.attack_ids} == with_threat
    assert all(r.level in ("low", "medium", "high", "critical") for r in result.rules)


def test_splunk(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "splunk"
    result = walk(splunk, root)
    files = {p.relative_to(root).as_posix() for p in (root / "detections").rglob("*.yml")}
    assert len(result.rules) == len(files) == 1814 and result.errors == []
    deprecated = {f for f in files if f.startswith("detections/deprecated/")}
    hunting = grep(root / "detections", r"^type: Hunting\s*$", "*.yml")
    correlation = grep(root / "detections", r"^type: Correlation\s*$", "*.yml")
    live = lambda paths: {p for p in paths if not p.startswith("deprecated/")}  # noqa: E731
    assert kinds(result) == {
        RuleKind.DEPRECATED: len(deprecated),  # 155
        RuleKind.HUNTING: len(live(hunting)),  # 198
        RuleKind.CORRELATION: len(live(correlation)),  # 13
        RuleKind.DETECTION: 1814
        - len(deprecated)
        - len(live(hunting))
        - len(live(correlation)),  # TTP + Anomaly
    }
    levels = Counter(r.level for r in result.rules if r.kind is not RuleKind.DEPRECATED)
    # the research note's independent count of the live rules' highest RBA scores on ESCU's scale
    assert levels == {"low": 149, "medium": 701, "high": 375, "critical": 223, "": 211}
    assert {r.uid for r in result.rules if r.level == "" and r.kind is not RuleKind.DEPRECATED} == {
        r.uid for r in result.rules if r.kind in (RuleKind.HUNTING, RuleKind.CORRELATION)
    }
    with_attack = grep(root / "detections", r"^\s+mitre_attack_id:[ \t]*\n\s*- T", "*.yml")
    assert len([r for r in result.rules if r.attack_ids]) == len(with_attack)


def test_kusto(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "sentinel"
    result = walk(kusto, root)
    with_query = grep(root, r"^query:", "*.yaml")
    assert len(with_query) == len(result.rules) == 1040
    assert result.files == 1048
    assert {p.file for p in result.errors} == {
        f for f in (r.rel_path for r in kusto.list_files(root)) if f not in with_query
    }
    assert all(p.severity == "warning" and "moved" in p.message for p in result.errors)  # the 8 stubs
    techniques = grep(root, r"^relevantTechniques:\n\s*- T", "*.yaml")
    assert len([r for r in result.rules if r.attack_ids]) == len(techniques & with_query) == 874
    stems = Counter(r.rel_path.rsplit("/", 1)[-1] for r in kusto.list_files(root))
    assert (
        sum(n - 1 for n in stems.values() if n > 1) > 0
    )  # colliding stems exist, and uids are unique anyway
    assert Counter(r.level for r in result.rules) == {
        "medium": 627,
        "high": 272,
        "low": 133,
        "informational": 8,
    }


def test_yaral(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "chronicle"
    result = walk(yaral, root)
    files = {p.relative_to(root).as_posix() for p in (root / "rules").rglob("*.yaral")}
    headers = sum(
        len(re.findall(r"^\s*rule\s+\w+\s*\{", (root / f).read_text(), re.MULTILINE)) for f in files
    )
    assert len(files) == 886 and len(result.rules) == headers == 886 and result.errors == []
    assert [p for r in result.rules for p in r.problems] == []
    deprecated = {f for f in files if "/_deprecated/" in f}
    hunts = grep(root / "rules" / "community", r'^\s*type = "[Hh]unt"', "*.yaral")
    assert kinds(result) == {
        RuleKind.DEPRECATED: len(deprecated),  # 538
        RuleKind.HUNTING: len(hunts),  # 38
        RuleKind.DETECTION: 886 - len(deprecated) - len(hunts),
    }
    community = [r for r in result.rules if r.kind is not RuleKind.DEPRECATED]
    assert sum(1 for r in community if r.attack_ids) == 262  # the research note's count of T-ids in meta
    matches = grep(root / "rules" / "community", r"^\s*match\s*:", "*.yaral")
    assert sum(1 for r in community if r.correlation is not None) == len(matches) == 280


def test_sublime(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "sublime"
    result = walk(sublime, root)
    per_folder = {top: len(list((root / top).rglob("*.yml"))) for top in sublime.FOLDERS}
    assert result.files_per_folder == per_folder
    assert len(result.rules) == sum(per_folder.values()) == 1571 and result.errors == []
    assert kinds(result) == {
        RuleKind.DETECTION: per_folder["detection-rules"],
        RuleKind.HUNTING: per_folder["discovery-rules"] + per_folder["dlp-discovery-rules"],
        RuleKind.ENRICHMENT: per_folder["insights"],
        RuleKind.FILTER: per_folder["exclusions"],
    }
    assert all(r.attack_ids == () for r in result.rules)  # Sublime's taxonomy is not ATT&CK
    assert Counter(r.level for r in result.rules if r.folder == "detection-rules") == {
        "medium": 684,
        "high": 387,
        "low": 112,
        "critical": 6,
    }


def test_panther(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "panther"
    result = walk(panther, root)
    items = {
        f
        for top in panther.FOLDERS
        for f in grep(
            root / top,
            r"^AnalysisType: (rule|scheduled_rule|policy|correlation_rule|scheduled_query|saved_query)\s*$",
            "*.yml",
        )
    }
    assert len(result.rules) == len(items) == 1168 and result.errors == []
    with_python = {f for top in panther.FOLDERS for f in grep(root / top, r"^Filename:", "*.yml")}
    assert sum(1 for r in result.rules if r.language == "python") == len(with_python) == 1041
    assert all(
        r.body.lstrip().startswith(("def ", "from ", "import ", "#", '"""', "@")) or "def " in r.body
        for r in result.rules
        if r.language == "python"
    )
    correlations = {
        f for top in panther.FOLDERS for f in grep(root / top, r"^AnalysisType: correlation_rule", "*.yml")
    }
    # correlation rules join other rules; a Python rule's dedup window is an inline aggregation (rules == ())
    assert sum(1 for r in result.rules if r.correlation is not None and r.correlation.rules) == 31
    assert len(correlations) == 31
    deprecated = {f for top in panther.FOLDERS for f in grep(root / top, r"^Status: [Dd]eprecated", "*.yml")}
    assert kinds(result)[RuleKind.DEPRECATED] == len(deprecated) == 17
    reports = {f for top in panther.FOLDERS for f in grep(root / top, r"^\s+MITRE ATT&CK:\n\s+- ", "*.yml")}
    assert sum(1 for r in result.rules if r.attack_ids) == len(reports) == 733
    # every Python file parses and has rule/policy (SQL queries outside the parsed subset have their own)
    assert [p for r in result.rules if r.language != "sql" for p in r.problems] == []
