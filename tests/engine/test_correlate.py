"""Correlation semantics with hand-built rules: each type at and around its threshold and timespan."""

from __future__ import annotations

import json

import pytest
from test_correlate_support import at, base, corr, ev, feed_all, skip_counts

from ruleatlas.engine.correlate import (
    DUPLICATE,
    GROUPS_FULL,
    LATE,
    NO_TIMESTAMP,
    WINDOW_FULL,
    Correlator,
    correlation_alert_json,
)
from ruleatlas.logs.event import Event
from ruleatlas.model import Rule

FAILED = base("failed_login")
OTHER = base("other_rule")


def records(alert_events: list[Event]) -> list[int | None]:
    return [event.record for event in alert_events]


# --- event_count ----------------------------------------------------------------------------------


def test_event_count_fires_at_the_threshold_and_not_before() -> None:
    rule = corr("event_count", ["failed_login"], condition={"gte": 3})
    correlator = Correlator([rule], [FAILED])
    assert correlator.problems == []
    first = [ev(0, User="bob", record=1), ev(100, User="bob", record=2)]
    assert feed_all(correlator, [(FAILED, e) for e in first]) == []

    correlator = Correlator([rule], [FAILED])
    events = [*first, ev(200, User="bob", record=3)]
    alerts = feed_all(correlator, [(FAILED, e) for e in events])
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.rule, alert.type, alert.count, alert.group) == (rule, "event_count", 3, {"User": "bob"})
    assert (alert.window_start, alert.window_end) == (at(0), at(200))
    assert records(alert.events) == [1, 2, 3]


@pytest.mark.parametrize(
    ("last", "fires"),
    [(300, True), (300.000001, False)],
    ids=["exactly-timespan-apart", "one-microsecond-over"],
)
def test_event_count_window_includes_both_ends(last: float, fires: bool) -> None:
    correlator = Correlator([corr("event_count", ["failed_login"], condition={"gte": 3})], [FAILED])
    events = [ev(0, User="bob"), ev(150, User="bob"), ev(last, User="bob")]
    alerts = feed_all(correlator, [(FAILED, e) for e in events])
    assert len(alerts) == int(fires)


def test_event_count_sliding_window_drops_old_events() -> None:
    correlator = Correlator([corr("event_count", ["failed_login"], condition={"gte": 3})], [FAILED])
    # At 301 the event at 0 has left the window (200, 301: two); at 350 it holds 200, 301, 350.
    events = [ev(0, User="u", record=10), ev(200, User="u", record=11), ev(301, User="u", record=12)]
    assert feed_all(correlator, [(FAILED, e) for e in events]) == []
    correlator = Correlator([corr("event_count", ["failed_login"], condition={"gte": 3})], [FAILED])
    events.append(ev(350, User="u", record=13))
    alerts = feed_all(correlator, [(FAILED, e) for e in events])
    assert [records(a.events) for a in alerts] == [[11, 12, 13]]
    assert alerts[0].window_start == at(200)


def test_event_count_resets_after_an_alert_so_evidence_never_overlaps() -> None:
    correlator = Correlator([corr("event_count", ["failed_login"], condition={"gte": 3})], [FAILED])
    events = [ev(i, User="bob", record=i) for i in range(7)]
    alerts = feed_all(correlator, [(FAILED, e) for e in events])
    assert [records(a.events) for a in alerts] == [[0, 1, 2], [3, 4, 5]]
    assert [a.count for a in alerts] == [3, 3]


@pytest.mark.parametrize(
    ("condition", "fires_at"),
    [
        ({"gt": 2}, [3]),
        ({"gte": 2}, [2, 4]),
        ({"eq": 2}, [2, 4]),
        ({"lt": 3}, [1, 2, 3, 4]),  # upper bounds are tested on the window ending at each event
        ({"lte": 1}, [1, 2, 3, 4]),
        ({"neq": 1}, [2, 4]),
        ({"gt": 1, "lte": 2}, [2, 4]),  # the spec's range: all operators must hold
    ],
    ids=["gt", "gte", "eq", "lt", "lte", "neq", "range"],
)
def test_event_count_condition_operators(condition: dict[str, int], fires_at: list[int]) -> None:
    correlator = Correlator([corr("event_count", ["failed_login"], condition=condition)], [FAILED])  # type: ignore[arg-type]
    alerts = feed_all(correlator, [(FAILED, ev(i, User="bob", record=i)) for i in range(1, 5)])
    assert [a.events[-1].record for a in alerts] == fires_at


