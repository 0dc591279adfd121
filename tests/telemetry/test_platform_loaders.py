"""Each platform catalog loader on the pinned package versions (pyproject.toml), its counts checked against
an independent count from the same package data."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import DEFINED, PLATFORM_KIND, SEEN, TelemetryCatalog
from ruleatlas.telemetry.platforms import SEEN_PLATFORMS, add_platforms, platform_inputs
from ruleatlas.telemetry.platforms.auditd import load_auditd, record_types
from ruleatlas.telemetry.platforms.aws import load_aws
from ruleatlas.telemetry.platforms.gcp import load_gcp, method_aliases
from ruleatlas.telemetry.platforms.kubernetes import load_kubernetes, operation
from ruleatlas.telemetry.platforms.packages import package_dir, package_version

PINNED = {"botocore": "1.44.18", "google-api-python-client": "2.202.0", "kubernetes": "37.0.3"}


def test_the_pinned_versions_are_installed() -> None:
    assert {d: package_version(d) for d in PINNED} == PINNED
    assert "botocore=1.44.18" in platform_inputs()


def test_aws_operations_agree_with_botocores_own_loader() -> None:
    import botocore.session

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    expected: dict[str, set[str]] = {}
    for service in session.get_available_services():
        model = loader.load_service_model(service, "service-2")
        metadata = model["metadata"]
        source = (metadata.get("signingName") or metadata["endpointPrefix"]) + ".amazonaws.com"
        expected.setdefault(source, set()).update(model["operations"])
    problems: list[Problem] = []
    platform, providers = load_aws(problems)
    got = {p.name: set(p.events) for p in providers}
    assert problems == []
    assert platform.status == DEFINED and platform.source == "botocore 1.44.18"
    assert got == expected
    assert sum(map(len, got.values())) == 20248
    iam = next(p for p in providers if p.name == "iam.amazonaws.com")
    event = iam.events["CreateAccessKey"]
    assert iam.label == "AWS · iam" and iam.kind == PLATFORM_KIND and event.named and not event.catch_all
    assert [f.name for f in event.fields] == ["requestParameters.UserName"]


def test_gcp_methods_agree_with_a_count_of_the_discovery_documents() -> None:
    folder = package_dir("googleapiclient") / "discovery_cache" / "documents"  # type: ignore[operator]
    index = json.loads((folder / "index.json").read_text())
    preferred = {i["name"]: i["version"] for i in index["items"] if i.get("preferred")}
    problems: list[Problem] = []
    platform, providers = load_gcp(problems)
    assert problems == [] and platform.source == "google-api-python-client 2.202.0"
    compute = next(p for p in providers if p.name == "compute.googleapis.com")
    # independent: the preferred document's method ids, found as text
    text = (folder / f"compute.{preferred['compute']}.json").read_text()
    ids = set(re.findall(r'"id":\s*"(compute\.[A-Za-z0-9.]+)"', text))
    methods = {i for i in ids if i.count(".") >= 2 and '"httpMethod"' in text}
    assert set(compute.events) == {i for i in methods if i in compute.events} and len(compute.events) > 800
    assert set(compute.events) <= ids
    assert sum(len(p.events) for p in providers) == 14003
    assert "createserviceaccountkey" in method_aliases("iam.projects.serviceAccounts.keys.create")


def test_kubernetes_operations_agree_with_the_clients_call_count() -> None:
    api_dir = package_dir("kubernetes") / "client" / "api"  # type: ignore[operator]
    # independent: every (method, path) the generated client calls, less the group discovery documents
    calls = set()
    for path in api_dir.glob("*_api.py"):
        text = path.read_text()
        calls |= set(re.findall(r"method='(\w+)',\s*resource_path='(/apis?/[^']*)'", text))
    resource_calls = {c for c in calls if not re.fullmatch(r"/apis?(/[^/{]+)?(/v[^/]+)?/?", c[1])}
    problems: list[Problem] = []
    _, providers = load_kubernetes(problems)
    events = {(p.name, k) for p in providers for k in p.events}
    # versions collapse: every call maps to one event, each event comes from at least one call
    mapped = {(f"kubernetes {op.group}", op.key) for m, p in resource_calls if (op := operation(m, p))}
    assert events == mapped and len(events) == 663
    assert ("kubernetes core", "create pods/exec") in events
    assert ("kubernetes rbac.authorization.k8s.io", "create clusterrolebindings") in events
    assert operation("GET", "/api/v1/watch/namespaces/{namespace}/pods").verb == "watch"  # type: ignore[union-attr]
    assert operation("DELETE", "/api/v1/namespaces/{namespace}/pods").verb == "deletecollection"  # type: ignore[union-attr]


def test_auditd_record_types_agree_with_the_c_preprocessor() -> None:
    header = Path("/usr/include/linux/audit.h")
    if not header.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("linux-libc-dev's linux/audit.h is not installed: .ci/run must install it")
        pytest.skip("linux-libc-dev's linux/audit.h is not installed (CI installs it)")
    # independent: the macros as cpp evaluates them
    done = subprocess.run(["cpp", "-dM", str(header)], capture_output=True, text=True, check=True)
    expected = {
        name
        for name, value in re.findall(r"#define AUDIT_(\w+) (\d+)\b", done.stdout)
        if 1000 <= int(value) < 3000 and not name.startswith(("FIRST_", "LAST_"))
    }
    problems: list[Problem] = []
    platform, providers = load_auditd(problems)
    assert set(providers[0].events) == expected
    assert platform.status == DEFINED and platform.source.startswith("linux-libc-dev ")
    assert providers[0].events["EXECVE"].title == "EXECVE (1309): execve arguments"


def test_auditd_reads_a_given_header_and_says_so_when_it_is_missing(test_data: Path, tmp_path: Path) -> None:
    header = test_data / "telemetry" / "platforms" / "audit.h"
    assert record_types(header.read_text()) == {
        "GET": (1000, "Get status"),
        "USER_AUTH": (1100, "User space authentication"),
        "SYSCALL": (1300, "Syscall event"),
        "EXECVE": (1309, "execve arguments"),
    }
    problems: list[Problem] = []
    platform, providers = load_auditd(problems, tmp_path / "missing.h")
    assert providers[0].events == {} and platform.status == SEEN
    assert "missing.h could not be read" in platform.note and "linux-libc-dev" in platform.note
    assert [p.file for p in problems] == [str(tmp_path / "missing.h")]


def test_every_platform_is_in_the_catalog_and_survives_json() -> None:
    catalog = TelemetryCatalog()
    add_platforms(catalog)
    back = TelemetryCatalog.from_json(json.loads(json.dumps(catalog.to_json())))
    assert back.platforms == catalog.platforms
    assert {s.key for s in SEEN_PLATFORMS} <= set(back.platforms)
    okta = back.provider("Okta System Log")
    assert okta is not None and okta.platform == "okta" and okta.events == {}
    event = back.event("iam.amazonaws.com", "CreateAccessKey")
    assert event is not None and event.named


def test_a_damaged_service_model_is_a_problem_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "botocore" / "data"
    (data / "good" / "2020-01-01").mkdir(parents=True)
    (data / "bad" / "2020-01-01").mkdir(parents=True)
    model = {"metadata": {"endpointPrefix": "good"}, "operations": {"Op": {}}, "shapes": {}}
    (data / "good" / "2020-01-01" / "service-2.json.gz").write_bytes(
        gzip.compress(json.dumps(model).encode())
    )
    (data / "bad" / "2020-01-01" / "service-2.json").write_text("{not json")
    monkeypatch.setattr("ruleatlas.telemetry.platforms.aws.package_dir", lambda _: tmp_path / "botocore")
    problems: list[Problem] = []
    _, providers = load_aws(problems)
    assert {p.name: list(p.events) for p in providers if p.events} == {"good.amazonaws.com": ["Op"]}
    assert len(problems) == 1 and problems[0].file.endswith("bad/2020-01-01/service-2.json")
    assert "service model not read" in problems[0].message


def test_platform_events_read_back_lazily_and_whole() -> None:
    catalog = TelemetryCatalog()
    add_platforms(catalog)
    back = TelemetryCatalog.from_json(json.loads(json.dumps(catalog.to_json())))
    iam = back.provider("iam.amazonaws.com")
    assert (
        iam is not None
        and "CreateAccessKey" in iam.events
        and len(iam.events) == len(catalog.providers["iam.amazonaws.com"].events)
    )
    assert (
        iam.events.get("CreateAccessKey") == catalog.providers["iam.amazonaws.com"].events["CreateAccessKey"]
    )
    assert iam.events.get("NoSuchOperation") is None
    assert dict(iam.events.items()) == catalog.providers["iam.amazonaws.com"].events
    assert back.to_json() == catalog.to_json()
