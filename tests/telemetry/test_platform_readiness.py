"""Readiness and samples for cloud and SaaS logs: CloudTrail and Okta JSON records are recognised as their
platform events, so the rules needing them are judged (fixtures we wrote: tests/data/telemetry/platforms/)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from ruleatlas.cli import main
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.observed import Observed
from ruleatlas.telemetry.platforms.samples import platform_event

pytestmark = pytest.mark.corpus


def test_records_are_named_by_their_shape(telemetry: TelemetryCatalog) -> None:
    trail = {"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey"}
    assert platform_event(trail, telemetry) == ("iam.amazonaws.com", "CreateAccessKey")
    okta = {"eventType": "user.session.start", "actor": {"id": "x"}, "published": "2024"}
    assert platform_event(okta, telemetry) == ("Okta System Log", "user.session.start")
    gke = {"protoPayload": {"serviceName": "k8s.io", "methodName": "io.k8s.core.v1.secrets.create"}}
    assert platform_event(gke, telemetry) == ("kubernetes core", "create secrets")
    gcp = {
        "protoPayload": {"serviceName": "compute.googleapis.com", "methodName": "v1.compute.instances.insert"}
    }
    assert platform_event(gcp, telemetry) == ("compute.googleapis.com", "compute.instances.insert")
    assert platform_event({"eventName": "x"}, telemetry) is None


def test_observed_keeps_platform_events_with_dotted_fields(telemetry: TelemetryCatalog) -> None:
    observed = Observed(telemetry, examples=True)
    observed.add(
        {
            "eventVersion": "1",
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateUser",
            "userIdentity": {"arn": "arn:x"},
        },
        "a.json",
    )
    observed.add({"EventID": "x"})
    sample = observed.events[("iam.amazonaws.com", "CreateUser")]
    assert sample.count == 1 and "userIdentity.arn" in sample.fields
    assert sample.example["userIdentity.arn"] == "arn:x" and sample.example_source == "a.json"
    assert observed.unattributed == 1
    assert json.loads(json.dumps(observed.to_json()))["events"][0]["event_id"] == "CreateUser"


def test_readiness_tells_which_cloud_rules_could_fire(corpus_catalog: Path, test_data: Path) -> None:
    logs = test_data / "telemetry" / "platforms"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["readiness", "--catalog", str(corpus_catalog), "--json", str(logs)])
    assert code == 0
    report = json.loads(out.getvalue())
    verdicts = {v["uid"]: v for v in report["rule_verdicts"]}
    stop = verdicts["sigma/aws_cloudtrail_disable_logging"]
    assert stop["verdict"] == "fires" and stop["events"] == ["AWS · cloudtrail StopLogging"]
    assert verdicts["sigma/okta_mfa_reset_or_deactivated"]["verdict"] == "fires"
    access_key = verdicts["sigma/aws_iam_backdoor_users_keys"]
    assert access_key["verdict"] == "blocked" and access_key["detail"] == "AWS · iam CreateAccessKey"
