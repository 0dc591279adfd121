"""A Sentinel rule's Sigma-style log source, derived from the tables it reads.

The tables are the rule's declared `requiredDataConnectors[].dataTypes`. Each known table gives a product and
service (SigninLogs → azure/signinlogs, AWSCloudTrail → aws/cloudtrail); Defender XDR's `Device*Events` tables
give a category, the reverse of pySigma-backend-kusto's `CATEGORY_TO_TABLE_MAPPINGS` (microsoftxdr); Windows
event tables (SecurityEvent, WindowsEvent, Event) take the category of the EventID the query filters on, when
it filters on exactly one, and the Sysmon channel when the query names it. Custom `_CL` tables have no Sigma
equivalent and keep only `kusto.table`.
"""

from __future__ import annotations

import re

from ruleatlas.sources.windows import SECURITY, SYSMON

# Table → (product, service, category).
TABLES: dict[str, tuple[str, str, str]] = {
    "SecurityEvent": ("windows", "security", ""),
    "SecurityEvents": ("windows", "security", ""),
    "WindowsEvent": ("windows", "", ""),
    "Event": ("windows", "", ""),
    "DeviceProcessEvents": ("windows", "", "process_creation"),
    "DeviceNetworkEvents": ("windows", "", "network_connection"),
    "DeviceFileEvents": ("windows", "", "file_event"),
    "DeviceRegistryEvents": ("windows", "", "registry_event"),
    "DeviceImageLoadEvents": ("windows", "", "image_load"),
    "DeviceEvents": ("windows", "", ""),
    "SigninLogs": ("azure", "signinlogs", ""),
    "AADNonInteractiveUserSignInLogs": ("azure", "signinlogs", ""),
    "AuditLogs": ("azure", "auditlogs", ""),
    "AzureActivity": ("azure", "activitylogs", ""),
    "OfficeActivity": ("m365", "audit", ""),
    "AWSCloudTrail": ("aws", "cloudtrail", ""),
    "Syslog": ("linux", "syslog", ""),
    "DnsEvents": ("windows", "dns-server", "dns_query"),
    "W3CIISLog": ("windows", "iis", "webserver"),
    "GCP_IAM": ("gcp", "gcp.audit", ""),
    "GCPAuditLogs": ("gcp", "gcp.audit", ""),
    "AADServicePrincipalSignInLogs": ("azure", "signinlogs", ""),
    "AADManagedIdentitySignInLogs": ("azure", "signinlogs", ""),
    "AADUserRiskEvents": ("azure", "riskdetection", ""),
    "OktaSSO": ("okta", "okta", ""),
    "Okta_CL": ("okta", "okta", ""),
    "OktaV2_CL": ("okta", "okta", ""),
    "GitHubAudit": ("github", "audit", ""),
    "GitHubAuditLogPolling_CL": ("github", "audit", ""),
    "GWorkspaceActivityReports": ("google_workspace", "", ""),
    "IntuneAuditLogs": ("intune", "auditlogs", ""),
    "IntuneOperationalLogs": ("intune", "operationallogs", ""),
    "Dynamics365Activity": ("power_platform", "dataverse", ""),
}
_EVENT_ID = re.compile(r"\bEventID\s*==\s*(\d+)\b")
_EVENT_IDS_IN = re.compile(r"\bEventID\s+in\s*\(([^)]{0,500})\)")  # bounded: linear on hostile text
_SYSMON = re.compile(r"Microsoft-Windows-Sysmon", re.IGNORECASE)


def derive(tables: tuple[str, ...], query: str) -> dict[str, str]:
    out: dict[str, str] = {}
    event_id: int | None = None
    known = [t for t in tables if t in TABLES]
    if known:
        product, service, category = TABLES[known[0]]
        if known[0] in ("SecurityEvent", "SecurityEvents", "WindowsEvent", "Event"):
            sysmon = bool(_SYSMON.search(query)) and known[0] != "SecurityEvent"
            service = "sysmon" if sysmon else service
            ids = _event_ids(query)
            if len(ids) == 1:
                event_id = ids.pop()
                table = SYSMON if sysmon else SECURITY
                category = table.get(event_id, "") if sysmon or service == "security" else ""
                out["kusto.event_id"] = str(event_id)
        out.update(
            {k: v for k, v in (("product", product), ("category", category), ("service", service)) if v}
        )
    if tables:
        out["kusto.table"] = ", ".join(tables)
    return out


def _event_ids(query: str) -> set[int]:
    ids = {int(m.group(1)) for m in _EVENT_ID.finditer(query)}
    for match in _EVENT_IDS_IN.finditer(query):
        ids |= {int(n) for n in re.findall(r"\d+", match.group(1))}
    return ids
