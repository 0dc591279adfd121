"""Kubernetes: the API groups, resources and verbs of the `kubernetes` client, as audit log events.

A Kubernetes audit event names its request by `verb` and `objectRef.resource` (plus `objectRef.subresource`,
`objectRef.apiGroup`). The client's generated API modules (`kubernetes/client/api/*_api.py`) hold one call per
REST operation with its HTTP method and path; the path gives the group, the resource and the subresource,
and method plus path give the audit verb (GET on a collection is `list`, on one object `get`, under
`/watch/` `watch`; DELETE on a collection `deletecollection`). Each API group is one provider (`core` for
the legacy `/api/v1`), each (verb, resource[/subresource]) one event, whatever the group's versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import DEFINED, PLATFORM_KIND, EventDef, FieldDef, PlatformDef, ProviderDef
from ruleatlas.telemetry.platforms.packages import package_dir, package_label

KEY = "kubernetes"
DISTRIBUTION = "kubernetes"
CORE_GROUP = "core"
_CALL = re.compile(r"method='([A-Z]+)',\s*resource_path='(/apis?/[^']*)'")
_WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
FIELDS = (
    (
        "verb",
        "string",
        "The request's verb (get, list, watch, create, update, patch, delete, deletecollection).",
    ),
    ("objectRef.resource", "string", "The resource the request is about."),
    ("objectRef.subresource", "string", "The subresource (exec, log, status...), if any."),
    ("objectRef.apiGroup", "string", "The resource's API group (empty for the core group)."),
    ("objectRef.namespace", "string", "The object's namespace."),
    ("objectRef.name", "string", "The object's name."),
    ("user.username", "string", "Who made the request."),
    ("sourceIPs", "array", "Where the request came from."),
    ("userAgent", "string", "The client's user agent."),
    ("responseStatus.code", "integer", "The HTTP status of the answer."),
)


@dataclass(slots=True, frozen=True)
class Operation:
    group: str
    resource: str  # "pods" or "pods/exec"
    verb: str

    @property
    def key(self) -> str:
        return f"{self.verb} {self.resource}"


def operation(method: str, path: str) -> Operation | None:
    """`("POST", "/api/v1/namespaces/{namespace}/pods/{name}/exec")` -> core, pods/exec, create."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = CORE_GROUP, parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    watch = rest[:1] == ["watch"]
    if watch:
        rest = rest[1:]
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[1] == "{namespace}":
        rest = rest[2:]
    if not rest or rest[0].startswith("{"):
        return None  # the group's discovery document, not a resource
    resource, named = rest[0], len(rest) >= 2 and rest[1].startswith("{")
    subresource = rest[2] if named and len(rest) >= 3 else ""
    if watch:
        verb = "watch"
    elif method in ("GET", "HEAD"):  # the API server's request info reads HEAD as GET
        verb = "get" if named else "list"
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:  # OPTIONS (proxy subresources) keeps its own name
        verb = _WRITE_VERBS.get(method, method.lower())
    return Operation(group, f"{resource}/{subresource}" if subresource else resource, verb)


def operations(api_dir: Path) -> set[Operation]:
    found: set[Operation] = set()
    for path in sorted(api_dir.glob("*_api.py")):
        for method, resource_path in _CALL.findall(path.read_text(encoding="utf-8", errors="replace")):
            op = operation(method, resource_path)
            if op is not None:
                found.add(op)
    return found


def load_kubernetes(problems: list[Problem]) -> tuple[PlatformDef, list[ProviderDef]]:
    platform = PlatformDef(
        key=KEY,
        label="Kubernetes",
        status=DEFINED,
        source=package_label(DISTRIBUTION),
        action="audit log verb × objectRef.resource[/objectRef.subresource]",
        description="Every REST operation of the kubernetes client's API modules, as the audit log's "
        "verb on a resource, by API group.",
    )
    root = package_dir(DISTRIBUTION)
    api_dir = root / "client" / "api" if root is not None else None
    if api_dir is None or not api_dir.is_dir():
        platform.note = "the kubernetes client is not installed: no Kubernetes operations are defined."
        return platform, []
    try:
        ops = operations(api_dir)
    except OSError as exc:
        problems.append(
            Problem(str(api_dir), f"kubernetes client API modules not read: {exc}", severity="warning")
        )
        return platform, []
    providers: dict[str, ProviderDef] = {}
    fields = [FieldDef(*f) for f in FIELDS]
    for op in sorted(ops, key=lambda o: (o.group, o.resource, o.verb)):
        provider = providers.get(op.group)
        if provider is None:
            provider = providers[op.group] = ProviderDef(
                name=f"kubernetes {op.group}",
                label=f"Kubernetes · {op.group}",
                kind=PLATFORM_KIND,
                platform=KEY,
                description=f"Audit log events of API group {op.group}"
                + (" (the legacy /api/v1)." if op.group == CORE_GROUP else "."),
                sources=(platform.source,),
            )
        provider.events[op.key] = EventDef(
            event_id=op.key,
            title=f"{op.verb} {op.resource}",
            description=f"A {op.verb} request on {op.resource} (API group {op.group}).",
            fields=list(fields),
            named=True,
        )
    return platform, list(providers.values())
