"""The Splunk corpus through the SPL parser, each figure checked against a count made without it: regexes over
the detections' `search:` text and the macro files' definitions (a macro counts for a rule that calls it)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

from ruleatlas.analysis.indicators import IndicatorKey, defined_columns, rule_indicators
from ruleatlas.analysis.rows import coverage_facts
from ruleatlas.model import Rule, RuleKind, SourceResult, walk_preds
from ruleatlas.sources import splunk
from ruleatlas.sources.common import read_tree
from ruleatlas.sources.splunk.expressions import SCOPE_FIELDS
from ruleatlas.telemetry import TelemetryCatalog, load_telemetry
from ruleatlas.telemetry.coverage import event_coverage

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> SourceResult:
    return read_tree(splunk, shared_dir / "corpus" / "splunk")


@pytest.fixture(scope="module")
def live(corpus: SourceResult) -> list[Rule]:
    return [r for r in corpus.rules if r.kind is not RuleKind.DEPRECATED]


@pytest.fixture(scope="module")
def telemetry(shared_dir: Path) -> TelemetryCatalog:
    return load_telemetry(shared_dir / "providers", shared_dir / "corpus" / "sigma")


@pytest.fixture(scope="module")
def searches(live: list[Rule]) -> dict[str, str]:
    """Each live rule's search text, read from its YAML (not from the parser)."""
    out: dict[str, str] = {}
    for rule in live:
        doc = yaml.load(rule.body, Loader=yaml.CSafeLoader)
        out[rule.source.path] = str(doc.get("search", "")) if isinstance(doc, dict) else ""
    return out


def text_count(shared_dir: Path, searches: dict[str, str], *patterns: str) -> set[str]:
    """Rules whose search matches a pattern, or calls a macro whose definition does."""
    compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
    macros: set[str] = set()
    for path in (shared_dir / "corpus" / "splunk" / "macros").glob("*.yml"):
        definition = path.read_text(encoding="utf-8")
        if any(p.search(definition) for p in compiled):
            macros.add(path.stem)
    calls = re.compile(r"`(" + "|".join(map(re.escape, sorted(macros))) + r")`") if macros else None
    return {
        rel
        for rel, search in searches.items()
        if any(p.search(search) for p in compiled) or (calls is not None and calls.search(search))
    }


def ir_count(live: Iterable[Rule], key: IndicatorKey) -> tuple[set[str], set[str]]:
    """(rules with the indicator, rules with it only as an exclusion)."""
    positive: set[str] = set()
    excluded: set[str] = set()
    for rule in live:
        found = rule_indicators(rule)
        if any(i.key == key for i in found.positives):
            positive.add(rule.source.path)
        elif any(i.key == key for i in found.exclusions):
            excluded.add(rule.source.path)
    return positive, excluded


def test_live_searches_parse(corpus: SourceResult, live: list[Rule]) -> None:
    parsed = [r for r in live if r.logic_parsed]
    assert len(live) == 1659
    assert len(parsed) >= 0.98 * len(live)  # all 1,659 today
    unparsed = [r for r in corpus.rules if not r.logic_parsed]
    assert len(unparsed) <= 0.02 * len(corpus.rules)  # 2 deprecated rules today
    for rule in unparsed:
        problem = next(p for p in rule.problems if "does not parse" in p.message)
        assert problem.line and problem.hint and problem.file == rule.source.path
        assert rule.stages and all(s.expr is None for s in rule.stages)  # text stages, split at pipes


def test_undefined_macros_are_only_the_escu_core_ones(live: list[Rule]) -> None:
    named = {p.message.split("`")[1] for r in live for p in r.problems if p.message.startswith("macro `")}
    assert named == {"get_asset"}


def field_patterns(field: str, value: str) -> tuple[str, str]:
    """`field=value` (also with the data-model prefix, quoted or not) and `field IN (..."value"...)`."""
    name = rf"(?<![\w.])(?:[A-Z][a-z]+\.)?{field}"
    return (rf"{name}\s*=\s*\"?{re.escape(value)}\b", rf"{name}\s+IN\s*\([^)]*\"{re.escape(value)}\"")