def test_event_count_neq_fires_when_count_differs() -> None:
    correlator = Correlator([corr("event_count", ["failed_login"], condition={"neq": 2})], [FAILED])
    alerts = feed_all(correlator, [(FAILED, ev(i, User="bob", record=i)) for i in range(1, 3)])
    assert [a.count for a in alerts] == [1, 1]


def test_event_count_groups_are_separate_and_compare_case_insensitively() -> None:
    rule = corr("event_count", ["failed_login"], group_by=["User", "Computer"], condition={"gte": 2})
    correlator = Correlator([rule], [FAILED])
    events = [
        ev(0, User="Bob", Computer="PC1"),
        ev(1, User="alice", Computer="PC1"),
        ev(2, User="bob", Computer="pc2"),  # another group: other computer
        ev(3, User="BOB", Computer="pc1"),  # same group as the first event
    ]
    alerts = feed_all(correlator, [(FAILED, e) for e in events])
    assert len(alerts) == 1
    assert alerts[0].group == {"User": "Bob", "Computer": "PC1"}  # the first event's spelling
    assert alerts[0].count == 2


def test_numbers_group_with_their_text() -> None:
    correlator = Correlator(
        [corr("event_count", ["failed_login"], group_by=["LogonType"], condition={"gte": 2})], [FAILED]
    )
    alerts = feed_all(correlator, [(FAILED, ev(0, LogonType=3)), (FAILED, ev(1, LogonType="3"))])
    assert [a.group for a in alerts] == [{"LogonType": 3}]


def test_missing_group_by_field_is_skipped_and_counted() -> None:
    rule = corr("event_count", ["failed_login"], group_by=["User"], condition={"gte": 2})
    correlator = Correlator([rule], [FAILED])
    alerts = feed_all(
        correlator, [(FAILED, ev(0, Computer="pc")), (FAILED, ev(1, User=None)), (FAILED, ev(2, User="x"))]
    )
    assert alerts == []
    assert skip_counts(correlator) == {"group-by field 'User' missing": 2}
    assert correlator.skips[0].rule is rule


def test_events_without_timestamp_are_skipped_and_counted() -> None:
    correlator = Correlator([corr("event_count", ["failed_login"], condition={"gte": 1})], [FAILED])
    assert correlator.feed(FAILED, Event({"User": "bob"}, "log.json", 3, None)) == []
    assert skip_counts(correlator) == {NO_TIMESTAMP: 1}


def test_unreferenced_rule_matches_are_ignored() -> None:
    correlator = Correlator([corr("event_count", ["failed_login"], condition={"gte": 1})], [FAILED, OTHER])
    assert correlator.feed(OTHER, ev(0, User="bob")) == []
    assert correlator.skips == []
    assert correlator.referenced_uids == {FAILED.uid}


def test_event_count_over_several_rules_counts_an_event_once() -> None:
    logon = base("logon")
    rule = corr("event_count", ["failed_login", "logon"], condition={"gte": 2})
    correlator = Correlator([rule], [FAILED, logon])
    shared = ev(0, User="bob")
    assert correlator.feed(FAILED, shared) == []
    assert correlator.feed(logon, shared) == []  # the same event through the other rule
    alerts = correlator.feed(logon, ev(1, User="bob"))
    assert [a.count for a in alerts] == [2]
    assert skip_counts(correlator) == {DUPLICATE: 1}


# --- value_count ----------------------------------------------------------------------------------


