"""From a rule's log source and action predicates to the platform events it needs.

The table `ACTION_SOURCES` says, per Sigma log source (product, service), which provider holds the events
and which fields name the action: CloudTrail `eventName` (with `eventSource` choosing the service), Okta
`eventType`, GCP `methodName`, Kubernetes `verb` × `objectRef.resource`, auditd `type`... Other vendors'
rules join through their derived Sigma-style log source (issue 11) and the same table. A positive equality
names one event; a prefix, suffix or contains pattern names every defined event it matches (if few enough);
where nothing can be named, `Resolution.note` says why.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from ruleatlas.model import Kind
from ruleatlas.telemetry.catalog import PLATFORM_KIND, ProviderDef, TelemetryCatalog
from ruleatlas.telemetry.platforms import defender_xdr, email, gcp

MAX_PATTERN_EVENTS = 12
# CloudTrail events that are no API operation, so botocore has no model for them (AWS CloudTrail user
# guide, "CloudTrail non-API events captured by CloudTrail": AWS console sign-in events).
CLOUDTRAIL_NON_API = {
    name: "signin.amazonaws.com"
    for name in (
        "ConsoleLogin",
        "SwitchRole",
        "ExitRole",
        "RenewRole",
        "CheckMfa",
        "GetSigninToken",
        "PasswordRecoveryRequested",
        "PasswordRecoveryCompleted",
    )
}
# GKE writes Kubernetes audit events into Cloud Audit Logs with methodName io.k8s.<group>.<version>.<resource>
# [.<subresource>].<verb>.
_GKE_METHOD = re.compile(
    r"^io\.k8s\.(?:api\.)?([a-z.]+?)\.v[^.]*\.([a-z]+(?:\.[a-z]+)?)\.([a-z]+)$", re.IGNORECASE
)
_GKE_GROUPS = {"authorization.rbac": "rbac"}
PATTERN_KINDS = {
    Kind.STARTS_WITH: "{}*",
    Kind.ENDS_WITH: "*{}",
    Kind.CONTAINS: "*{}*",
    Kind.WILDCARD: "{}",
}

# Two or more words of letters: an action phrase ("Add service principal"), not a fragment ("add", "domain").
_PHRASE = re.compile(r"^\s*[A-Za-z][A-Za-z-]*(?: [A-Za-z][A-Za-z-]*)+\.?\s*$")

Values = dict[str, list[tuple[Kind, str]]]
"""A rule's positive predicates on string-like values: lower-cased field name -> (kind, value)."""


@dataclass(slots=True)
class Resolution:
    events: list[tuple[str, str]] = field(default_factory=list)  # (provider name, event key), in rule order
    notes: list[str] = field(default_factory=list)
    named_action: bool = False  # the rule tests the platform's action field
    # a native table's events stand for the rule's whole log source (its first table is the native one),
    # rather than being added to the events of its other tables
    replaces: bool = True

    def add(self, provider: str, key: str) -> None:
        if (provider, key) not in self.events:
            self.events.append((provider, key))


@dataclass(slots=True, frozen=True)
class ActionSource:
    provider: str  # the provider's name ("" when the resolver picks it)
    fields: tuple[str, ...]  # lower-cased action fields, first found wins
    action: str  # how a note names the action
    resolve: Callable[[ActionSource, TelemetryCatalog, Values, Resolution], None] | None = None
    fold: Callable[[str], str] = str
    fixed_key: str = ""  # a log with one event type


def _values(values: Values, fields: Iterable[str]) -> list[tuple[Kind, str]]:
    return [item for f in fields for item in values.get(f, ())]


def _pattern(kind: Kind, value: str) -> str:
    return PATTERN_KINDS[kind].format(value).lower()


def _expand(
    resolution: Resolution, providers: list[ProviderDef], kind: Kind, value: str, action: str
) -> None:
    """Every defined event of `providers` a pattern predicate matches, when few enough to list."""
    pattern = _pattern(kind, value)
    matches = re.compile(fnmatch.translate(pattern)).match  # what fnmatchcase does, compiled once per call
    found = [(p.name, str(k)) for p in providers for k in p.events if matches(str(k).lower()) is not None]
    if len(providers) == 1 and not providers[0].events and _PHRASE.match(value):
        # a seen-only log (Entra ID activities, Microsoft 365 operations) has no list to expand against; its
        # actions are phrases that rules match loosely (KQL `has`, `contains`), so a phrase names its event
        resolution.add(providers[0].name, value.strip())
        resolution.notes.append(f"The rule's {action} {kind} {value!r} is taken as the event it names.")
    elif not providers or not any(p.events for p in providers):
        resolution.notes.append(
            f"The rule's {action} {kind} {value!r} is a pattern and no event list is defined to expand it."
        )
    elif not found:
        resolution.notes.append(f"No defined event matches the rule's {action} {kind} {value!r}.")
    elif len(found) > MAX_PATTERN_EVENTS:
        resolution.notes.append(
            f"The rule's {action} {kind} {value!r} matches {len(found)} defined events, too many to list."
        )
    else:
        for provider, key in found:
            resolution.add(provider, key)
        resolution.notes.append(f"Listed the events the rule's {action} {kind} {value!r} matches.")


