"""Event coverage of cloud, SaaS and Linux rules: the precise platform events a rule's action names
(platforms/actions.py), or why none can be named. Real catalog (../shared/providers + the pinned packages)."""

from __future__ import annotations

from test_event_coverage import eq, make_rule, named

from ruleatlas.model import All, Any, Kind, Pred
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.coverage import event_coverage


def test_cloudtrail_event_source_and_name(telemetry: TelemetryCatalog) -> None:
    aws = {"product": "aws", "service": "cloudtrail"}
    got = named(telemetry, aws, eq("eventSource", "iam.amazonaws.com"), eq("eventName", "CreateAccessKey"))
    assert got == ["AWS · iam · CreateAccessKey"]
    # without eventSource: the services whose models have the operation
    assert named(telemetry, aws, eq("eventName", "StopLogging")) == ["AWS · cloudtrail · StopLogging"]
    assert named(telemetry, aws, eq("eventName", "ConsoleLogin")) == ["AWS · signin · ConsoleLogin"]


def test_a_list_of_names_is_one_event_each(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"product": "aws", "service": "cloudtrail"},
        {
            "selection": All(
                (
                    eq("eventSource", "ec2.amazonaws.com"),
                    Any((eq("eventName", "CreateSnapshot"), eq("eventName", "DeleteSnapshot"))),
                )
            )
        },
    )
    coverage = event_coverage(rule, telemetry)
    assert [(e.provider_name, e.event_id) for e in coverage.events] == [
        ("ec2.amazonaws.com", "CreateSnapshot"),
        ("ec2.amazonaws.com", "DeleteSnapshot"),
    ]
    assert coverage.events[0].title == "CreateSnapshot (Amazon Elastic Compute Cloud)"


def test_an_operation_the_service_lacks_is_named_and_said(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"product": "aws", "service": "cloudtrail"},
        {"selection": All((eq("eventSource", "iam.amazonaws.com"), eq("eventName", "NoSuchCall")))},
    )
    coverage = event_coverage(rule, telemetry)
    assert [(e.provider_name, e.event_id, e.title) for e in coverage.events] == [
        ("iam.amazonaws.com", "NoSuchCall", "")
    ]
    assert "NoSuchCall is not an operation of iam.amazonaws.com in botocore's models." in coverage.note


def test_gcp_method_names_in_every_spelling(telemetry: TelemetryCatalog) -> None:
    gcp = {"product": "gcp", "service": "gcp.audit"}
    assert named(telemetry, gcp, eq("gcp.audit.method_name", "v1.compute.firewalls.insert")) == [
        "Google Cloud · compute · compute.firewalls.insert"
    ]
    grpc = named(telemetry, gcp, eq("gcp.audit.method_name", "google.iam.admin.v1.CreateServiceAccountKey"))
    assert grpc == ["Google Cloud · iam · iam.projects.serviceAccounts.keys.create"]
    gke = named(telemetry, gcp, eq("gcp.audit.method_name", "io.k8s.core.v1.secrets.create"))
    assert gke == ["Kubernetes · core · create secrets"]
    pattern = Pred("gcp.audit.method_name", Kind.WILDCARD, "v*.Compute.Firewalls.Delete")
    assert named(telemetry, gcp, pattern) == ["Google Cloud · compute · compute.firewalls.delete"]


def test_kubernetes_verb_and_resource(telemetry: TelemetryCatalog) -> None:
    k8s = {"product": "kubernetes", "service": "audit"}
    got = named(
        telemetry,
        k8s,
        eq("verb", "create"),
        eq("objectRef.resource", "pods"),
        eq("objectRef.subresource", "exec"),
    )
    assert got == ["Kubernetes · core · create pods/exec"]
    assert named(telemetry, k8s, eq("verb", "delete"), eq("objectRef.resource", "clusterrolebindings")) == [
        "Kubernetes · rbac.authorization.k8s.io · delete clusterrolebindings"
    ]


def test_auditd_record_type(telemetry: TelemetryCatalog) -> None:
    coverage = event_coverage(
        make_rule({"product": "linux", "service": "auditd"}, {"selection": eq("type", "execve")}), telemetry
    )
    assert [(e.provider, e.event_id, e.title) for e in coverage.events] == [
        ("auditd", "EXECVE", "EXECVE (1309): execve arguments")
    ]


def test_saas_actions_are_seen_events(telemetry: TelemetryCatalog) -> None:
    okta = event_coverage(
        make_rule(
            {"product": "okta", "service": "okta"}, {"selection": eq("eventType", "user.session.start")}
        ),
        telemetry,
    )
    assert [(e.provider, e.event_id) for e in okta.events] == [("Okta", "user.session.start")]
    assert okta.note == "Seen in rules, not in a definition: Okta System Log user.session.start."
    assert named(telemetry, {"product": "github", "service": "audit"}, eq("action", "repo.destroy")) == [
        "GitHub · repo.destroy"
    ]
    azure = {"product": "azure", "service": "activitylogs"}
    assert named(telemetry, azure, eq("operationName", "microsoft.compute/virtualmachines/delete")) == [
        "Azure · MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE"
    ]
    assert named(telemetry, {"product": "azure", "service": "signinlogs"}, eq("ResultType", 50126)) == [
        "Entra ID · sign-in · sign-in"
    ]


def test_a_pattern_without_an_event_list_says_so(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"product": "github", "service": "audit"}, {"selection": Pred("action", Kind.CONTAINS, "bypass")}
    )
    coverage = event_coverage(rule, telemetry)
    assert [(e.provider_name, e.event_id) for e in coverage.events] == [("github", "audit")]
    assert coverage.note.startswith(
        "The rule's action contains 'bypass' is a pattern and no event list is defined to expand it."
    )