def test_value_count_counts_distinct_values_case_insensitively() -> None:
    rule = corr("value_count", ["failed_login"], group_by=["Computer"], condition={"field": "User", "gte": 3})
    correlator = Correlator([rule], [FAILED])
    events = [
        ev(0, Computer="dc", User="a"),
        ev(1, Computer="dc", User="A"),  # same value
        ev(2, Computer="dc", User="b"),
        ev(3, Computer="dc"),  # no User: skipped
        ev(4, Computer="dc", User="c"),
    ]
    alerts = feed_all(correlator, [(FAILED, e) for e in events])
    assert [(a.count, len(a.events)) for a in alerts] == [(3, 4)]
    assert skip_counts(correlator) == {"value field 'User' missing": 1}


def test_value_count_forgets_values_that_leave_the_window() -> None:
    rule = corr(
        "value_count",
        ["failed_login"],
        group_by=["Computer"],
        timespan="1m",
        condition={"field": "User", "gt": 2},
    )
    correlator = Correlator([rule], [FAILED])
    events = [
        ev(0, Computer="dc", User="a"),
        ev(30, Computer="dc", User="b"),
        ev(61, Computer="dc", User="c"),
    ]
    assert feed_all(correlator, [(FAILED, e) for e in events]) == []
    correlator = Correlator([rule], [FAILED])
    events[2] = ev(60, Computer="dc", User="c")
    assert [a.count for a in feed_all(correlator, [(FAILED, e) for e in events])] == [3]


def test_value_count_of_several_fields_counts_combinations() -> None:
    rule = corr(
        "value_count", ["failed_login"], group_by=[], condition={"field": ["User", "Domain"], "gte": 3}
    )
    correlator = Correlator([rule], [FAILED])
    events = [ev(0, User="a", Domain="x"), ev(1, User="a", Domain="y"), ev(2, User="b", Domain="x")]
    assert [a.count for a in feed_all(correlator, [(FAILED, e) for e in events])] == [3]
    assert [p.message for p in correlator.problems] == [
        "correlation has no 'group-by': all matching events form one group"
    ]


# --- temporal / temporal_ordered ------------------------------------------------------------------

A, B, C = base("recon_cmd_a"), base("recon_cmd_b"), base("recon_cmd_c")
RECON = ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"]


def test_temporal_needs_all_rules_in_any_order_within_the_timespan() -> None:
    rule = corr("temporal", RECON, group_by=["ComputerName", "User"])
    correlator = Correlator([rule], [A, B, C])
    host = {"ComputerName": "ws1", "User": "eve"}
    alerts = feed_all(
        correlator, [(C, ev(0, **host)), (A, ev(10, **host)), (A, ev(20, **host)), (B, ev(300, **host))]
    )
    assert [(a.count, a.window_start, a.window_end, len(a.events)) for a in alerts] == [
        (3, at(0), at(300), 4)
    ]


def test_temporal_does_not_fire_when_a_rule_left_the_window_or_matched_elsewhere() -> None:
    rule = corr("temporal", RECON, group_by=["User"])
    correlator = Correlator([rule], [A, B, C])
    matches = [
        (A, ev(0, User="eve")),
        (B, ev(200, User="eve")),
        (C, ev(200, User="bob")),  # other group
        (C, ev(301, User="eve")),  # A at 0 has left the window
    ]
    assert feed_all(correlator, matches) == []
    correlator = Correlator([rule], [A, B, C])
    matches.append((A, ev(310, User="eve")))  # B 200, C 301, A 310
    alerts = feed_all(correlator, matches)
    assert [(a.count, a.window_start) for a in alerts] == [(3, at(200))]


def test_temporal_with_a_count_condition_needs_that_many_rules() -> None:
    rule = corr("temporal", RECON, condition={"gte": 2})
    correlator = Correlator([rule], [A, B, C])
    alerts = feed_all(correlator, [(A, ev(0, User="u")), (A, ev(1, User="u")), (C, ev(2, User="u"))])
    assert [a.count for a in alerts] == [2]