def _generic(
    source: ActionSource, telemetry: TelemetryCatalog, values: Values, resolution: Resolution
) -> None:
    provider = telemetry.provider(source.provider)
    if provider is None:
        resolution.notes.append(f"No telemetry provider {source.provider}.")
        return
    if source.fixed_key:
        resolution.named_action = True
        resolution.add(provider.name, source.fixed_key)
        return
    items = _values(values, source.fields)
    if not items:
        return
    resolution.named_action = True
    spelled = {str(k).lower(): str(k) for k in provider.events}
    for kind, value in items:
        if kind == Kind.EQ:
            key = source.fold(value)
            resolution.add(provider.name, spelled.get(key.lower(), key))
        elif kind in PATTERN_KINDS:
            _expand(resolution, [provider], kind, value, source.action)


def _platform_providers(telemetry: TelemetryCatalog, platform: str) -> list[ProviderDef]:
    cache = telemetry.derived.setdefault("providers", {})
    if platform not in cache:
        cache[platform] = [
            p for p in telemetry.providers.values() if p.kind == PLATFORM_KIND and p.platform == platform
        ]
    found: list[ProviderDef] = cache[platform]
    return found


def _by_event(
    telemetry: TelemetryCatalog, platform: str, fold: Callable[[str], str]
) -> dict[str, list[tuple[str, str]]]:
    """Folded event key -> (provider, key) over a platform's providers."""
    cache = telemetry.derived.setdefault("by_event", {})
    if platform not in cache:
        index: dict[str, list[tuple[str, str]]] = {}
        for provider in _platform_providers(telemetry, platform):
            for key in provider.events:
                index.setdefault(fold(str(key)), []).append((provider.name, str(key)))
        cache[platform] = index
    found: dict[str, list[tuple[str, str]]] = cache[platform]
    return found


def _aws(source: ActionSource, telemetry: TelemetryCatalog, values: Values, resolution: Resolution) -> None:
    names = _values(values, source.fields)
    if not names:
        return
    resolution.named_action = True
    sources = [v for k, v in _values(values, AWS_SOURCES) if k == Kind.EQ]
    named = [p for s in sources if (p := telemetry.provider(s)) is not None]
    everywhere = _by_event(telemetry, "aws", str.lower)
    for kind, name in names:
        if kind in PATTERN_KINDS:
            _expand(resolution, named or _platform_providers(telemetry, "aws"), kind, name, "eventName")
            continue
        if kind != Kind.EQ:
            continue
        defining = [p.name for p in named if name in p.events]
        if defining:
            for provider in defining:
                resolution.add(provider, name)
            continue
        candidates = everywhere.get(name.lower(), [])
        if not candidates and name in CLOUDTRAIL_NON_API and not sources:
            resolution.add(CLOUDTRAIL_NON_API[name], name)
            resolution.notes.append(f"{name} is a CloudTrail non-API event: no service model defines it.")
        elif sources and not candidates:
            resolution.add(named[0].name if named else sources[0], name)
            resolution.notes.append(
                f"{name} is not an operation of {', '.join(sources)} in botocore's models."
            )
        elif sources and len(sources) == 1:
            resolution.add(named[0].name if named else sources[0], name)
            resolution.notes.append(
                f"{name} is not an operation of {sources[0]} in botocore's models "
                f"(it is of {', '.join(p for p, _ in candidates)})."
            )
        elif candidates and len(candidates) <= 3:
            for provider, key in candidates:
                resolution.add(provider, key)
            if not sources and len(candidates) > 1:
                resolution.notes.append(
                    f"The rule names no eventSource; {name} is an operation of {len(candidates)} services."
                )
        elif candidates:
            resolution.notes.append(
                f"The rule names no eventSource, and {name} is an operation of {len(candidates)} services."
            )
        else:
            resolution.notes.append(
                f"{name} is no operation in botocore's models, and the rule names no eventSource."
            )


