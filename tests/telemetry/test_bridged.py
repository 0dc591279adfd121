"""A rule's bridged events (telemetry/bridged.py): which events serve it through a bridge beside its own, the
field renames, and whether the scanner feeds them to it (the engine's routing, as the build asks it); then
readiness's verdicts through them (fires through a bridge, partial when a pipeline must map the event)."""

from __future__ import annotations

import pytest

from ruleatlas.build.analyse import scanner_routes
from ruleatlas.model import Rule
from ruleatlas.sources.sigma import parse_sigma_file
from ruleatlas.store.telemetry import BridgedNeeds, RuleNeeds
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.bridged import BridgedEvent, bridged_events
from ruleatlas.telemetry.bridges import BridgeIndex, bridge_index
from ruleatlas.telemetry.fields import rule_event_fields
from ruleatlas.telemetry.observed import Observed
from ruleatlas.telemetry.readiness import (
    BLOCKED,
    FIRES,
    NEEDS_PIPELINE,
    PARTIAL,
    THROUGH_BRIDGE,
    SeenIndex,
    judge,
)

SYSMON = "Microsoft-Windows-Sysmon"
XDR_PROCESS = "Defender XDR DeviceProcessEvents"
SECURITY = "Microsoft-Windows-Security-Auditing"

# Sysmon 1 only (4688 has no OriginalFileName, which its filter tests); 4688 carries what it needs
SIGMA_SYSMON_1 = """
title: Sigma rule on process creation
logsource: {product: windows, category: process_creation}
detection:
  selection: {Image|endswith: '\\\\evil.exe', CommandLine|contains: ' -x '}
  filter: {OriginalFileName: good.exe}
  condition: selection and not filter
level: high
"""
# Hayabusa style: Security 4688 in its own field names
SECURITY_4688 = """
title: Rule written on 4688
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4688, NewProcessName|endswith: '\\\\evil.exe', CommandLine|contains: ' -x '}
  condition: selection
level: high
"""


@pytest.fixture(scope="module")
def index(telemetry: TelemetryCatalog) -> BridgeIndex:
    return bridge_index(telemetry)


def rule(text: str, vendor: str = "sigma") -> Rule:
    rules, problems = parse_sigma_file(text, "rules/test.yml", "rules", vendor=vendor)
    assert not problems and len(rules) == 1
    return rules[0]


def bridged(
    text: str, telemetry: TelemetryCatalog, index: BridgeIndex, vendor: str = "sigma"
) -> list[BridgedEvent]:
    parsed = rule(text, vendor)
    return bridged_events(rule_event_fields(parsed, telemetry), index, telemetry, scanner_routes(parsed))


def test_a_sigma_rule_on_sysmon_1_is_also_served_by_4688_and_the_scanner_feeds_it(
    telemetry: TelemetryCatalog, index: BridgeIndex
) -> None:
    own = [(e.provider, e.event_key) for e in rule_event_fields(rule(SIGMA_SYSMON_1), telemetry)]
    assert own == [(SYSMON, "1")]
    every = bridged(SIGMA_SYSMON_1, telemetry, index)
    [found] = [f for f in every if f.event[0] == SECURITY]
    assert (found.event, found.via_provider, found.via_key) == ((SECURITY, "4688"), SYSMON, "1")
    # and Defender XDR's process table, which the scanner never reads: served once a pipeline maps it
    [xdr] = [f for f in every if f.event[0] != SECURITY]
    assert xdr.event == (XDR_PROCESS, "DeviceProcessEvents") and xdr.scanned is False
    assert ("CommandLine", "ProcessCommandLine") in xdr.renames
    assert found.category == "process_creation" and found.label == "Security 4688"
    assert ("Image", "NewProcessName") in found.renames and (
        "CommandLine",
        "NewProcessName",
    ) not in found.renames
    assert found.needs == (("CommandLine", "NewProcessName"),)
    # process_creation routes to 4688, and the engine answers Image from NewProcessName there
    assert found.scanned is True
    assert found.sentence() == "also served by Security 4688 (bridge: process creation)"
    assert BridgedEvent.from_json(found.to_json()) == found


