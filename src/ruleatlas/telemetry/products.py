"""Stand-in providers for Sigma log sources that have no event ids: one provider per product, with catch-all
events.

A Windows event has a provider and an EventID; a Linux process_creation event, a CloudTrail record or a proxy
log line has neither. So that every rule can be placed on the telemetry atlas, each such log source becomes a
catch-all event of a provider standing for its product:

- every product of SigmaHQ's tests/logsource.json but windows (linux, macos, aws, azure, zeek, okta, ...): a
  provider named after the product, one event per category and per service it lists (key: the category or
  service name, fields: the ones logsource.json accepts), and `any` for rules naming only the product;
- log sources without a product (logsource.json's "empty": proxy, webserver, firewall, apache, ...): a
  provider per category or service, with the one event `any`;
- `windows`: one catch-all event per Windows service (its channel's every event), and `any`, for the Windows
  rules whose events cannot be named (a keyword search on a channel, or more candidate events than a page
  should list); the rule's note says why.
"""

from __future__ import annotations

from ruleatlas.telemetry.catalog import (
    LOGSOURCE_KIND,
    EventDef,
    FieldDef,
    ProviderDef,
    TelemetryCatalog,
)

ANY_EVENT = "any"
WINDOWS_PRODUCT = "windows"
LOGSOURCE_JSON = "SigmaHQ tests/logsource.json"

# How pages name products (the Sigma taxonomy's names are lower case identifiers).
PRODUCT_LABELS = {
    "windows": "Windows",
    "linux": "Linux",
    "macos": "macOS",
    "aws": "AWS",
    "azure": "Azure",
    "gcp": "Google Cloud",
    "m365": "Microsoft 365",
    "github": "GitHub",
    "bitbucket": "Bitbucket",
    "okta": "Okta",
    "onelogin": "OneLogin",
    "cisco": "Cisco",
    "fortigate": "FortiGate",
    "fortios": "FortiOS",
    "paloalto": "Palo Alto Networks",
    "kubernetes": "Kubernetes",
    "django": "Django",
    "python": "Python",
    "ruby_on_rails": "Ruby on Rails",
    "spring": "Spring",
    "sql": "SQL",
    "jvm": "JVM",
    "nodejs": "Node.js",
    "velocity": "Velocity",
    "opencanary": "OpenCanary",
    "qualys": "Qualys",
    "rpc_firewall": "RPC Firewall",
    "modsecurity": "ModSecurity",
    "huawei": "Huawei",
    "juniper": "Juniper",
    "zeek": "Zeek",
    "proxy": "Proxy",
    "webserver": "Web server",
    "firewall": "Firewall",
    "antivirus": "Antivirus",
    "database": "Database",
    "dns": "DNS",
    "apache": "Apache",
    "nginx": "nginx",
    "netflow": "NetFlow",
}


def product_label(name: str) -> str:
    return PRODUCT_LABELS.get(name, name.replace("_", " ").capitalize() if name else "Unknown")


def _catch_all(key: str, title: str, description: str, fields: list[str], channel: str = "") -> EventDef:
    return EventDef(
        event_id=key,
        title=title,
        description=description,
        channel=channel,
        fields=[FieldDef(f) for f in dict.fromkeys(fields)],
    )


def _provider(catalog: TelemetryCatalog, name: str, description: str) -> ProviderDef:
    """A new log source provider; named "<name> (log source)" if a Windows provider already has the name."""
    if catalog.provider(name) is not None:
        name = f"{name} (log source)"
    provider = ProviderDef(
        name=name,
        label=product_label(name.removesuffix(" (log source)")),
        kind=LOGSOURCE_KIND,
        description=description,
        sources=(LOGSOURCE_JSON,),
    )
    catalog.providers[name] = provider
    return provider


def _fields_note(fields: list[str]) -> str:
    return (
        " Its fields are the ones SigmaHQ's tests/logsource.json accepts for it."
        if fields
        else " SigmaHQ's tests/logsource.json lists no fields for it."
    )


def add_logsource_providers(catalog: TelemetryCatalog) -> None:
    """Add the catch-all providers for the products of the log source table (from tests/logsource.json) and
    for Windows services. Without a SigmaHQ checkout only `windows` is added (from pySigma's services)."""
    table = catalog.logsources
    for product, kinds in sorted(table.products.items()):
        categories = kinds.get("category", {})
        services = kinds.get("service", {})
        if not product:  # no product: each category or service is a product of its own
            for kind, names in (("category", categories), ("service", services)):
                for name, fields in sorted(names.items()):
                    provider = _provider(
                        catalog,
                        name,
                        f"Sigma log source {kind} {name}, without a product: "
                        f"the {product_label(name)} logs of any vendor.",
                    )
                    provider.events[ANY_EVENT] = _catch_all(
                        ANY_EVENT,
                        f"Any {product_label(name)} event",
                        f"Every event of log source {kind} {name}." + _fields_note(fields),
                        fields,
                    )
            continue
        label = product_label(product)
        provider = _provider(
            catalog,
            product,
            f"Sigma log source product {product}: events without event ids, one catch-all per category "
            "and service.",
        )
        for kind, names in (("category", categories), ("service", services)):
            for name, fields in sorted(names.items()):
                key = name if name not in provider.events else f"{kind}-{name}"
                provider.events[key] = _catch_all(
                    key,
                    f"{label} {name}",
                    f"Every event of log source product {product}, {kind} {name}." + _fields_note(fields),
                    fields,
                )
        provider.events[ANY_EVENT] = _catch_all(
            ANY_EVENT,
            f"Any {label} event",
            f"Every event of product {product}, for rules that name no category or service.",
            [],
        )
    _add_windows(catalog)
    catalog.reindex()


def _add_windows(catalog: TelemetryCatalog) -> None:
    table = catalog.logsources
    provider = _provider(
        catalog,
        WINDOWS_PRODUCT,
        "Catch-all events for Windows rules whose events cannot be named: a keyword search on a channel, "
        "or a rule that more events match than a page should list. Each rule's event note says why.",
    )
    for service, channels in sorted(table.services.items()):
        fields = table.service_fields.get(service, [])
        provider.events[service] = _catch_all(
            service,
            f"Any event on {', '.join(channels)}",
            f"Every event of Sigma service {service} (channel {', '.join(channels)})." + _fields_note(fields),
            fields,
            channel=channels[0] if len(channels) == 1 else "",
        )
    provider.events[ANY_EVENT] = _catch_all(
        ANY_EVENT,
        "Any Windows event",
        "Every event of every Windows channel, for rules that name no category, service or channel.",
        [],
    )