def _gcp_index(telemetry: TelemetryCatalog) -> dict[str, list[tuple[str, str]]]:
    cache = telemetry.derived
    if "gcp_aliases" not in cache:
        index: dict[str, list[tuple[str, str]]] = {}
        for provider in _platform_providers(telemetry, "gcp"):
            for key in provider.events:
                for alias in gcp.method_aliases(str(key)):
                    entries = index.setdefault(alias, [])
                    if (provider.name, str(key)) not in entries:
                        entries.append((provider.name, str(key)))
        cache["gcp_aliases"] = index
    found: dict[str, list[tuple[str, str]]] = cache["gcp_aliases"]
    return found


def gcp_events(telemetry: TelemetryCatalog, method: str, service: str = "") -> list[tuple[str, str]]:
    """The discovery methods an audit log's methodName names (by id, else by gRPC name), narrowed to
    `service` when given."""
    index = _gcp_index(telemetry)
    for key in gcp.lookup_key(method):
        found = index.get(key, [])
        if service:
            found = [f for f in found if f[0] == service] or []
        if found:
            return found
    return []


def _gcp(source: ActionSource, telemetry: TelemetryCatalog, values: Values, resolution: Resolution) -> None:
    methods = _values(values, source.fields)
    if not methods:
        return
    resolution.named_action = True
    services = [v for k, v in _values(values, GCP_SERVICES) if k == Kind.EQ]
    for kind, method in methods:
        if kind in (Kind.EQ, Kind.WILDCARD) and _gke(telemetry, resolution, method):
            continue
        if kind == Kind.ENDS_WITH and method.startswith("."):
            # `.compute.firewalls.insert` names the method under any version prefix
            kind, method = Kind.EQ, method[1:]
        if kind == Kind.WILDCARD and (versioned := _any_version(telemetry, method, services)):
            for provider, key in versioned:
                resolution.add(provider, key)
            continue
        if kind in PATTERN_KINDS:
            # audit logs prefix compute methods with their API version (v1.compute...): match without it
            bare = re.sub(r"^(v\*|v\d+\w*|beta|alpha|\*)\.", "", method)
            _expand(resolution, _platform_providers(telemetry, "gcp"), kind, bare, "methodName")
            continue
        if kind != Kind.EQ:
            continue
        found = [f for s in services or [""] for f in gcp_events(telemetry, method, s)]
        if 0 < len(found) <= 3:
            for provider, key in found:
                resolution.add(provider, key)
        elif found:
            resolution.notes.append(f"methodName {method} names {len(found)} methods of several APIs.")
        else:
            service = services[0] if services else method.split(".")[0] + ".googleapis.com"
            resolution.add(service, method)
            resolution.notes.append(f"{method} is not a method of the discovery documents.")


_VERSION_WILDCARD = re.compile(r"(?<=[.a-z])v\*", re.IGNORECASE)


def _spell_version(version: str, match: re.Match[str]) -> str:
    return match.group(0)[0] + version


def _any_version(telemetry: TelemetryCatalog, method: str, services: list[str]) -> list[tuple[str, str]]:
    """The methods a gRPC name with any API version names (`google.pubsub.v*.Publisher.CreateTopic`,
    `ConfigServiceV*`): the same lookup as its v1 (or v2) spelling, when that is its only wildcard."""
    if not _VERSION_WILDCARD.search(method) or "*" in _VERSION_WILDCARD.sub("", method):
        return []
    for version in ("1", "2"):
        spelled = _VERSION_WILDCARD.sub(partial(_spell_version, version), method)
        found = [f for s in services or [""] for f in gcp_events(telemetry, spelled, s)]
        if 0 < len(found) <= 3:
            return found
    return []


def gke_event(telemetry: TelemetryCatalog, method: str) -> tuple[tuple[str, str], bool] | None:
    """A GKE methodName (io.k8s.core.v1.secrets.create) as the Kubernetes event it is (core, create
    secrets), with whether the client's API defines it; None for any other method name."""
    match = _GKE_METHOD.match(method.replace("*", "1"))
    if match is None:
        return None
    group, resource, verb = match.groups()
    key = f"{verb.lower()} {resource.lower().replace('.', '/')}"
    group = _GKE_GROUPS.get(group.lower(), group.lower())
    defining = _by_event(telemetry, "kubernetes", str.lower).get(key, [])
    # GKE shortens the group (rbac, certificates): the API group it names is the one it starts
    found = [f for f in defining if f[0] == f"kubernetes {group}"] or [
        f for f in defining if f[0].startswith(f"kubernetes {group}.")
    ]
    provider = found[0][0] if found else f"kubernetes {group}"
    return (found[0], True) if found else ((provider, key), False)


