"""Routing by (Channel, EventID): pySigma's pipeline tables, and an index that agrees with its definition."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.pipelines.common import windows_logsource_mapping
from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
from sigma.pipelines.windows.windows import (
    generic_logsource_to_windows_audit_event_mapping,
    windows_generic_category_channel_mapping,
)

from ruleatlas.engine.routing import (
    CATEGORY_EVENTS,
    NOT_WINDOWS,
    SERVICE_CHANNELS,
    Route,
    Router,
    event_key,
    narrow,
    required_event_ids,
    route_applies,
    route_for,
)
from ruleatlas.logs.event import InputProblem
from ruleatlas.logs.readers import read_events
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, Rule, SourceRef, Stage

SYSMON = "microsoft-windows-sysmon/operational"


def _ids(value: object) -> set[int]:
    return {int(v) for v in value} if isinstance(value, list) else {int(value)}  # type: ignore[call-overload]


def test_tables_agree_with_the_pysigma_pipelines() -> None:
    """House rule 4: every entry of the pipelines' tables is in ours, and nothing else is."""
    expected: dict[str, set[tuple[str, int]]] = {}
    for category, ids in sysmon_generic_logsource_eventid_mapping.items():
        expected.setdefault(category, set()).update(
            ("Microsoft-Windows-Sysmon/Operational", i) for i in _ids(ids)
        )
    for category, info in windows_generic_category_channel_mapping.items():
        channels = windows_logsource_mapping[info["service"]]
        for channel in channels if isinstance(channels, list) else [channels]:
            expected.setdefault(category, set()).add((channel, info["EventID"]))
    for category, conditions in generic_logsource_to_windows_audit_event_mapping.items():
        expected.setdefault(category, set()).update(("Security", i) for i in _ids(conditions["EventID"]))
    assert {k: set(v) for k, v in CATEGORY_EVENTS.items()} == expected
    assert set(SERVICE_CHANNELS) == set(windows_logsource_mapping)


def test_process_creation_routes_to_sysmon_1_and_security_4688() -> None:
    route = route_for({"product": "windows", "category": "process_creation"})
    assert route == Route(frozenset({(SYSMON, 1), ("security", 4688)}))


def test_services_categories_and_their_combination() -> None:
    assert route_for({"product": "windows", "service": "security"}) == Route(frozenset({("security", None)}))
    powershell = route_for({"product": "windows", "category": "ps_script"})
    assert powershell is not None
    assert powershell.pairs == {
        ("microsoft-windows-powershell/operational", 4104),
        ("powershellcore/operational", 4104),
    }
    registry = route_for({"product": "windows", "category": "registry_set"})
    assert registry is not None and registry.pairs == {(SYSMON, 13), ("security", 4657)}
    # service narrows a category to its channel
    narrowed = route_for({"product": "windows", "service": "sysmon", "category": "process_creation"})
    assert narrowed is not None and narrowed.pairs == {(SYSMON, 1)}
    # a category the service's channel does not carry: the service's channel, any event (sound)
    wide = route_for({"product": "windows", "service": "system", "category": "process_creation"})
    assert wide is not None and wide.pairs == {("system", None)}


@pytest.mark.parametrize(
    "logsource",
    [
        {"category": "process_creation"},
        {"product": "windows", "category": "file_access"},
        {"product": "windows", "service": "iis-configuration"},
        {"product": "windows"},
        {},
    ],
)
def test_what_the_tables_do_not_cover_is_not_routed(logsource: dict[str, str]) -> None:
    assert route_for(logsource) is None


@pytest.mark.parametrize(
    "logsource",
    [
        {"product": "linux", "category": "process_creation"},
        {"product": "aws", "service": "cloudtrail"},
        {"product": "zeek", "service": "rdp"},
    ],
)
def test_other_products_are_kept_off_windows_events(logsource: dict[str, str]) -> None:
    route = route_for(logsource)
    assert route == NOT_WINDOWS
    assert not route_applies(route, ("security", 4624))
    assert route_applies(route, None)  # an event without a Channel may be anything


def _rule(condition: Expr, **searches: Expr) -> Rule:
    stages = [Stage(0, "condition", "condition", "", condition)]
    stages += [Stage(i + 1, name, "search", "", expr) for i, (name, expr) in enumerate(searches.items())]
    return Rule(
        uid="sigma/x",
        vendor="sigma",
        language="sigma",
        source=SourceRef("", "x.yml"),
        folder="rules",
        stages=stages,
    )


