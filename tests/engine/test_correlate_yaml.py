"""Correlation rules written in YAML, parsed by the Sigma source: the spec's own examples and the corpus's."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_correlate_support import at, ev, feed_all

from ruleatlas.engine.correlate import Correlator, correlation_alert_json
from ruleatlas.model import Rule, RuleKind
from ruleatlas.sources.sigma import parse_sigma_file

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "engine" / "correlation"


def load(text: str, rel_path: str) -> tuple[Correlator, dict[str, Rule]]:
    rules, problems = parse_sigma_file(text, rel_path, "rules")
    assert problems == []
    assert [p.message for r in rules for p in r.problems] == []
    correlations = [r for r in rules if r.kind == RuleKind.CORRELATION]
    base_rules = [r for r in rules if r.kind != RuleKind.CORRELATION]
    by_key = {r.name or r.id: r for r in rules}
    return Correlator(correlations, base_rules), by_key


def test_spec_example_failed_logins_followed_by_successful_login() -> None:
    text = (FIXTURES / "failed_logins_then_success.yml").read_text()
    correlator, rules = load(text, "correlation/failed_logins_then_success.yml")
    assert correlator.problems == []
    failed, success = rules["failed_login"], rules["successful_login"]
    many, outer = rules["multiple_failed_login"], rules["b180ead8-d58f-40b2-ae54-c8940995b9b6"]

    matches = [
        (failed, ev(i * 30, User="bob", EventID=4625, record=100 + i)) for i in range(10)
    ]  # 0 .. 270 s
    matches.insert(3, (failed, ev(95, User="alice", EventID=4625, record=1)))
    matches.append((success, ev(600, User="alice", EventID=4624, record=2)))  # other user: no sequence
    matches.append((success, ev(869, User="bob", EventID=4624, record=3)))  # 10 min after the 10th failure
    alerts = feed_all(correlator, matches)
    assert [(a.rule.uid, a.count, a.group) for a in alerts] == [
        (many.uid, 10, {"User": "bob"}),
        (outer.uid, 2, {"User": "bob"}),
    ]
    assert (alerts[1].window_start, alerts[1].window_end) == (at(270), at(869))

    document = correlation_alert_json(alerts[1])
    assert document["rule"] == {
        "uid": outer.uid,
        "id": "b180ead8-d58f-40b2-ae54-c8940995b9b6",
        "title": "Correlation - Multiple Failed Logins Followed by Successful Login",
        "level": "high",
    }
    assert document["correlation"] == {
        "type": "temporal_ordered",
        "group": {"User": "bob"},
        "window": {"start": "2024-05-01T12:04:30Z", "end": "2024-05-01T12:14:29Z"},
        "count": 2,
    }
    assert [e["record"] for e in document["events"]] == [*range(100, 110), 3]  # type: ignore[index, union-attr]

    # generate defaults to false: the base rules and the intermediate correlation are not output on their own.
    assert [correlator.outputs(r) for r in (failed, success, many, outer)] == [False, False, False, True]


def test_spec_example_success_too_late_does_not_fire() -> None:
    text = (FIXTURES / "failed_logins_then_success.yml").read_text()
    correlator, rules = load(text, "correlation/failed_logins_then_success.yml")
    matches = [(rules["failed_login"], ev(i, User="bob")) for i in range(10)]
    matches.append((rules["successful_login"], ev(9 + 601, User="bob")))
    assert [a.rule.name for a in feed_all(correlator, matches)] == ["multiple_failed_login"]


def test_spec_example_field_name_aliases() -> None:
    text = (FIXTURES / "aliases_internal_error.yml").read_text()
    correlator, rules = load(text, "correlation/aliases_internal_error.yml")
    assert correlator.problems == []
    internal_error, connection = rules["internal_error"], rules["new_network_connection"]
    error = ev(
        0, **{"http.response.status_code": 500, "source.ip": "203.0.113.7", "destination.ip": "10.1.1.1"}
    )
    back = ev(10, source={"ip": "10.1.1.1"}, destination={"ip": "203.0.113.7"})
    alerts = feed_all(correlator, [(internal_error, error), (connection, back)])
    assert [(a.type, a.group) for a in alerts] == [
        ("temporal", {"internal_ip": "10.1.1.1", "remote_ip": "203.0.113.7"})
    ]


def test_spec_value_percentile_example_lacks_a_percentile(shared_dir: Path) -> None:
    # The spec's value_percentile example has no 'percentile' key; pySigma requires one, and so do we.
    path = shared_dir / "corpus/sigma-specification/tests/schema/correlation/value_percentile.yml"
    rules, _ = parse_sigma_file(path.read_text(), "value_percentile.yml", "spec")
    correlator = Correlator(rules, [])
    assert [(p.message, p.file, p.line) for p in correlator.problems] == [
        ("value_percentile correlation needs 'percentile' in its condition", "value_percentile.yml", 1),
        ("rule reference 'process_creation' names no known rule (id or name)", "value_percentile.yml", 1),
    ]


def corpus_correlation_files(shared_dir: Path) -> list[Path]:
    corpus = shared_dir / "corpus"
    return sorted(
        path
        for folder in ("hayabusa", "suzaku", "sigma")
        for path in (corpus / folder).rglob("*.yml")
        if "\ncorrelation:" in path.read_text(errors="replace")
    )


@pytest.mark.corpus
def test_every_corpus_correlation_compiles(shared_dir: Path) -> None:
    # Correlations ship in the same file as the rules they refer to; Suzaku refers to them by title.
    files = corpus_correlation_files(shared_dir)
    assert len(files) >= 8
    for path in files:
        rules, problems = parse_sigma_file(path.read_text(), path.name, path.parent.name)
        assert problems == [], path
        correlations = [r for r in rules if r.kind == RuleKind.CORRELATION]
        correlator = Correlator(correlations, [r for r in rules if r.kind != RuleKind.CORRELATION])
        assert [p.message for p in correlator.problems if p.severity == "error"] == [], path
        assert correlator.correlations == correlations, path


@pytest.mark.corpus
def test_hayabusa_user_guessing_counts_distinct_user_names(shared_dir: Path) -> None:
    path = shared_dir / "corpus/hayabusa/hayabusa/builtin/Security/LogonLogoff/Logon"
    path = path / "Sec_4625_Med_LogonFail_UserGuessing_Correlation.yml"
    correlator, rules = load(path.read_text(), path.name)
    base_rule = rules["non_existent_user"]
    scope = {
        "IpAddress": "198.51.100.4",
        "LogonType": 3,
        "TargetDomainName": "CORP",
        "ProcessName": "-",
        "LogonProcessName": "NtLmSsp",
        "WorkstationName": "KALI",
    }
    names = ["admin", "Admin", "backup", "sql", "test"]  # 4 distinct names: gt 3 at the fifth event
    matches = [(base_rule, ev(i * 60, TargetUserName=name, **scope)) for i, name in enumerate(names)]
    alerts = feed_all(correlator, matches)
    assert [(a.count, a.group["IpAddress"], len(a.events)) for a in alerts] == [(4, "198.51.100.4", 5)]
    assert alerts[0].rule.level == "medium"