def _gke(telemetry: TelemetryCatalog, resolution: Resolution, method: str) -> bool:
    found = gke_event(telemetry, method)
    if found is None:
        return False
    (provider, key), defined = found
    resolution.add(provider, key)
    if not defined:
        resolution.notes.append(f"{key} is not an operation of the kubernetes client's API group {provider}.")
    return True


def _kubernetes(
    source: ActionSource, telemetry: TelemetryCatalog, values: Values, resolution: Resolution
) -> None:
    verbs = [v.lower() for k, v in _values(values, K8S_VERBS) if k == Kind.EQ]
    resources = [v.lower() for k, v in _values(values, K8S_RESOURCES) if k == Kind.EQ]
    subresources = [v.lower() for k, v in _values(values, K8S_SUBRESOURCES) if k == Kind.EQ]
    groups = [v or "core" for k, v in _values(values, K8S_GROUPS) if k == Kind.EQ]
    if not verbs and not resources:
        return
    resolution.named_action = True
    if not verbs or not resources:
        missing = "verb" if not verbs else "objectRef.resource"
        resolution.notes.append(
            f"The rule names no {missing}, so its events are every {' or '.join(verbs or resources)} request."
        )
    everywhere = _by_event(telemetry, "kubernetes", str.lower)
    known_verbs = {k.split(" ", 1)[0] for k in everywhere}
    for verb in verbs or sorted(known_verbs):
        for resource in resources or []:
            for sub in subresources or [""]:
                key = f"{verb} {resource}/{sub}" if sub else f"{verb} {resource}"
                found = everywhere.get(key, [])
                if groups:
                    found = [f for f in found if f[0] == f"kubernetes {groups[0]}"] or found
                core = [f for f in found if f[0] == "kubernetes core"]
                for provider, event in (core or found)[:3]:
                    resolution.add(provider, event)
                if not found:
                    group = groups[0] if groups else "core"
                    resolution.add(f"kubernetes {group}", key)
                    resolution.notes.append(f"{key} is not an operation of the kubernetes client's API.")


# The action field of each log, as every vendor's rules spell it (lower-cased): Sigma and the log's own names
# first, then Elastic's ECS (`event.action`, the integration's `<dataset>.<field>`), Splunk's add-on fields,
# Sentinel's table columns, Google SecOps UDM (`metadata.product_event_type` keeps the log's own action) and
# Panther's log-type fields. A vendor whose rule text holds its log source only (Splunk's data source names)
# joins through `LOGSOURCE_ACTIONS` below.
UDM_ACTION = "metadata.product_event_type"
AWS_NAMES = ("eventname", "event.action", "aws.cloudtrail.event_name", UDM_ACTION)
AWS_SOURCES = ("eventsource", "event.provider", "aws.cloudtrail.event_source")
GCP_METHODS = (
    "gcp.audit.method_name",
    "methodname",
    "protopayload.methodname",
    "data.protopayload.methodname",
    "payloadmethodname",  # Sentinel's GCP_IAM table
    "event.action",
    UDM_ACTION,
)
GCP_SERVICES = ("protopayload.servicename", "servicename", "gcp.audit.service_name", "service.name")
K8S_VERBS = ("verb", "kubernetes.audit.verb", "azure.platformlogs.properties.log.verb")
K8S_RESOURCES = (
    "objectref.resource",
    "kubernetes.audit.objectref.resource",
    "azure.platformlogs.properties.log.objectref.resource",
)
K8S_SUBRESOURCES = (
    "objectref.subresource",
    "kubernetes.audit.objectref.subresource",
    "azure.platformlogs.properties.log.objectref.subresource",
)
K8S_GROUPS = ("objectref.apigroup", "apigroup", "kubernetes.audit.objectref.apigroup")
# Sentinel's custom-log tables suffix their columns with the type (Okta_CL eventType_s)
OKTA_TYPES = ("eventtype", "legacyeventtype", "okta.event_type", "eventtype_s", "event.action", UDM_ACTION)
GITHUB_ACTIONS = ("action", "event.action", "github.action", "action_s", UDM_ACTION)
AZURE_OPERATIONS = (
    "operationname",
    "operationnamevalue",  # Sentinel's AzureActivity: the resource provider operation
    "azure.activitylogs.operation_name",
    "event.action",
    UDM_ACTION,
)
ENTRA_ACTIVITIES = (
    "properties.message",
    "operationname",
    "activitydisplayname",
    "azure.auditlogs.operation_name",
    "event.action",
    UDM_ACTION,
)
M365_OPERATIONS = ("eventname", "operation", "o365.audit.operation", "event.action", UDM_ACTION)
WORKSPACE_EVENTS = ("eventname", "event.name", "name", "event.action", UDM_ACTION)