def test_temporal_counts_one_event_for_each_rule_it_matches() -> None:
    correlator = Correlator([corr("temporal", ["recon_cmd_a", "recon_cmd_b"])], [A, B])
    shared = ev(0, User="u")
    assert correlator.feed(A, shared) == []
    alerts = correlator.feed(B, shared)
    assert [(a.count, len(a.events)) for a in alerts] == [(2, 1)]


def test_temporal_ordered_needs_the_listed_order() -> None:
    rule = corr("temporal_ordered", ["recon_cmd_a", "recon_cmd_b"])
    correlator = Correlator([rule], [A, B])
    assert feed_all(correlator, [(B, ev(0, User="u")), (A, ev(1, User="u"))]) == []

    correlator = Correlator([rule], [A, B])
    matches = [(B, ev(0, User="u", record=1)), (A, ev(1, User="u", record=2)), (B, ev(2, User="u", record=3))]
    alerts = feed_all(correlator, matches)
    assert [(a.count, records(a.events)) for a in alerts] == [(2, [2, 3])]  # the ordered chain only


def test_temporal_ordered_takes_equal_times_in_arrival_order() -> None:
    rule = corr("temporal_ordered", ["recon_cmd_a", "recon_cmd_b"])
    correlator = Correlator([rule], [A, B])
    assert len(feed_all(correlator, [(A, ev(5, User="u")), (B, ev(5, User="u"))])) == 1
    correlator = Correlator([rule], [A, B])
    assert feed_all(correlator, [(B, ev(5, User="u")), (A, ev(5, User="u"))]) == []


def test_temporal_ordered_with_a_count_condition_takes_ordered_subsequences() -> None:
    rule = corr("temporal_ordered", RECON, condition={"gte": 2})
    correlator = Correlator([rule], [A, B, C])
    alerts = feed_all(correlator, [(C, ev(0, User="u")), (A, ev(1, User="u")), (C, ev(2, User="u"))])
    assert [(a.count, len(a.events)) for a in alerts] == [(2, 2)]


def test_temporal_ordered_respects_the_timespan() -> None:
    rule = corr("temporal_ordered", ["recon_cmd_a", "recon_cmd_b"], timespan="10s")
    correlator = Correlator([rule], [A, B])
    assert feed_all(correlator, [(A, ev(0, User="u")), (B, ev(10.5, User="u"))]) == []
    correlator = Correlator([rule], [A, B])
    assert len(feed_all(correlator, [(A, ev(0, User="u")), (B, ev(10, User="u"))])) == 1


# --- value_sum / value_avg / value_percentile / value_median --------------------------------------

ACCESS = base("website_access")


def test_value_sum_crosses_its_limit() -> None:
    rule = corr(
        "value_sum",
        ["website_access"],
        group_by=["SourceIP"],
        timespan="1h",
        condition={"field": "bytes", "gt": 1000},
    )
    correlator = Correlator([rule], [ACCESS])
    matches = [
        (ACCESS, ev(0, SourceIP="10.0.0.1", bytes=400)),
        (ACCESS, ev(10, SourceIP="10.0.0.1", bytes="500")),  # numbers written as text count
        (ACCESS, ev(20, SourceIP="10.0.0.1", bytes="lots")),  # not a number: skipped
        (ACCESS, ev(30, SourceIP="10.0.0.1", bytes=100)),  # 1000: not > 1000
    ]
    assert feed_all(correlator, matches) == []
    correlator = Correlator([rule], [ACCESS])
    matches.append((ACCESS, ev(40, SourceIP="10.0.0.1", bytes=0.5)))
    alerts = feed_all(correlator, matches)
    assert [(a.count, len(a.events)) for a in alerts] == [(1000.5, 4)]
    assert skip_counts(correlator) == {"value field 'bytes' is not a number": 1}