@pytest.mark.parametrize(
    ("key", "patterns", "expected"),
    [
        # the research note's 47 includes one rule that neither the text count nor the parser finds
        (
            ("Image", "ends_with", "\\powershell.exe", ""),
            field_patterns("process_name", "powershell.exe"),
            46,
        ),
        (("Image", "ends_with", "\\certutil.exe", ""), field_patterns("process_name", "certutil.exe"), 13),
        (
            ("OriginalFileName", "eq", "powershell.exe", ""),
            field_patterns("original_file_name", "powershell.exe"),
            19,
        ),
    ],
)
def test_cross_vendor_counts_equal_text_counts(
    shared_dir: Path,
    live: list[Rule],
    searches: dict[str, str],
    key: IndicatorKey,
    patterns: tuple[str, ...],
    expected: int,
) -> None:
    positive, excluded = ir_count(live, key)
    assert positive | excluded == text_count(shared_dir, searches, *patterns)
    assert len(positive) == expected


def test_event_code_4104(shared_dir: Path, live: list[Rule], searches: dict[str, str]) -> None:
    positive, excluded = ir_count(live, ("EventID", "eq", "4104", ""))
    text = text_count(shared_dir, searches, r"(?<![\w.])EventCode\s*=\s*\"?4104\b")
    assert positive | excluded == text
    assert 102 <= len(positive) <= 103


def test_no_scope_field_is_an_indicator_and_most_get_a_sigma_name(live: list[Rule]) -> None:
    named = total = 0
    for rule in live:
        found = rule_indicators(rule)
        for indicator in (*found.positives, *found.exclusions):
            assert (indicator.native_field or "").lower() not in SCOPE_FIELDS
            total += 1
            named += indicator.how != "native"
    # the canonical-field share of the indicators (76.7 % today; the issue asks for 75 %)
    assert named / total >= 0.75


def test_post_aggregate_thresholds_are_logic_not_indicators(live: list[Rule]) -> None:
    """`| where count > 5` after stats is the aggregate's logic: shown in its stage, never an indicator."""
    thresholds = 0
    for rule in live:
        defined = defined_columns(rule.stages)
        thresholds += any(
            p.field in defined for s in rule.stages for p, _ in walk_preds(s.expr) if p.field is not None
        )
        found = rule_indicators(rule)
        assert all(i.native_field not in defined for i in (*found.positives, *found.exclusions))
    assert thresholds >= 100


def test_event_coverage_from_data_sources(telemetry: TelemetryCatalog, live: list[Rule]) -> None:
    covered = {r.source.path for r in live if event_coverage(r, telemetry).events}
    assert len(covered) >= 1081  # 1,420 today
    # every rule whose YAML names a Sysmon or Security event as its first data source has that coverage
    named = re.compile(
        r"^data_source:\n- (Sysmon EventID \d+|Windows Event Log Security \d+)\n", re.MULTILINE
    )
    windows = {r.source.path for r in live if named.search(r.body)}
    assert len(windows) >= 800 and windows <= covered  # 820 today


def test_coverage_reads_a_vendor_rule_in_sigma_field_names(
    telemetry: TelemetryCatalog, live: list[Rule]
) -> None:
    """`Processes.process_name` is Image and EventCode is EventID for the coverage check: a tstats rule on
    Endpoint.Processes whose data sources are Sysmon 1 and Security 4688 covers both, and no coverage note
    names a scope field."""
    rule = next(r for r in live if r.uid == "splunk/windows_cmdline_tool_execution_from_non_shell_process")
    coverage = event_coverage(rule, telemetry, coverage_facts(rule))
    assert {(e.provider_name, e.event_id) for e in coverage.events} == {
        ("Microsoft-Windows-Sysmon", 1),
        ("Microsoft-Windows-Security-Auditing", 4688),
    }
    assert "datamodel" not in coverage.note and "Processes.process_name" not in coverage.note