ACTION_SOURCES: dict[tuple[str, str], ActionSource] = {
    ("aws", ""): ActionSource("", AWS_NAMES, "eventName", _aws),
    ("gcp", "gcp.audit"): ActionSource("", GCP_METHODS, "methodName", _gcp),
    ("gcp", "google_workspace.admin"): ActionSource("Google Workspace admin", WORKSPACE_EVENTS, "eventName"),
    ("gcp", "google_workspace.login"): ActionSource("Google Workspace login", WORKSPACE_EVENTS, "eventName"),
    # the other vendors name Google Workspace a product of its own
    ("google_workspace", ""): ActionSource("Google Workspace admin", WORKSPACE_EVENTS, "eventName"),
    ("google_workspace", "google_workspace.login"): ActionSource(
        "Google Workspace login", WORKSPACE_EVENTS, "eventName"
    ),
    ("kubernetes", ""): ActionSource("", (*K8S_VERBS, *K8S_RESOURCES), "verb", _kubernetes),
    ("linux", "auditd"): ActionSource("auditd", ("type", "auditd.data.type"), "record type", fold=str.upper),
    ("okta", ""): ActionSource("Okta System Log", OKTA_TYPES, "eventType"),
    ("github", ""): ActionSource("GitHub audit log", GITHUB_ACTIONS, "action"),
    ("azure", "activitylogs"): ActionSource(
        "Azure Activity Log", AZURE_OPERATIONS, "operationName", fold=str.upper
    ),
    ("azure", "auditlogs"): ActionSource("Entra ID audit logs", ENTRA_ACTIVITIES, "activity"),
    ("azure", "signinlogs"): ActionSource("Entra ID sign-in logs", (), "sign-in", fixed_key="sign-in"),
    ("azure", "riskdetection"): ActionSource("Entra ID risk detections", ("riskeventtype",), "riskEventType"),
    ("azure", "pim"): ActionSource("Entra ID risk detections", ("riskeventtype",), "riskEventType"),
    ("m365", ""): ActionSource("Microsoft 365 audit", M365_OPERATIONS, "operation"),
    ("intune", "auditlogs"): ActionSource("Intune audit logs", ("operationname",), "operationName"),
    ("intune", "operationallogs"): ActionSource(
        "Intune operational logs", ("operationname",), "operationName"
    ),
    ("power_platform", "dataverse"): ActionSource("Dataverse activity", ("message",), "message"),
    (email.PRODUCT, ""): ActionSource(email.PROVIDER, (), email.ACTION, email.resolve_email),
}


# Logs of a product that are not its action log: AWS's GuardDuty findings, flow and access logs are no
# CloudTrail records, so CloudTrail's eventName table does not apply to them.
OTHER_LOGS = frozenset(
    ("aws", service) for service in ("guardduty", "vpcflowlogs", "s3", "alb", "securityhub", "route53")
)


def action_source(product: str, service: str) -> ActionSource | None:
    if (product, service) in OTHER_LOGS:
        return None
    return ACTION_SOURCES.get((product, service)) or ACTION_SOURCES.get((product, ""))


# Log source keys whose value names the action after a log's name: Splunk's data source names say the
# event ("AWS CloudTrail ConsoleLogin", "O365 Consent to application.", "Azure Active Directory Add member to
# role").
# (logsource key, lower-cased prefix, the action field the rest is a value of); the first prefix that matches
# wins, so longer ones come first. What follows a prefix and names a whole log, not one action, is in
# `LOG_NAMES`.
LOGSOURCE_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("splunk.data_source", "asl aws cloudtrail ", "eventname"),
    ("splunk.data_source", "aws cloudtrail ", "eventname"),
    ("splunk.data_source", "azure active directory ", "operationname"),
    ("splunk.data_source", "office 365 ", "operation"),
    ("splunk.data_source", "o365 ", "operation"),
    ("splunk.data_source", "google workspace ", "eventname"),
    ("splunk.data_source", "okta ", "eventtype"),
)
LOG_NAMES = frozenset(
    {
        "universal audit log",
        "sign-in activity",
        "noninteractiveusersigninlogs",
        "microsoftgraphactivitylogs",
        "reporting service",
    }
)