def test_required_event_ids_narrow_the_index() -> None:
    logon = Pred("EventID", Kind.EQ, 4624)
    logon_text = Pred("EventID", Kind.EQ, "4625")
    user = Pred("TargetUserName", Kind.ENDS_WITH, "$")
    assert required_event_ids(_rule(Ref("sel"), sel=All((logon, user)))) == {4624}
    assert required_event_ids(_rule(Ref("sel"), sel=Any((logon, logon_text)))) == {4624, 4625}
    assert required_event_ids(_rule(Ref("sel"), sel=Any((logon, user)))) is None
    assert required_event_ids(_rule(Not(Ref("sel")), sel=logon)) is None
    assert required_event_ids(_rule(Ref("sel"), sel=Pred("EventID", Kind.GT, 4000))) is None
    assert required_event_ids(_rule(All((Ref("a"), Not(Ref("b")))), a=logon, b=user)) == {4624}
    security = route_for({"product": "windows", "service": "security"})
    process = route_for({"product": "windows", "category": "process_creation"})
    assert narrow(security, frozenset({4624})) == Route(frozenset({("security", 4624)}))
    assert narrow(process, frozenset({4688, 1})) == process
    assert narrow(process, frozenset({4688})) == Route(frozenset({("security", 4688)}))
    router = Router([security, security, None], [frozenset({4624}), None, frozenset({1})])
    assert router.rules_for(("security", 4624)) == (0, 1)  # rule 2 (unrouted) requires EventID 1
    assert router.rules_for(("security", 4625)) == (1,)
    assert router.rules_for(("security", None)) == (0, 1, 2)  # EventID not a number: may still match
    assert router.rules_for(("system", 1)) == (2,)  # unrouted: any channel with its EventID
    assert router.rules_for(None) == (0, 1, 2)


def test_event_keys() -> None:
    assert event_key({"Channel": "Security", "EventID": 4688}) == ("security", 4688)
    assert event_key({"Channel": "security", "EventID": "4688"}) == ("security", 4688)
    assert event_key({"Channel": "Security", "EventID": "x"}) == ("security", None)
    assert event_key({"Channel": "Security"}) == ("security", None)
    assert event_key({"EventID": 1}) is None
    assert event_key({"Channel": 5, "EventID": 1}) is None


def test_route_applies() -> None:
    process = route_for({"product": "windows", "category": "process_creation"})
    assert route_applies(process, (SYSMON, 1))
    assert route_applies(process, ("security", 4688))
    assert not route_applies(process, ("security", 4624))
    assert not route_applies(process, (SYSMON, 3))
    assert route_applies(process, ("security", None))  # EventID unknown: any event of the channel
    assert not route_applies(process, ("system", None))
    assert route_applies(process, None)  # no Channel: every rule
    assert route_applies(None, ("system", 7045))  # unrouted rule: every event
    security = route_for({"product": "windows", "service": "security"})
    assert route_applies(security, ("security", 4624)) and not route_applies(security, (SYSMON, 1))


def test_router_index_agrees_with_route_applies_on_real_events(shared_dir: Path) -> None:
    logsources = (
        [{"product": "windows", "category": c} for c in sorted(CATEGORY_EVENTS)]
        + [{"product": "windows", "service": s} for s in sorted(SERVICE_CHANNELS)]
        + [
            {"product": "linux", "category": "process_creation"},
            {"product": "windows", "category": "file_access"},
        ]
    )
    routes = [route_for(ls) for ls in logsources]
    router = Router(routes)
    assert router.unrouted == (len(routes) - 1,)
    problems: list[InputProblem] = []
    keys = {event_key(e.fields) for e in read_events([shared_dir / "logs"], problems=problems)}
    keys |= {None, ("security", None), ("nonexistent", 1)}
    assert len(keys) > 100
    for key in keys:
        expected = tuple(i for i, route in enumerate(routes) if route_applies(route, key))
        assert router.rules_for(key) == expected, key
    sysmon_1 = router.rules_for((SYSMON, 1))
    assert [logsources[i] for i in sysmon_1] == [
        {"product": "windows", "category": "process_creation"},
        {"product": "windows", "service": "sysmon"},
        {"product": "windows", "category": "file_access"},
    ]
