"""Telemetry beyond Windows: one platform per cloud, SaaS and OS log, with its events.

A platform (`PlatformDef`) groups providers of kind PLATFORM_KIND: AWS services, Google Cloud APIs,
Kubernetes API groups, the auditd record types, the Okta System Log... Defined platforms read their events
from a maintained package's data (`aws.py` botocore, `gcp.py` google-api-python-client, `kubernetes.py` the
kubernetes client, `auditd.py` linux/audit.h); the others (`SEEN_PLATFORMS`) have no package that lists
their events, so their providers start empty and hold what rules name and samples show, labelled "seen in
rules/samples". `actions.py` maps a rule's log source and action field (eventName, eventType, verb, type...)
to these events; `samples.py` attributes sample events (CloudTrail, Okta, ... JSON) to them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import (
    FORMAT_VERSION,
    LOGSOURCE_KIND,
    PLATFORM_KIND,
    SEEN,
    WINDOWS_KIND,
    PlatformDef,
    ProviderDef,
    TelemetryCatalog,
)
from ruleatlas.telemetry.platforms.auditd import DEFAULT_HEADER, load_auditd
from ruleatlas.telemetry.platforms.aws import load_aws
from ruleatlas.telemetry.platforms.defender_xdr import load_defender_xdr
from ruleatlas.telemetry.platforms.email import load_email
from ruleatlas.telemetry.platforms.gcp import load_gcp
from ruleatlas.telemetry.platforms.kubernetes import load_kubernetes
from ruleatlas.telemetry.platforms.packages import package_version
from ruleatlas.telemetry.platforms.sysmon_linux import add_sysmon_linux

WINDOWS = "windows"
SEEN_SOURCE = "seen in rules and samples"


@dataclass(slots=True, frozen=True)
class SeenProvider:
    """A provider of a platform without a package-defined catalog."""

    name: str
    label: str
    platform: str
    description: str


@dataclass(slots=True, frozen=True)
class SeenPlatform:
    key: str
    label: str
    action: str
    description: str
    providers: tuple[SeenProvider, ...] = ()


def _seen(
    key: str, label: str, action: str, description: str, *providers: tuple[str, str, str]
) -> SeenPlatform:
    return SeenPlatform(
        key, label, action, description, tuple(SeenProvider(n, lb, key, d) for n, lb, d in providers)
    )


SEEN_PLATFORMS = (
    _seen(
        "okta",
        "Okta",
        "System Log eventType",
        "Okta System Log events, by eventType.",
        ("Okta System Log", "Okta", "The Okta System Log API's events, by eventType."),
    ),
    _seen(
        "github",
        "GitHub",
        "audit log action",
        "GitHub organisation and enterprise audit log events, by action.",
        ("GitHub audit log", "GitHub", "The GitHub audit log's events, by action (repo.create, ...)."),
    ),
    _seen(
        "azure",
        "Azure",
        "Activity Log operationName",
        "Azure Resource Manager operations as the Activity Log names them.",
        ("Azure Activity Log", "Azure", "Azure Activity Log events, by operationName."),
    ),
    _seen(
        "entra",
        "Entra ID",
        "audit log activity (properties.message, OperationName), risk event type",
        "Microsoft Entra ID audit logs, sign-in logs, risk detections and PIM.",
        ("Entra ID audit logs", "Entra ID · audit", "Entra ID directory audit events, by activity."),
        ("Entra ID sign-in logs", "Entra ID · sign-in", "Entra ID sign-in events (one event type)."),
        (
            "Entra ID risk detections",
            "Entra ID · risk",
            "Entra ID Protection risk detections, by riskEventType.",
        ),
    ),
    _seen(
        "m365",
        "Microsoft 365",
        "unified audit log Operation",
        "Microsoft 365 unified audit log operations and alerts.",
        ("Microsoft 365 audit", "Microsoft 365", "Microsoft 365 unified audit log events, by operation."),
    ),
    _seen(
        "google_workspace",
        "Google Workspace",
        "Admin SDK Reports activity eventName",
        "Google Workspace audit activities, by application and event name.",
        ("Google Workspace admin", "Google Workspace · admin", "Admin console activities, by event name."),
        ("Google Workspace login", "Google Workspace · login", "Login activities, by event name."),
    ),
    _seen(
        "intune",
        "Intune",
        "operationName",
        "Microsoft Intune audit and operational logs (Azure Monitor diagnostics), by operationName.",
        (
            "Intune audit logs",
            "Intune · audit",
            "Intune administrative changes (Create MobileApp, Patch DeviceManagementScript...), "
            "by operationName.",
        ),
        (
            "Intune operational logs",
            "Intune · operational",
            "Intune enrollment and compliance operations, by operationName.",
        ),
    ),
    _seen(
        "power_platform",
        "Power Platform",
        "Dataverse message",
        "Microsoft Power Platform activity: Dataverse (Dynamics 365) activity logging, by message.",
        (
            "Dataverse activity",
            "Power Platform · Dataverse",
            "Microsoft Dataverse and model-driven (Dynamics 365) app activity, by message "
            "(RetrieveMultiple, UserSignIn...).",
        ),
    ),
    _seen(
        "macos",
        "macOS",
        "Sigma category",
        "macOS endpoint events (Sigma categories; ESF events as rules name them).",
    ),
    _seen(
        "linux",
        "Linux",
        "Sigma category",
        "Linux endpoint events by Sigma category and service (EDR agents, syslog services); Sysmon for "
        "Linux and auditd are platforms of their own.",
    ),
)

# Sigma products whose catch-all log source provider (products.py) belongs to a platform: a rule that names
# no action is listed there, on its platform's page.
PRODUCT_PLATFORMS = {
    "aws": "aws",
    "gcp": "gcp",
    "kubernetes": "kubernetes",
    "okta": "okta",
    "github": "github",
    "azure": "azure",
    "m365": "m365",
    "macos": "macos",
    "linux": "linux",
    "email": "email",
    "google_workspace": "google_workspace",
    "intune": "intune",
    "power_platform": "power_platform",
}

DEFINED_LOADERS = (load_aws, load_gcp, load_kubernetes, load_defender_xdr)


def platform_inputs(audit_header: Path | None = None) -> str:
    """What the defined platforms are read from, as a cache key: a new package version or audit header
    rebuilds them, an unchanged one reads the cached catalog."""
    header = audit_header or DEFAULT_HEADER
    try:
        stamp = f"{header}:{header.stat().st_mtime_ns}"
    except OSError:
        stamp = f"{header}:absent"
    versions = (
        f"{d}={package_version(d)}"
        for d in ("botocore", "google-api-python-client", "kubernetes", "pySigma-backend-kusto")
    )
    # the catalog's format too: a build with a new format must load the definitions again, not keep the
    # stored ones (the build's telemetry key is the providers' fingerprint plus this)
    return " ".join((*versions, stamp, f"format={FORMAT_VERSION}"))


@dataclass(slots=True, frozen=True)
class _LoadedPlatforms:
    """The defined platforms as read from their packages, as JSON (which no build can change)."""

    inputs: str
    platforms: tuple[tuple[dict[str, str], tuple[dict[str, Any], ...]], ...]
    problems: tuple[Problem, ...]


# Per process, the last packages read: reading botocore's and Google's ~35,000 events costs seconds of CPU,
# and a process that builds several catalogs (the tests, a server that rebuilds) would pay it each time.
_loaded: list[_LoadedPlatforms] = []


def _defined_platforms(
    problems: list[Problem], audit_header: Path | None
) -> list[tuple[PlatformDef, list[ProviderDef]]]:
    """The package-defined platforms and their providers, new objects each call (a build adds to them), read
    from the packages once per `platform_inputs`; their problems are added to `problems`."""
    inputs = platform_inputs(audit_header)
    if not _loaded or _loaded[0].inputs != inputs:
        found: list[Problem] = []
        read = [loader(found) for loader in DEFINED_LOADERS]
        read.append(load_auditd(found, audit_header))
        read.append(load_email(found))
        _loaded[:] = [
            _LoadedPlatforms(
                inputs,
                tuple((p.to_json(), tuple(x.to_json() for x in providers)) for p, providers in read),
                tuple(found),
            )
        ]
    loaded = _loaded[0]
    problems.extend(replace(p) for p in loaded.problems)
    return [
        (PlatformDef.from_json(platform), [ProviderDef.from_json(p) for p in providers])
        for platform, providers in loaded.platforms
    ]


def add_platforms(catalog: TelemetryCatalog, audit_header: Path | None = None) -> None:
    """Add every platform and its providers to `catalog` (problems go to `catalog.problems`)."""
    problems: list[Problem] = catalog.problems
    catalog.platforms[WINDOWS] = PlatformDef(
        key=WINDOWS,
        label="Windows",
        status="defined",
        source="Windows provider manifests, Sysmon schemas, OSSEM (../shared/providers)",
        action="provider and EventID",
        description="Windows event providers and their events.",
    )
    for platform, providers in _defined_platforms(problems, audit_header):
        catalog.platforms[platform.key] = platform
        for provider in providers:
            catalog.providers[provider.name] = provider
    add_sysmon_linux(catalog, problems)
    for seen in SEEN_PLATFORMS:
        catalog.platforms[seen.key] = PlatformDef(
            key=seen.key,
            label=seen.label,
            status=SEEN,
            source=SEEN_SOURCE,
            action=seen.action,
            description=seen.description,
        )
        for item in seen.providers:
            catalog.providers[item.name] = ProviderDef(
                name=item.name,
                label=item.label,
                kind=PLATFORM_KIND,
                platform=seen.key,
                description=item.description,
            )
    for provider in catalog.providers.values():
        if provider.kind == WINDOWS_KIND:
            provider.platform = WINDOWS
        elif provider.kind == LOGSOURCE_KIND:
            product = provider.name.removesuffix(" (log source)")
            provider.platform = WINDOWS if product == WINDOWS else PRODUCT_PLATFORMS.get(product, "")
    catalog.reindex()