# A regular expression that is a literal name (YARA-L `= /UpdateFunctionCode/ nocase`, `/^ConsoleLogin$/`):
# no metacharacter but the anchors and a leading case-insensitive flag.
_LITERAL_REGEX = re.compile(r"^(?:\(\?i\))?(\^?)([A-Za-z0-9_.:/ -]+?)(\$?)$")


def _literal(start: str, literal: str, end: str) -> tuple[Kind, str]:
    if start and end:
        return Kind.EQ, literal
    if start:
        return Kind.STARTS_WITH, literal
    return (Kind.ENDS_WITH, literal) if end else (Kind.CONTAINS, literal)


def _literal_regexes(values: Values) -> Values:
    """`values` with every literal regular expression as the equality (anchored both ends) or contains
    predicate it is, so that it names events as those do."""
    out: Values = {}
    for name, items in values.items():
        kept: list[tuple[Kind, str]] = []
        for kind, value in items:
            if kind != Kind.REGEX:
                kept.append((kind, value))
                continue
            flag = "(?i)" if value.startswith("(?i)") else ""
            # an alternation of literals (`TorIPCaller|TorRelay`) is one literal each
            matches = [_LITERAL_REGEX.match(flag + part) for part in value.removeprefix(flag).split("|")]
            if not all(matches):
                kept.append((kind, value))
                continue
            for match in matches:
                assert match is not None
                kept.append(_literal(*match.groups()))
        out[name] = kept
    return out


def logsource_values(logsource: dict[str, str]) -> Values:
    """The action values a rule's log source names (`LOGSOURCE_ACTIONS`), as positive equalities."""
    out: Values = {}
    for key, prefix, action_field in LOGSOURCE_ACTIONS:
        if key not in logsource:
            continue
        for name in logsource.get(key, "").split(", "):
            for part in name.split(" AND "):
                if not part.lower().startswith(prefix):
                    continue
                action = part[len(prefix) :].strip()
                listed = out.setdefault(action_field, [])
                if action and action.lower() not in LOG_NAMES and (Kind.EQ, action) not in listed:
                    listed.append((Kind.EQ, action))
    return {k: v for k, v in out.items() if v}


def resolve_actions(
    telemetry: TelemetryCatalog,
    product: str,
    service: str,
    values: Values,
    logsource: dict[str, str] | None = None,
) -> Resolution | None:
    """The platform events of a rule with this log source and these positive predicates; None when the
    log source has no action table. `logsource`: the rule's whole log source, whose native keys may name
    the action too (`LOGSOURCE_ACTIONS`)."""
    source = action_source(product, service)
    if source is None:
        return None
    values = _literal_regexes(values)
    named = logsource_values(logsource) if logsource else {}
    if named and not _values(values, source.fields):
        values = {**values, **named}
    resolution = Resolution()
    (source.resolve or _generic)(source, telemetry, values, resolution)
    if resolution.named_action and not resolution.events and not resolution.notes:
        tests = ", ".join(f"{k} {v!r}" for k, v in _values(values, source.fields))
        resolution.notes.append(f"The rule's {source.action} test ({tests}) names no event.")
    if not resolution.named_action:
        resolution.notes.append(f"The rule tests no {source.action}, so no single event can be named.")
    return resolution


# Log source keys that name a native table whose platform is not the Sigma product the reader derived: a
# Sentinel query on Defender XDR's DeviceProcessEvents gets product windows and category process_creation
# (for its field names), but its events are the table's rows, not Sysmon's or the Security log's.
NATIVE_TABLE_KEYS = ("kusto.table",)


def resolve_native(
    telemetry: TelemetryCatalog, logsource: dict[str, str], values: Values
) -> Resolution | None:
    """The events of a rule whose log source names a Defender XDR table; None for any other rule."""
    tables = [t.strip() for key in NATIVE_TABLE_KEYS for t in logsource.get(key, "").split(",") if t.strip()]
    found = defender_xdr.resolve_tables(telemetry, tables, values) if tables else None
    if found is None:
        return None
    resolution = Resolution(named_action=True, replaces=defender_xdr.provider_name(tables[0]) in found[2])
    for provider, key in found[0]:
        resolution.add(provider, key)
    resolution.notes.extend(found[1])
    return resolution
