"""Cross-vendor equivalence (issue 14 §2): comparisons the event coverage implies are left to it, and values
fold alike. Each fix has a hand-made pair that is one class, and a near miss that stays apart: an Elastic
rule's ingest scope (`event.category`, `event.type`, `host.os.type`) and a service's one data set, a
Windows event's always-set Computer under a YARA-L host grouping, an event id written as text, text
without cased letters, and a YARA-L rule's `data_source` meta (no filter of its logic)."""

from __future__ import annotations

from ruleatlas.analysis.relations import relate, rule_form
from ruleatlas.analysis.relations.form import RuleForm, literal
from ruleatlas.model import Kind, Pred, Rule
from ruleatlas.sources.elastic import parse_file as parse_elastic
from ruleatlas.sources.sigma import parse_sigma_file
from ruleatlas.sources.yaral.logsource import derive as derive_yaral

Events = list[tuple[str, str, int | str, str]]
SYSMON_1: Events = [("Sysmon", "Microsoft-Windows-Sysmon/Operational", 1, "Process creation")]
SYSMON_5: Events = [("Sysmon", "Microsoft-Windows-Sysmon/Operational", 5, "Process terminated")]
OKTA_REVOKE: Events = [("Okta", "", "system.api_token.revoke", "")]


def sigma(logsource: str, detection: str) -> Rule:
    text = f"title: s\nlogsource:\n{logsource}detection:\n{detection}\nlevel: high\n"
    rules, problems = parse_sigma_file(text, "s.yml", "rules")
    assert rules, problems
    return rules[0]


def elastic(language: str, query: str, index: str) -> Rule:
    text = (
        '[metadata]\ncreation_date = "2024/01/01"\n\n[rule]\nname = "e"\nrule_id = "e1"\ndescription = "d"\n'
        f'risk_score = 47\nseverity = "medium"\ntype = "{"eql" if language == "eql" else "query"}"\n'
        f"language = \"{language}\"\nindex = [{index}]\nquery = '''\n{query}\n'''\n"
    )
    rules, problems = parse_elastic(text, "rules/e.toml", "rules", repo_url="", commit="", companions={})
    assert rules and not problems, problems
    return rules[0]


def form(rule: Rule, events: Events) -> RuleForm:
    found = rule_form(rule, events)
    assert found is not None
    return found


OKTA_SIGMA = sigma(
    "  product: okta\n  service: okta\n", "  sel:\n    eventType: system.api_token.revoke\n  condition: sel"
)
OKTA_INDEX = '"filebeat-*", "logs-okta*"'


def test_an_elastic_data_set_holding_one_service_s_log_is_left_to_coverage() -> None:
    original = form(OKTA_SIGMA, OKTA_REVOKE)
    ported = elastic(
        "kuery", 'event.dataset:okta.system and event.action:"system.api_token.revoke"', OKTA_INDEX
    )
    assert ported.logsource.get("service") == "okta"
    assert form(ported, OKTA_REVOKE).class_key == original.class_key
    # A real filter beside it stays: stricter, not equal.
    stricter = elastic(
        "kuery",
        'event.dataset:okta.system and event.action:"system.api_token.revoke" and '
        "okta.outcome.result:SUCCESS",
        OKTA_INDEX,
    )
    s_form = form(stricter, OKTA_REVOKE)
    assert s_form.class_key != original.class_key
    (found,) = relate([s_form, original]).neighbours
    assert (found.narrow, found.broad) == (s_form.uid, original.uid)


def test_a_data_set_of_another_log_is_no_scope_of_this_one() -> None:
    # The rule reads two logs (CloudTrail's index, Okta's data set): its log source names no service, so
    # the data set is not implied by what it is fed, and stays.
    other = elastic(
        "kuery",
        'event.dataset:okta.system and event.action:"system.api_token.revoke"',
        '"logs-aws.cloudtrail-*"',
    )
    assert "service" not in other.logsource
    assert form(other, OKTA_REVOKE).class_key != form(OKTA_SIGMA, OKTA_REVOKE).class_key


CERTUTIL_SIGMA = sigma(
    "  product: windows\n  category: process_creation\n",
    "  sel:\n    Image|endswith: '\\certutil.exe'\n    CommandLine|contains: 'urlcache'\n  condition: sel",
)
CERTUTIL_EQL = (
    'process where host.os.type == "windows" and event.type == "start" and\n'
    '  process.name : "certutil.exe" and\n'
    '  process.command_line : "*urlcache*"'
)
ENDPOINT_INDEX = '"logs-endpoint.events.process-*", "logs-windows.sysmon_operational-*"'


def test_elastic_ingest_scope_over_process_creation_events_is_left_to_coverage() -> None:
    original = form(CERTUTIL_SIGMA, SYSMON_1)
    ported = form(elastic("eql", CERTUTIL_EQL, ENDPOINT_INDEX), SYSMON_1)
    assert ported.class_key == original.class_key
    assert relate([ported, original]).classes == {original.class_key: sorted([original.uid, ported.uid])}


def test_elastic_ingest_scope_stays_where_a_covered_event_lacks_it() -> None:
    # Over process termination events, `event.type == "start"` rules every event out: kept, so not equal.
    ported = form(elastic("eql", CERTUTIL_EQL, ENDPOINT_INDEX), SYSMON_5)
    assert ported.class_key != form(CERTUTIL_SIGMA, SYSMON_5).class_key
    # On Linux events `host.os.type == "windows"` holds of none: kept.
    linux: Events = [("Linux", "", "process_creation", "")]
    assert form(elastic("eql", CERTUTIL_EQL, ENDPOINT_INDEX), linux).class_key != (
        form(CERTUTIL_SIGMA, linux).class_key
    )


def test_an_event_id_written_as_text_is_the_number() -> None:
    windows = {"product": "windows", "service": "security"}
    as_text = literal(Pred("metadata.product_event_type", Kind.EQ, "4625", cased=True), "yaral", windows)
    as_number = literal(Pred("EventID", Kind.EQ, 4625), "sigma", windows)
    assert as_text == as_number
    # Text that is no whole number stays text (a leading zero is not how a number is written).
    assert literal(Pred("EventID", Kind.EQ, "04625"), "sigma", windows)[2] == "04625"


def test_text_without_cased_letters_is_one_literal_cased_or_not() -> None:
    logsource = {"category": "proxy"}
    cased = literal(Pred("DestinationIp", Kind.EQ, "127.0.0.1", cased=True), "sigma", logsource)
    uncased = literal(Pred("DestinationIp", Kind.EQ, "127.0.0.1"), "sigma", logsource)
    assert cased == uncased
    # Letters keep the difference: a cased comparison matches fewer spellings.
    assert literal(Pred("c-uri", Kind.EQ, "/Admin", cased=True), "sigma", logsource) != literal(
        Pred("c-uri", Kind.EQ, "/Admin"), "sigma", logsource
    )


def test_a_yaral_data_source_meta_does_not_narrow_a_rule_of_one_event_type() -> None:
    meta = {"platform": "Windows", "data_source": "Sysmon"}
    launch = '$e.metadata.event_type = "PROCESS_LAUNCH"\n'
    # The rule reads every PROCESS_LAUNCH event, from Sysmon 1 as from Security 4688: no Sysmon service.
    assert derive_yaral(meta, launch).get("service") is None
    # With no event type, the meta is all that places the rule (an event id alone names no log).
    assert derive_yaral(meta, '$e.metadata.product_event_type = "1"\n')["service"] == "sysmon"
