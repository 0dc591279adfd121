"""Sample events of the platforms: which platform event a JSON record is, and the events of Panther's rule
tests.

`platform_event` recognises a record by the shape of its log: a CloudTrail record (`eventSource` +
`eventName`), an Okta System Log event (`eventType` + `actor`), a Cloud Audit Log entry (`protoPayload`),
a Kubernetes audit event (`apiVersion: audit.k8s.io/*`), a GitHub audit event (`action` + `actor`), a
Google Workspace activity, an Intune audit or operational record, an Azure Activity Log or Entra ID record,
a Microsoft 365 audit record. It names the (provider, event) the catalog files the event under, so samples
and readiness see the same events rules cover.

`panther_test_events` reads the `Tests:` of Panther's rule files (panther-labs/panther-analysis): each test
holds one full JSON event (`Log:`), thousands of real-shaped cloud and SaaS records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import TelemetryCatalog
from ruleatlas.telemetry.platforms.actions import gcp_events, gke_event

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 4  # dotted field names go this deep into nested objects


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _cloudtrail(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    source, name = _text(e.get("eventSource")), _text(e.get("eventName"))
    if source and name and ("eventVersion" in e or "awsRegion" in e or "userIdentity" in e):
        return source, name
    return None


def _okta(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    kind = _text(e.get("eventType"))
    if (
        kind
        and isinstance(e.get("actor"), dict)
        and ("published" in e or "uuid" in e or "displayMessage" in e)
    ):
        return "Okta System Log", kind
    return None


def _gcp(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    payload = e.get("protoPayload")
    if not isinstance(payload, dict):
        return None
    method, service = _text(payload.get("methodName")), _text(payload.get("serviceName"))
    if not method:
        return None
    gke = gke_event(telemetry, method)
    if gke is not None:
        return gke[0]
    found = gcp_events(telemetry, method, service)
    return found[0] if len(found) == 1 else (service or "gcp", method)


def _kubernetes(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    if not _text(e.get("apiVersion")).startswith("audit.k8s.io") or not isinstance(e.get("objectRef"), dict):
        return None
    ref, verb = e["objectRef"], _text(e.get("verb"))
    resource = _text(ref.get("resource"))
    if not verb or not resource:
        return None
    sub = _text(ref.get("subresource"))
    group = _text(ref.get("apiGroup")) or "core"
    return f"kubernetes {group}", f"{verb} {resource}/{sub}" if sub else f"{verb} {resource}"


def _github(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    action = _text(e.get("action"))
    if action and "actor" in e and ("org" in e or "repo" in e or "business" in e) and "@timestamp" in e:
        return "GitHub audit log", action
    return None


def _workspace(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    ident = e.get("id")
    app = _text(ident.get("applicationName")) if isinstance(ident, dict) else ""
    name = _text(e.get("name"))
    provider = f"Google Workspace {app}"
    if app and name and telemetry.provider(provider) is not None:
        return provider, name
    return None


def _azure(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    category = _text(e.get("category"))
    operation = _text(e.get("operationName"))
    if category == "SignInLogs":
        return "Entra ID sign-in logs", "sign-in"
    if category == "AuditLogs" and operation:
        return "Entra ID audit logs", operation
    if operation and "resourceId" in e:
        return "Azure Activity Log", operation.upper()
    return None


def _intune(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    """Intune's diagnostic records: `category` AuditLogs (with Intune's ActivityResultStatus in properties,
    which Entra ID's audit records lack) or OperationalLogs."""
    category = _text(e.get("category"))
    operation = _text(e.get("operationName"))
    properties = e.get("properties")
    if not operation or not isinstance(properties, dict):
        return None
    if category == "AuditLogs" and "ActivityResultStatus" in properties:
        return "Intune audit logs", operation
    if category == "OperationalLogs":
        return "Intune operational logs", operation
    return None


def _m365(e: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    operation = _text(e.get("Operation"))
    if operation and "Workload" in e and "RecordType" in e:
        return "Microsoft 365 audit", operation
    return None


_SHAPES = (_cloudtrail, _gcp, _kubernetes, _okta, _github, _workspace, _intune, _azure, _m365)


def platform_event(event: dict[str, Any], telemetry: TelemetryCatalog) -> tuple[str, str] | None:
    """(provider, event key) of a platform record, or None when it is no platform log this module knows."""
    for shape in _SHAPES:
        found = shape(event, telemetry)
        if found is not None:
            return found
    return None


def dotted(event: dict[str, Any], prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every field of a nested record by its dotted name (`userIdentity.arn`), as rules name them; objects
    deeper than MAX_DEPTH stay one field."""
    for name, value in event.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and value and depth < MAX_DEPTH:
            yield from dotted(value, key + ".", depth + 1)
        else:
            yield key, value


def panther_test_events(root: Path, problems: list[Problem]) -> Iterator[tuple[dict[str, Any], str]]:
    """(event, "<file>, test <name>") of every `Tests:` entry with a JSON `Log` under `root`'s rules."""
    for path in sorted(root.rglob("*.yml")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(Problem(str(path), f"not read: {exc.strerror or exc}", severity="warning"))
            continue
        if "Tests:" not in text:
            continue
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(
                Problem(
                    str(path), f"YAML error: {exc}", line=mark.line + 1 if mark else None, severity="warning"
                )
            )
            continue
        tests = data.get("Tests") if isinstance(data, dict) else None
        rel = path.relative_to(root).as_posix()
        for test in tests if isinstance(tests, list) else ():
            log = test.get("Log") if isinstance(test, dict) else None
            if isinstance(log, dict):
                yield log, f"{rel}, test {test.get('Name', '?')}"
