"""Which telemetry summary pages a rebuild renders again, decided from the changed rules' rows before and
after (web/telemetry_changes.py). That the pages kept are a full build's, byte for byte, is
tests/test_build_incremental.py's comparison of the sites."""

from __future__ import annotations

from dataclasses import replace

from ruleatlas.web.telemetry_changes import PageChanges, RuleInputs, page_changes

ROW = (
    "sigma",  # vendor
    "Encoded PowerShell",  # title
    "high",  # level
    "test",  # status
    "detection",  # kind
    "windows",  # product
    "process_creation",  # category
    "",  # service
    "11111111-0000-4000-8000-000000000001",  # rule_id
    "",  # coverage note
    "",  # name
    None,  # correlation
)
EVENTS = (("Microsoft-Windows-Sysmon", "1", "Microsoft-Windows-Sysmon/Operational", "sigma", 1),)
RULE = RuleInputs(ROW, EVENTS, ())
NOTHING = PageChanges(False, False, frozenset(), False, False, False)


def _with(**row: object) -> RuleInputs:
    names = [
        "vendor",
        "title",
        "level",
        "status",
        "kind",
        "product",
        "category",
        "service",
        "rule_id",
        "note",
    ]
    values = list(ROW)
    for name, value in row.items():
        values[names.index(name)] = value
    return replace(RULE, row=tuple(values))


def test_nothing_read_changed_renders_nothing() -> None:
    assert page_changes({"u": RULE}, {"u": RULE}) == NOTHING
    assert page_changes({"u": RULE}, {"u": _with(status="stable")}) == NOTHING  # no summary page shows it


def test_a_level_moves_the_priority_ranking_and_the_provider_pages_only() -> None:
    changes = page_changes({"u": RULE}, {"u": _with(level="critical")})
    assert changes == replace(NOTHING, priority=True, providers=True)


def test_a_title_moves_the_coverage_matrix_only_for_a_covered_rule() -> None:
    assert page_changes({"u": RULE}, {"u": _with(title="PowerShell Encoded")}) == replace(
        NOTHING, coverage=True
    )
    uncovered = replace(RULE, events=())
    retitled = replace(_with(title="PowerShell Encoded"), events=())
    assert page_changes({"u": uncovered}, {"u": retitled}).uncovered


def test_a_rule_added_or_removed_moves_every_figure_it_counts_in() -> None:
    for before, after in (({}, {"u": RULE}), ({"u": RULE}, {})):
        changes = page_changes(before, after)
        assert changes.index and changes.uncovered and changes.priority and changes.providers
        assert changes.vendors == {"sigma"}


def test_an_event_changed_moves_the_vendor_page_of_its_vendor() -> None:
    moved = replace(RULE, events=(("Microsoft-Windows-Security-Auditing", "4688", "Security", "sigma", 1),))
    changes = page_changes({"u": RULE}, {"u": moved})
    assert changes.index and changes.vendors == {"sigma"} and changes.coverage and changes.priority
    assert not changes.uncovered  # still covered


def test_a_rule_leaving_the_counts_moves_the_uncovered_totals() -> None:
    deprecated = replace(_with(kind="deprecated"), events=tuple((*e[:4], 0) for e in EVENTS))
    changes = page_changes({"u": RULE}, {"u": deprecated})
    assert changes.uncovered and changes.index and changes.vendors == {"sigma"} and changes.priority
