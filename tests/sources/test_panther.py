"""Panther reader on fixtures (tests/data/panther): analysis items and their classes, the Python companion
read with ast (never run), correlation rules, simple YAML detections, SQL queries, and what is not a rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.analysis.relations.form import rule_form
from ruleatlas.model import All, Any, CorrelationType, Kind, Pred, Rule, RuleKind, SourceResult, StageOp
from ruleatlas.sources import panther
from ruleatlas.sources.common import read_tree
from ruleatlas.sources.panther.python_body import read_python
from ruleatlas.sources.panther.support import read_data_models

REPO = "https://github.com/panther-labs/panther-analysis"


@pytest.fixture(scope="module")
def tree(test_data: Path) -> SourceResult:
    return read_tree(panther, test_data / "panther", repo_url=REPO, commit="daa1")


@pytest.fixture(scope="module")
def rules(tree: SourceResult) -> dict[str, Rule]:
    return {rule.uid: rule for rule in tree.rules}


def test_lists_items_with_their_python_companion(test_data: Path, tree: SourceResult) -> None:
    files = {f.rel_path: f.companions for f in panther.list_files(test_data / "panther")}
    assert files["rules/aws_rules/aws_cloudtrail_stopped.yml"] == (
        "rules/aws_rules/aws_cloudtrail_stopped.py",
    )
    assert files["policies/aws_s3_bucket_encryption.yml"] == ("policies/aws_s3_bucket_encryption.py",)
    assert files["queries/aws_queries/root_logins.yml"] == ()
    assert not any(p.startswith(("data_models/", "packs/", "global_helpers/")) for p in files)
    assert tree.files_per_folder == {"rules": 9, "policies": 1, "queries": 2, "correlation_rules": 2}


def test_python_rule(rules: dict[str, Rule]) -> None:
    rule = rules["panther/aws_cloudtrail_stopped"]
    assert (rule.id, rule.title, rule.language) == ("AWS.CloudTrail.Stopped", "CloudTrail Stopped", "python")
    assert (rule.kind, rule.level, rule.status) == (RuleKind.DETECTION, "medium", "")
    assert rule.description == "A CloudTrail trail was stopped or deleted."
    assert rule.attack_ids == ("T1562.008",)
    assert rule.references == (
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-delete-trails-console.html",
    )
    assert rule.output_fields == ("eventName", "userAgent", "aws_rule_context()")  # + alert_context
    assert rule.body.startswith("from panther_aws_helpers import")  # the logic, in its language
    assert rule.source.path == "rules/aws_rules/aws_cloudtrail_stopped.yml"
    assert rule.logsource == {
        "product": "aws",
        "service": "cloudtrail",
        "panther.log_types": "AWS.CloudTrail",
    }
    assert rule.facts == (
        ("Analysis type", "rule"),
        ("Enabled", "yes"),
        ("Severity", "Medium"),
        ("Time window", "60m"),
        ("Dedup", "60m"),
        ("Threshold", "1"),
        ("Log types", "AWS.CloudTrail"),
        ("Compliance", "CIS: 3.5, MITRE ATT&CK: TA0005:T1562.008"),
        ("Tags", "AWS, Defense Evasion:Impair Defenses"),
        (
            "Reference",
            "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-delete-trails-console.html",
        ),
        ("Runbook", "Check who stopped the trail."),
        ("Tests", "2 (1 expect an alert)"),
        ("Python functions", "rule, title, alert_context"),
        ("Python logic", "reduced to predicates"),
    )
    assert (rule.logic_parsed, rule.problems) == (True, [])
    [stage] = rule.stages
    native = 'event.get("eventName") in STOP_EVENTS'
    assert (stage.label, stage.op) == ("rule()", "filter")
    assert stage.expr == Any(
        (
            Pred("eventName", Kind.EQ, "DeleteTrail", cased=True, native=native),
            Pred("eventName", Kind.EQ, "StopLogging", cased=True, native=native),
        )
    )
    assert rule.correlation is not None and (rule.correlation.type, rule.correlation.timespan) == (
        "window",
        "60m",
    )


def test_classes(rules: dict[str, Rule]) -> None:
    assert rules["panther/aws_s3_bucket_encryption"].kind is RuleKind.DETECTION  # a policy
    assert rules["panther/aws_s3_bucket_encryption"].logsource == {
        "product": "aws",
        "panther.resource_types": "AWS.S3.Bucket",
    }
    assert rules["panther/signal_only"].kind is RuleKind.BUILDING_BLOCK  # CreateAlert: false
    assert rules["panther/missing_python"].kind is RuleKind.DEPRECATED
    assert rules["panther/root_logins"].kind is RuleKind.HUNTING
    assert rules["panther/saved_lookup"].kind is RuleKind.ENRICHMENT
    assert rules["panther/admin_invited_then_deleted"].kind is RuleKind.CORRELATION
    # two log types of different products: no single product, both kept natively
    assert rules["panther/signal_only"].logsource == {"panther.log_types": "AWS.CloudTrail, Okta.SystemLog"}


def test_sql_queries(rules: dict[str, Rule]) -> None:
    query = rules["panther/root_logins"]
    assert (query.language, query.id, query.title) == ("sql", "AWS Root Logins", "AWS Root Logins")
    assert query.body.startswith("SELECT * FROM panther_logs.public.aws_cloudtrail\n")
    assert ("Schedule", "every 1440m") in query.facts


def test_correlation_rules(rules: dict[str, Rule]) -> None:
    group = rules["panther/admin_invited_then_deleted"]
    assert group.language == "panther-yaml"
    assert group.correlation is not None
    assert group.correlation.type is CorrelationType.TEMPORAL
    assert group.correlation.rules == (
        "Auth0.NewAdmin.Invitation",
        "Auth0.Delete.TenantMember",
        "Ticket.Opened",
    )
    assert group.correlation.group_by == ("p_alert_context.actor.email",)
    assert (group.correlation.timespan, group.correlation.timespan_seconds) == ("1800m", 108000)
    assert group.correlation.condition == {"absent": ["NoTicket"], "min_matches": ["DeleteUser: 2"]}
    assert group.attack_ids == ("T1098", "T1136")
    assert ("Group by", "p_alert_context.actor.email") in group.facts and (
        "Time window",
        "1800m",
    ) in group.facts
    sequence = rules["panther/ephemeral_account"]
    assert sequence.correlation is not None and sequence.correlation.type is CorrelationType.SEQUENCE
    assert sequence.correlation.group_by == ("p_alert_context.target_name",)  # from the transition's match


def test_simple_yaml_detection_is_parsed(rules: dict[str, Rule]) -> None:
    rule = rules["panther/github_repo_archived"]
    assert (rule.language, rule.logic_parsed) == ("panther-yaml", True)
    [stage] = rule.stages
    assert (stage.op, stage.label) == (StageOp.FILTER, "Detection")
    assert stage.expr == All(
        (
            Pred("action", Kind.EQ, "repo.archived", cased=True, native="action Equals 'repo.archived'"),
            Any(
                (
                    Pred("repo", Kind.EQ, "org/a", cased=True, native="repo IsIn ['org/a', 'org/b']"),
                    Pred("repo", Kind.EQ, "org/b", cased=True, native="repo IsIn ['org/a', 'org/b']"),
                )
            ),
            Pred("actor", Kind.EXISTS, True, native="actor Exists"),
        )
    )
    unknown = rules["panther/unknown_condition"]
    assert (unknown.stages, unknown.logic_parsed) == ([], False)  # not guessed
    assert [(p.message, p.line) for p in unknown.problems] == [
        ("Detection: unknown condition 'SoundsLike'", 7)
    ]


def test_python_problems_name_the_python_file(rules: dict[str, Rule]) -> None:
    broken = rules["panther/python_syntax_error"]
    assert [(p.file, p.line, p.message) for p in broken.problems] == [
        ("rules/aws_rules/python_syntax_error.py", 2, "Python syntax error: invalid syntax")
    ]
    assert [(p.file, p.line) for p in rules["panther/missing_python"].problems] == [
        ("rules/aws_rules/missing_python.yml", 2)
    ]
    assert rules["panther/missing_python"].problems[0].message == "Python file 'not_there.py' not found"
    assert [p.message for p in rules["panther/signal_only"].problems] == [
        "no rule() or policy() function: Panther has nothing to run"
    ]


def test_what_is_not_a_rule(tree: SourceResult) -> None:
    assert [(p.file, p.line, p.severity, p.message) for p in tree.errors] == [
        ("rules/aws_rules/a_data_model_in_rules.yml", 1, "warning", "AnalysisType 'datamodel' is not a rule"),
        ("rules/aws_rules/no_type.yml", 1, "error", "no 'AnalysisType': not an item"),
    ]


def test_python_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\n\ndef rule(event):\n    return True\n"
    body = read_python(source, "rules/x.py")
    assert body.functions == ("rule",) and body.problems == []
    assert not marker.exists()
    deep = read_python("x = " + "(" * 10000 + ")" * 10000 + "\n", "rules/deep.py")
    assert (
        deep.functions == ()
        and deep.problems[0].file == "rules/deep.py"
        and deep.problems[0].line is not None
    )
    nul = read_python("def rule(e):\x00 return 1\n", "rules/nul.py")
    assert nul.problems and nul.problems[0].file == "rules/nul.py"


def test_data_models(test_data: Path) -> None:
    models = read_data_models(test_data / "panther")
    assert [(m.id, m.log_types) for m in models.models] == [("Standard.AWS.CloudTrail", ("AWS.CloudTrail",))]
    assert [(m.name, m.path, m.method) for m in models.models[0].mappings] == [
        ("actor_user", "", "get_actor_user"),
        ("source_ip", "sourceIPAddress", ""),
    ]
    assert models.problems == []


def test_partly_reduced_python_is_never_compared(rules: dict[str, Rule]) -> None:
    """The guard reduces (eventName eq ConsoleLogin) but the helper's verdict does not: the rule's page shows
    the predicate, and relations get no canonical form, since the rule may be stricter than it shows."""
    partial = rules["panther/aws_console_login_odd_ip"]
    assert partial.logic_parsed and not partial.logic_complete
    assert (
        "Python logic",
        "partly reduced: the predicates shown must hold, the rest is Python logic not reduced",
    ) in (partial.facts)
    assert rule_form(partial, []) is None
    whole = rules["panther/aws_cloudtrail_stopped"]
    assert whole.logic_complete and rule_form(whole, []) is not None
