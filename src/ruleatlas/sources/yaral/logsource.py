"""A YARA-L rule's Sigma-style log source.

SOC Prime's conversions (the deprecated rules) carry the Sigma log source they came from in `meta`
(`product`, `service`, `category`): used as written. Community rules name their data through UDM: the category
comes from `metadata.event_type` (when the rule tests exactly one), the product and service from
`metadata.log_type` / `metadata.product_name` comparisons, or from the `platform` meta (and the
`data_source` meta for a rule of no event type: it does not narrow what a rule of one event type reads). The
event-type table follows the UDM event-type enum's meaning (Google SecOps UDM reference) onto Sigma's category
names; native values are kept under `yaral.*`.
"""

from __future__ import annotations

import re

from ruleatlas.model import CATEGORY_SCOPE

# UDM metadata.event_type → Sigma category.
EVENT_TYPES: dict[str, str] = {
    "PROCESS_LAUNCH": "process_creation",
    "PROCESS_TERMINATION": "process_termination",
    "PROCESS_OPEN": "process_access",
    "PROCESS_INJECTION": "create_remote_thread",
    "PROCESS_MODULE_LOAD": "image_load",
    "FILE_CREATION": "file_event",
    "FILE_DELETION": "file_delete",
    "FILE_MODIFICATION": "file_change",
    "FILE_READ": "file_access",
    "FILE_OPEN": "file_access",
    "FILE_RENAME": "file_rename",
    "REGISTRY_CREATION": "registry_add",
    "REGISTRY_MODIFICATION": "registry_set",
    "REGISTRY_DELETION": "registry_delete",
    "NETWORK_CONNECTION": "network_connection",
    "NETWORK_DNS": "dns_query",
    "NETWORK_HTTP": "proxy",
    "SERVICE_CREATION": "service_creation",
}
# UDM log type or product name → (product, service).
PRODUCTS: dict[str, tuple[str, str]] = {
    "GCP_CLOUDAUDIT": ("gcp", "gcp.audit"),
    "AWS_CLOUDTRAIL": ("aws", "cloudtrail"),
    "AWSCLOUDTRAIL": ("aws", "cloudtrail"),
    "AWS CLOUDTRAIL": ("aws", "cloudtrail"),
    "AWSGUARDDUTY": ("aws", "guardduty"),
    "AWS GUARDDUTY": ("aws", "guardduty"),
    "OFFICE_365": ("m365", "audit"),
    "OFFICE365": ("m365", "audit"),
    "OKTA": ("okta", "okta"),
    "GITHUB": ("github", "audit"),
    "AZUREADDIRECTORYAUDIT": ("azure", "auditlogs"),
    "AZURE_AD_AUDIT": ("azure", "auditlogs"),
    "AZUREAD": ("azure", "signinlogs"),
    "AZURE_AD": ("azure", "signinlogs"),
    "WINDOWS_SYSMON": ("windows", "sysmon"),
    "WINEVTLOG": ("windows", ""),
    "WORKSPACE_ACTIVITY": ("google_workspace", "google_workspace.admin"),
    "ONELOGIN_SSO": ("onelogin", ""),
}
# Sigma category → the UDM event types read as it.
_READ_AS: dict[str, list[str]] = {}
for _type, _category in EVENT_TYPES.items():
    _READ_AS.setdefault(_category, []).append(_type)
PLATFORMS = {"windows": "windows", "aws": "aws", "azure": "azure", "gcp": "gcp", "github": "github"}
_COMPARE = re.compile(r"\.metadata\.(event_type|log_type|product_name)\s*=\s*\"([^\"]+)\"")


def derive(meta: dict[str, str], events: str) -> dict[str, str]:
    if meta.get("product") or meta.get("category") or meta.get("service"):
        return {k: meta[k] for k in ("product", "category", "service") if meta.get(k)}
    found: dict[str, list[str]] = {"event_type": [], "log_type": [], "product_name": []}
    for match in _COMPARE.finditer(events):
        values = found[match.group(1)]
        if match.group(2) not in values:
            values.append(match.group(2))
    out: dict[str, str] = {}
    product, service = "", ""
    for value in found["log_type"] + found["product_name"]:
        product, service = PRODUCTS.get(value.upper(), ("", ""))
        if product:
            break
    platform = meta.get("platform", "").strip().lower()
    product = product or PLATFORMS.get(platform, "")
    categories = {EVENT_TYPES.get(t, "") for t in found["event_type"]}
    category = categories.pop() if len(categories) == 1 else ""
    if not service and not category and "sysmon" in meta.get("data_source", "").lower():
        # Meta says what the author tested with, not what the rule reads: a rule of an event type reads every
        # log parsed to it (a PROCESS_LAUNCH from Security 4688 as from Sysmon 1), so only a rule with no
        # category is placed in Sysmon's log by it.
        service = "sysmon"
    if category and len(found["event_type"]) == 1 and _READ_AS[category] == [found["event_type"][0]]:
        # one event type, the only one read as this category: the category says exactly what it does
        out[CATEGORY_SCOPE] = f"metadata.event_type={found['event_type'][0]}"
    out.update({k: v for k, v in (("product", product), ("category", category), ("service", service)) if v})
    for key, values in found.items():
        if values:
            out[f"yaral.{key}"] = ", ".join(values)
    for key in ("platform", "data_source"):
        if meta.get(key):
            out[f"yaral.{key}"] = meta[key]
    return out