def test_value_sum_drops_values_that_leave_the_window() -> None:
    rule = corr(
        "value_sum", ["website_access"], group_by=[], timespan="1m", condition={"field": "bytes", "gte": 100}
    )
    correlator = Correlator([rule], [ACCESS])
    matches = [(ACCESS, ev(0, bytes=60)), (ACCESS, ev(61, bytes=50)), (ACCESS, ev(90, bytes=49))]
    assert feed_all(correlator, matches) == []
    correlator = Correlator([rule], [ACCESS])
    matches[2] = (ACCESS, ev(90, bytes=50))
    assert [a.count for a in feed_all(correlator, matches)] == [100]


def test_value_sum_is_exact_with_floats() -> None:
    rule = corr("value_sum", ["website_access"], group_by=[], condition={"field": "x", "eq": 1})
    correlator = Correlator([rule], [ACCESS])
    alerts = feed_all(correlator, [(ACCESS, ev(i, x=0.1)) for i in range(10)])
    assert len(alerts) == 1  # a running float sum would give 0.9999999999999999


def test_value_avg_crosses_its_limit() -> None:
    rule = corr(
        "value_avg", ["website_access"], group_by=["User"], condition={"field": "BytesOut", "gt": 500}
    )
    correlator = Correlator([rule], [ACCESS])
    matches = [(ACCESS, ev(0, User="u", BytesOut=400)), (ACCESS, ev(1, User="u", BytesOut=600))]
    assert feed_all(correlator, matches) == []  # average 500
    correlator = Correlator([rule], [ACCESS])
    matches.append((ACCESS, ev(2, User="u", BytesOut=503)))
    assert [a.count for a in feed_all(correlator, matches)] == [501.0]


@pytest.mark.parametrize(
    ("ctype", "condition", "values", "expected"),
    [
        ("value_percentile", {"field": "v", "percentile": 50, "gte": 25}, [10, 20, 30, 40], 25.0),
        (
            "value_percentile",
            {"field": "v", "percentile": 90, "gt": 36},
            [10, 20, 30, 40],
            37.0,
        ),  # 30 + 0.7 * 10
        ("value_percentile", {"field": "v", "percentile": 0, "eq": 10}, [40, 30, 20, 10], 10.0),
        ("value_percentile", {"field": "v", "percentile": 100, "eq": 40}, [10, 20, 30, 40], 40.0),
        ("value_median", {"field": "v", "gte": 25}, [10, 20, 30, 40], 25.0),
    ],
    ids=["p50", "p90", "p0", "p100", "median"],
)
def test_value_percentile_interpolates_linearly(
    ctype: str, condition: dict[str, int | str], values: list[int], expected: float
) -> None:
    rule = corr(ctype, ["website_access"], group_by=[], condition=condition)  # type: ignore[arg-type]
    correlator = Correlator([rule], [ACCESS])
    # Each order reaches the threshold only at the fourth value.
    alerts = feed_all(correlator, [(ACCESS, ev(i, v=value)) for i, value in enumerate(values)])
    assert [(a.count, len(a.events)) for a in alerts] == [(expected, 4)]


def test_value_percentile_below_threshold_does_not_fire() -> None:
    rule = corr(
        "value_percentile",
        ["website_access"],
        group_by=[],
        condition={"field": "v", "percentile": 50, "gt": 25},
    )
    correlator = Correlator([rule], [ACCESS])
    assert (
        feed_all(correlator, [(ACCESS, ev(i, v=value)) for i, value in enumerate([10, 20, 30, 20, 25])]) == []
    )


# --- aliases, chaining, generate ------------------------------------------------------------------


def test_aliases_group_different_fields_per_rule() -> None:
    internal_error = base("internal_error")
    new_connection = base("new_network_connection")
    rule = corr(
        "temporal",
        ["internal_error", "new_network_connection"],
        group_by=["internal_ip", "remote_ip"],
        timespan="10s",
        aliases={
            "internal_ip": {"internal_error": "destination.ip", "new_network_connection": "source.ip"},
            "remote_ip": {"internal_error": "source.ip", "new_network_connection": "destination.ip"},
        },
    )
    correlator = Correlator([rule], [internal_error, new_connection])
    assert correlator.problems == []
    error = ev(0, **{"destination.ip": "10.0.0.5", "source.ip": "203.0.113.9"})
    reversed_direction = ev(1, source={"ip": "203.0.113.9"}, destination={"ip": "10.0.0.5"})  # nested object
    matching = ev(2, source={"ip": "10.0.0.5"}, destination={"ip": "203.0.113.9"})
    assert correlator.feed(internal_error, error) == []
    assert correlator.feed(new_connection, reversed_direction) == []
    alerts = correlator.feed(new_connection, matching)
    assert [a.group for a in alerts] == [{"internal_ip": "10.0.0.5", "remote_ip": "203.0.113.9"}]