def test_a_rule_in_4688_names_is_served_by_sysmon_1_only_once_a_pipeline_maps_it(
    telemetry: TelemetryCatalog, index: BridgeIndex
) -> None:
    [found] = [f for f in bridged(SECURITY_4688, telemetry, index) if f.event[0] == SYSMON]
    assert found.event == (SYSMON, "1") and found.via_key == "4688"
    assert found.renames == (("NewProcessName", "Image"),)
    assert found.scanned is False  # service security: the scanner never routes Sysmon events to it
    assert "once your pipeline maps it" in found.sentence()
    # a vendor the scanner does not run: a statement about telemetry only
    [other] = [f for f in bridged(SECURITY_4688, telemetry, index, vendor="elastic") if f.event[0] == SYSMON]
    assert other.event == (SYSMON, "1") and other.scanned is None
    assert other.sentence().startswith("also served by Sysmon 1")


def test_a_rule_without_known_fields_or_with_fields_no_partner_carries_is_bridged_nowhere(
    telemetry: TelemetryCatalog, index: BridgeIndex
) -> None:
    hashes = SIGMA_SYSMON_1.replace("CommandLine|contains: ' -x '", "Hashes|contains: 'IMPHASH='")
    assert bridged(hashes, telemetry, index) == []  # 4688 carries no Hashes
    assert bridged_events([], index, telemetry) == []


def test_events_of_one_provider_never_bridge_each_other(
    telemetry: TelemetryCatalog, index: BridgeIndex
) -> None:
    # registry_set (Sysmon 13) shares the registry_event bridge with Sysmon 12 and 14, other activities
    registry = """
title: Run key value set
logsource: {product: windows, category: registry_set}
detection:
  selection: {TargetObject|contains: '\\CurrentVersion\\Run\\'}
  condition: selection
"""
    # the rule covers Sysmon 13 and Security 4657 itself: nothing else of either provider serves it, only
    # another provider's table (Defender XDR's)
    assert [f.event for f in bridged(registry, telemetry, index)] == [
        ("Defender XDR DeviceRegistryEvents", "DeviceRegistryEvents")
    ]
    partners = index.bridged_events((SYSMON, "13"), [["TargetObject"]])
    assert (SECURITY, "4657") in partners and all(p[0] != SYSMON for p in partners)


def _seen(*events: dict[str, object]) -> SeenIndex:
    observed = Observed(None)
    for fields in events:
        observed.add(fields)
    return SeenIndex(observed)


def _own(needs: list[list[str]]) -> RuleNeeds:
    return RuleNeeds("sigma/r", "sigma", "R", "detection", SYSMON, "", "1", needs)


def _via(scanned: bool | None, needs: list[list[str]]) -> BridgedNeeds:
    return BridgedNeeds(
        "sigma/r", SECURITY, "Security", "4688", SYSMON, "1", "process_creation", scanned, needs
    )


def test_readiness_counts_a_rule_through_a_bridge_and_says_which(telemetry: TelemetryCatalog) -> None:
    security_4688 = {
        "Channel": "Security",
        "Provider_Name": SECURITY,
        "EventID": 4688,
        "NewProcessName": "C:\\evil.exe",
        "CommandLine": "evil -x",
    }
    index = _seen(security_4688)
    own = [_own([["Image", "CommandLine"]])]
    # no Sysmon in the logs: its own event is never seen, 4688 serves it, the scanner feeds it
    verdict = judge(own, index, telemetry, [_via(True, [["NewProcessName", "CommandLine"]])])
    assert verdict["verdict"] == FIRES and verdict["reason"] == THROUGH_BRIDGE
    assert verdict["events"] == ["Security 4688 (bridge: process creation)"]
    # the scanner would not route it: partial, and why
    verdict = judge(own, index, telemetry, [_via(False, [["NewProcessName", "CommandLine"]])])
    assert verdict["verdict"] == PARTIAL and verdict["reason"] == NEEDS_PIPELINE
    assert "Security 4688" in verdict["detail"] and "pipeline" in verdict["detail"]
    # a field the bridged event lacks in the logs: no bridge verdict, its own verdict stands
    verdict = judge(own, index, telemetry, [_via(True, [["NewProcessName", "ParentProcessName"]])])
    assert verdict["verdict"] == BLOCKED
    # its own event fires: the bridge is not mentioned
    both = _seen(
        security_4688,
        {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Provider_Name": SYSMON,
            "EventID": 1,
            "Image": "x",
            "CommandLine": "y",
        },
    )
    verdict = judge(own, both, telemetry, [_via(True, [["NewProcessName", "CommandLine"]])])
    assert verdict["verdict"] == FIRES and verdict["reason"] == ""
