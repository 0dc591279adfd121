"""Google Cloud: the API methods of the discovery documents google-api-python-client ships, as the Cloud
Audit Log events they write.

An audit log entry names its call by `protoPayload.serviceName` (`compute.googleapis.com`) and
`protoPayload.methodName`. Each API is one provider named by its service (from the document's `rootUrl`);
its preferred version's methods (`compute.instances.insert`) are the events, with the method's parameters
as fields. Audit logs spell some method names differently from discovery ids (`v1.compute.instances.insert`,
gRPC names such as `google.iam.admin.v1.CreateServiceAccountKey`): `method_aliases` gives every spelling a
lookup key, so coverage and samples find the event whatever spelling they hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruleatlas import fastjson
from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import DEFINED, PLATFORM_KIND, EventDef, FieldDef, PlatformDef, ProviderDef
from ruleatlas.telemetry.platforms.packages import package_dir, package_label, summary

KEY = "gcp"
DISTRIBUTION = "google-api-python-client"
INDEX = "index.json"  # the discovery directory, not an API
_VERSION_PREFIX = re.compile(r"^(v\d+\w*|alpha|beta|preview)\.", re.IGNORECASE)
_STABLE = re.compile(r"^v(\d+)$")


def _version_rank(version: str) -> tuple[int, int, str]:
    """Stable versions first, newest first (v2 before v1); then the others by name."""
    stable = _STABLE.match(version)
    return (0, -int(stable.group(1)), "") if stable else (1, 0, version)


def _preferred_versions(folder: Path) -> dict[str, str]:
    """api -> version the package's discovery directory (`index.json`) marks preferred; {} without one."""
    try:
        items = fastjson.loads((folder / INDEX).read_bytes()).get("items", [])
        return {i["name"]: i["version"] for i in items if isinstance(i, dict) and i.get("preferred")}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def preferred_documents(folder: Path) -> list[Path]:
    """One discovery document per API: the version the directory marks preferred, else its newest stable
    version, else the first other one by name."""
    preferred = _preferred_versions(folder)
    by_api: dict[str, list[tuple[tuple[int, int, str], Path]]] = {}
    for path in folder.glob("*.json"):
        if path.name == INDEX:
            continue
        api, _, version = path.stem.partition(".")
        rank = (-1, 0, "") if preferred.get(api) == version else _version_rank(version)
        by_api.setdefault(api, []).append((rank, path))
    return [min(choices)[1] for _, choices in sorted(by_api.items())]


def walk_methods(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from walk_methods(child)


def service_name(document: dict[str, Any]) -> str:
    root = str(document.get("rootUrl") or "")
    host = root.split("://", 1)[-1].split("/", 1)[0]
    return host or f"{document['name']}.googleapis.com"


def _short(text: object) -> str:
    if not isinstance(text, str):
        return ""
    return summary(text)


def fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _singular(word: str) -> str:
    for plural, single in (("ies", "y"), ("sses", "ss"), ("ses", "s"), ("s", "")):
        if word.endswith(plural) and len(word) > len(plural) + 1:
            return word[: -len(plural)] + single
    return word


def method_aliases(method_id: str) -> list[str]:
    """Folded spellings an audit log may use for a discovery method id.

    `iam.projects.serviceAccounts.keys.create` -> the id itself, and verb + singular resources for each
    tail of the resource path (`createkey`, `createserviceaccountkey`, ...), the gRPC spelling's last part.
    """
    parts = method_id.split(".")
    aliases = [fold(method_id)]
    if len(parts) >= 3:
        verb, resources = parts[-1], parts[1:-1]
        for start in range(len(resources)):
            aliases.append(fold(verb + "".join(_singular(r) for r in resources[start:])))
    return aliases


def lookup_key(method_name: str) -> list[str]:
    """The folded keys to look an audit log's methodName up by: without a version prefix, then its last
    dotted part (the gRPC method name)."""
    bare = _VERSION_PREFIX.sub("", method_name)
    keys = [fold(bare)]
    last = bare.rsplit(".", 1)[-1]
    if last != bare:
        keys.append(fold(last))
    return keys


def load_gcp(problems: list[Problem]) -> tuple[PlatformDef, list[ProviderDef]]:
    platform = PlatformDef(
        key=KEY,
        label="Google Cloud",
        status=DEFINED,
        source=package_label(DISTRIBUTION),
        action="Cloud Audit Log protoPayload.methodName under protoPayload.serviceName",
        description="Every method of the APIs google-api-python-client's discovery documents describe "
        "(each API's preferred version), as Cloud Audit Logs name it; "
        "its fields are the method's parameters.",
    )
    root = package_dir("googleapiclient")
    folder = root / "discovery_cache" / "documents" if root is not None else None
    if folder is None or not folder.is_dir():
        platform.note = "google-api-python-client is not installed: no Google Cloud methods are defined."
        return platform, []
    providers: dict[str, ProviderDef] = {}
    for path in preferred_documents(folder):
        try:
            document = fastjson.loads(path.read_bytes())
            service = service_name(document)
            title = str(document.get("title") or document["name"])
            methods = list(walk_methods(document))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(Problem(str(path), f"discovery document not read: {exc}", severity="warning"))
            continue
        provider = providers.get(service)
        if provider is None:
            provider = providers[service] = ProviderDef(
                name=service,
                label=f"Google Cloud · {service.removesuffix('.googleapis.com')}",
                kind=PLATFORM_KIND,
                platform=KEY,
                description=f"{title} ({path.stem}): Cloud Audit Log events with serviceName {service}.",
                sources=(platform.source,),
            )
        for method in methods:
            method_id = method.get("id")
            if not isinstance(method_id, str) or method_id in provider.events:
                continue
            provider.events[method_id] = EventDef(
                event_id=method_id,
                title=f"{method_id} ({method.get('httpMethod', '')} {method.get('path', '')})".replace(
                    " )", ")"
                ),
                description=_short(method.get("description")),
                fields=[
                    # parameter descriptions would triple the catalog; the method's description stays
                    FieldDef(f"request.{name}", str(param.get("type", "")))
                    for name, param in (method.get("parameters") or {}).items()
                ],
                named=True,
            )
    return platform, list(providers.values())