def _failed_then_success() -> tuple[Rule, Rule, Rule, Rule]:
    failed = base("failed_login", rule_id="53ba33fd-3a50-4468-a5ef-c583635cfa92")
    success = base("successful_login", rule_id="4d0a2c83-c62c-4ed4-b475-c7e23a9269b8")
    many = corr(
        "event_count", ["failed_login"], name="multiple_failed_login", timespan="10m", condition={"gte": 10}
    )
    outer = corr(
        "temporal_ordered",
        ["multiple_failed_login", "successful_login"],
        rule_id="b180ead8-d58f-40b2-ae54-c8940995b9b6",
        timespan="10m",
    )
    return failed, success, many, outer


def test_chained_correlation_fires_on_the_child_alert_then_the_success() -> None:
    failed, success, many, outer = _failed_then_success()
    correlator = Correlator([outer, many], [failed, success])
    assert correlator.problems == []
    matches = [(failed, ev(i * 10, User="bob", record=i)) for i in range(10)]
    matches.append((success, ev(120, User="bob", record=99)))
    alerts = feed_all(correlator, matches)
    assert [(a.rule, a.count) for a in alerts] == [(many, 10), (outer, 2)]
    parent = alerts[1]
    assert parent.group == {"User": "bob"}
    assert (parent.window_start, parent.window_end) == (at(90), at(120))  # child alert time .. success
    assert records(parent.events) == [*range(10), 99]  # the child's events, then the success


def test_chained_correlation_needs_the_child_before_the_success() -> None:
    failed, success, many, outer = _failed_then_success()
    correlator = Correlator([outer, many], [failed, success])
    matches = [(success, ev(0, User="bob"))] + [(failed, ev(1 + i, User="bob")) for i in range(10)]
    assert [a.rule for a in feed_all(correlator, matches)] == [many]


def test_chained_parent_reads_fields_its_child_events_share() -> None:
    failed = base("failed_login")
    child = corr("event_count", ["failed_login"], name="burst", group_by=["User"], condition={"gte": 2})
    parent = corr("event_count", ["burst"], group_by=["Computer"], condition={"gte": 2})
    correlator = Correlator([parent, child], [failed])
    matches = [
        (failed, ev(0, User="a", Computer="pc1")),
        (failed, ev(1, User="a", Computer="pc1")),  # burst of a on pc1
        (failed, ev(2, User="b", Computer="pc1")),
        (failed, ev(3, User="b", Computer="pc2")),  # burst of b on two computers: no shared Computer
        (failed, ev(4, User="c", Computer="PC1")),
        (failed, ev(5, User="c", Computer="pc1")),  # burst of c on pc1
    ]
    alerts = feed_all(correlator, matches)
    assert [(a.rule.uid, a.group) for a in alerts] == [
        (child.uid, {"User": "a"}),
        (child.uid, {"User": "b"}),
        (child.uid, {"User": "c"}),
        (parent.uid, {"Computer": "pc1"}),
    ]
    assert skip_counts(correlator) == {"group-by field 'Computer' missing": 1}
    assert len(alerts[3].events) == 4


def test_generate_false_hides_referenced_rules_and_intermediate_correlations() -> None:
    failed, success, many, outer = _failed_then_success()
    correlator = Correlator([outer, many], [failed, success, OTHER])
    assert correlator.hidden_uids == {failed.uid, success.uid, many.uid}
    assert not correlator.outputs(failed)
    assert correlator.outputs(outer)
    assert correlator.outputs(OTHER)


