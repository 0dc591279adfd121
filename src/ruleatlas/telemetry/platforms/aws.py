"""AWS: every operation of botocore's service models, as the CloudTrail events it logs.

CloudTrail records an API call with `eventSource` `<service>.amazonaws.com` and `eventName` the operation's
name, its request parameters under `requestParameters`. So each service model
(`botocore/data/<service>/<newest api version>/service-2.json[.gz]`) is one provider named by its event
source, each operation one event with its input shape's members as fields. The event source's first part is
the model's signing name, which is the endpoint prefix for most services; where they differ (`ses` vs
`email`, `ecr` vs `api.ecr`) the endpoint spelling is kept as an alias. Services that share a signing name
share one provider.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

from ruleatlas import fastjson
from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import DEFINED, PLATFORM_KIND, EventDef, FieldDef, PlatformDef, ProviderDef
from ruleatlas.telemetry.platforms.packages import package_dir, package_label, summary

KEY = "aws"
DISTRIBUTION = "botocore"
_MARKUP = re.compile(r"<[^>]*>?|>")


def model_files(data_dir: Path) -> list[Path]:
    """The newest API version's service model of every service under botocore's data folder."""
    found: list[Path] = []
    for service in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        versions = sorted(v for v in service.iterdir() if v.is_dir())
        for version in reversed(versions):
            model = next(
                (m for m in (version / "service-2.json.gz", version / "service-2.json") if m.is_file()), None
            )
            if model is not None:
                found.append(model)
                break
    return found


def read_model(path: Path) -> dict[str, Any]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    data = fastjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _plain(doc: object) -> str:
    """botocore documentation is HTML; pages want its first sentence as text."""
    if not isinstance(doc, str):
        return ""
    # a tag (or a stray `>`) is a space; a tag left open drops the rest
    return summary(_MARKUP.sub(lambda m: " " if m.group().endswith(">") else "", doc))


def event_source(model: dict[str, Any]) -> str:
    """CloudTrail's eventSource: the service's signing name (`ses`, `ecr`), which is its endpoint prefix
    for most services but not all (`email` and `api.ecr` are endpoints)."""
    metadata = model["metadata"]
    return f"{metadata.get('signingName') or metadata['endpointPrefix']}.amazonaws.com"


def endpoint_source(model: dict[str, Any]) -> str:
    return f"{model['metadata']['endpointPrefix']}.amazonaws.com"


def _fields(model: dict[str, Any], operation: dict[str, Any]) -> list[FieldDef]:
    shapes = model.get("shapes", {})
    shape_name = (operation.get("input") or {}).get("shape")
    members = shapes.get(shape_name, {}).get("members", {}) if shape_name else {}
    out = []
    for name, member in members.items():
        location = member.get("location", "")
        if location in ("header", "headers"):  # sent as HTTP headers: CloudTrail does not log them
            continue
        kind = shapes.get(member.get("shape", ""), {}).get("type", "")
        # member documentation would triple the catalog; the operation's description stays
        out.append(FieldDef(f"requestParameters.{name}", kind))
    return out


def load_aws(problems: list[Problem]) -> tuple[PlatformDef, list[ProviderDef]]:
    """The AWS platform from the installed botocore; no providers (and a note) when it is not installed."""
    platform = PlatformDef(
        key=KEY,
        label="AWS",
        status=DEFINED,
        source=package_label(DISTRIBUTION),
        action="CloudTrail eventName under eventSource <signingName or endpointPrefix>.amazonaws.com",
        description="Every API operation of botocore's service models, as CloudTrail logs it; "
        "its fields are the operation's request parameters.",
    )
    root = package_dir(DISTRIBUTION)
    if root is None or not (root / "data").is_dir():
        platform.note = "botocore is not installed: no AWS operations are defined."
        return platform, []
    providers: dict[str, ProviderDef] = {}
    for path in model_files(root / "data"):
        try:
            model = read_model(path)
            source = event_source(model)
            endpoint = endpoint_source(model)
            title = str(model["metadata"].get("serviceFullName") or model["metadata"]["endpointPrefix"])
            operations = model.get("operations", {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(Problem(str(path), f"botocore service model not read: {exc}", severity="warning"))
            continue
        provider = providers.get(source)
        if provider is None:
            prefix = source.removesuffix(".amazonaws.com")
            provider = providers[source] = ProviderDef(
                name=source,
                label=f"AWS · {prefix}",
                kind=PLATFORM_KIND,
                platform=KEY,
                description=f"{title}: CloudTrail events with eventSource {source}.",
                sources=(platform.source,),
            )
        if endpoint != source and endpoint not in provider.aliases:
            provider.aliases = (*provider.aliases, endpoint)
        for name, operation in operations.items():
            if name in provider.events:
                continue
            provider.events[name] = EventDef(
                event_id=name,
                title=f"{name} ({title})",
                description=_plain(operation.get("documentation")),
                fields=_fields(model, operation),
                named=True,
            )
    # console sign-in events are CloudTrail's own, no API operation: a provider for them, events as seen
    signin = "signin.amazonaws.com"
    providers.setdefault(
        signin,
        ProviderDef(
            name=signin,
            label="AWS · signin",
            kind=PLATFORM_KIND,
            platform=KEY,
            description="AWS console sign-in events (ConsoleLogin, SwitchRole...): CloudTrail non-API "
            "events, listed as rules and samples name them.",
            sources=("seen in rules and samples",),
        ),
    )
    return platform, list(providers.values())