def test_generate_true_keeps_referenced_rules_in_the_output() -> None:
    rule = corr("event_count", ["failed_login"], condition={"gte": 2}, generate=True)
    correlator = Correlator([rule], [FAILED])
    assert correlator.outputs(FAILED)
    assert correlator.hidden_uids == frozenset()


# --- memory, order, flush -------------------------------------------------------------------------


def test_memory_stays_bounded_by_the_timespan() -> None:
    rule = corr("event_count", ["failed_login"], timespan="10s", condition={"gte": 1000})
    correlator = Correlator([rule], [FAILED])
    highest = 0
    for i in range(5000):
        correlator.feed(FAILED, ev(i, User=f"user{i % 50}"))
        highest = max(highest, correlator.open_entries())
    assert highest <= 11  # one event per second, window of 10 s inclusive
    assert correlator.flush() == []
    assert correlator.open_entries() == 0


def test_max_group_entries_drops_the_oldest_and_says_so() -> None:
    rule = corr("event_count", ["failed_login"], condition={"gte": 100})
    correlator = Correlator([rule], [FAILED], max_group_entries=3)
    for i in range(5):
        correlator.feed(FAILED, ev(i, User="bob"))
    assert correlator.open_entries() == 3
    assert skip_counts(correlator) == {WINDOW_FULL: 2}


def test_max_groups_drops_the_least_recently_fed_group_and_says_so() -> None:
    """A long timespan over many distinct values (1M groups used 2.9 GB): open groups are capped."""
    rule = corr("event_count", ["failed_login"], condition={"gte": 2}, timespan="3650d")
    correlator = Correlator([rule], [FAILED], max_groups=100)
    for i in range(1000):
        correlator.feed(FAILED, ev(i, User=f"user{i}"))
    assert correlator.open_entries() == 100
    assert skip_counts(correlator) == {GROUPS_FULL: 900}
    assert correlator.feed(FAILED, ev(1000, User="user999")) != []  # a recent group is still open


def test_events_out_of_time_order() -> None:
    rule = corr("event_count", ["failed_login"], condition={"gte": 3})
    correlator = Correlator([rule], [FAILED])
    correlator.feed(FAILED, ev(1000, User="bob", record=1))
    assert correlator.feed(FAILED, ev(0, User="bob", record=2)) == []  # before the open window
    assert skip_counts(correlator) == {LATE: 1}
    correlator.feed(FAILED, ev(999, User="bob", record=3))  # late but within the window: kept, in order
    alerts = correlator.feed(FAILED, ev(1001, User="bob", record=4))
    assert [records(a.events) for a in alerts] == [[3, 1, 4]]
    assert (alerts[0].window_start, alerts[0].window_end) == (at(999), at(1001))


# --- JSON -----------------------------------------------------------------------------------------


def test_correlation_alert_json_shape() -> None:
    rule = corr(
        "event_count", ["failed_login"], rule_id="0e95725d-7320-415d-80f7-004da920fc11", condition={"gte": 2}
    )
    correlator = Correlator([rule], [FAILED])
    json_event = Event({"User": "bob", "EventRecordID": "77"}, "logs/a.json", None, at(1.5))
    alerts = feed_all(
        correlator, [(FAILED, ev(0, User="bob", file="sec.evtx", record=5)), (FAILED, json_event)]
    )
    document = correlation_alert_json(alerts[0])
    assert document == {
        "rule": {"uid": rule.uid, "id": rule.id, "title": rule.title, "level": "high"},
        "correlation": {
            "type": "event_count",
            "group": {"User": "bob"},
            "window": {"start": "2024-05-01T12:00:00Z", "end": "2024-05-01T12:00:01.500000Z"},
            "count": 2,
        },
        "events": [
            {"file": "sec.evtx", "record": 5, "timestamp": "2024-05-01T12:00:00Z"},
            {"file": "logs/a.json", "record": 77, "timestamp": "2024-05-01T12:00:01.500000Z"},
        ],
    }
    assert json.loads(json.dumps(document)) == document
