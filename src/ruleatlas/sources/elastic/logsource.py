"""An Elastic rule's Sigma-style log source, derived from its index patterns, tags and query text.

The category comes from ECS `event.category` (the EQL event type before `where`, or an `event.category`
comparison in kuery/ES|QL), read the way Elastic's own Sysmon ingest pipeline assigns it
(elastic/integrations,
`packages/windows/data_stream/sysmon_operational/elasticsearch/ingest_pipeline/default.yml`: Sysmon 1 →
process/start, 3 → network, 7 → library, 11 → file, 12–14 → registry, 22 → network + dns). The product comes
from `host.os.type` or the `OS:` tag; cloud and audit products from the data set (index pattern or
`event.dataset`). Native values are kept under `elastic.*` keys so nothing derived hides what was written
(`elastic.event_code` lists the Windows event ids a query compares `event.code` with).
"""

from __future__ import annotations

import re

# ECS event.category → Sigma category (process needs a start event: see `_category`).
CATEGORIES: dict[str, str] = {
    "process": "process_creation",
    "file": "file_event",
    "registry": "registry_event",
    "network": "network_connection",
    "library": "image_load",
    "dll": "image_load",
    "driver": "driver_load",
    "dns": "dns_query",
}

# Data set (the `logs-<dataset>-*` index part or `event.dataset`) → Sigma product and service; the first
# prefix that matches wins, so longer prefixes come first.
DATASETS: tuple[tuple[str, str, str], ...] = (
    ("aws.cloudtrail", "aws", "cloudtrail"),
    ("azure.activitylogs", "azure", "activitylogs"),
    ("azure.signinlogs", "azure", "signinlogs"),
    ("azure.auditlogs", "azure", "auditlogs"),
    ("azure.graphactivitylogs", "azure", "graphactivitylogs"),
    ("azure.", "azure", ""),
    ("o365.audit", "m365", "audit"),
    ("gcp.audit", "gcp", "gcp.audit"),
    ("google_workspace.", "google_workspace", "google_workspace.admin"),
    ("okta.", "okta", "okta"),
    ("github.audit", "github", "audit"),
    ("kubernetes.audit", "kubernetes", "audit"),
    ("system.security", "windows", "security"),
    ("system.system", "windows", "system"),
    ("windows.sysmon_operational", "windows", "sysmon"),
    ("windows.powershell", "windows", "powershell"),
    ("auditd_manager", "linux", "auditd"),
    ("auditd.", "linux", "auditd"),
)
_OS = {"windows": "windows", "linux": "linux", "macos": "macos"}
_INDEX_DATASET = re.compile(r"^logs-([a-z0-9_]+(?:\.[a-z0-9_]+)?)")
_QUERY_DATASET = re.compile(r"(?:event|data_stream)\.dataset\s*(?::|==)\s*\(?\s*\"?([a-z0-9_]+\.[a-z0-9_]+)")
_QUERY_OS = re.compile(r"host\.os\.type\s*(?::|==)\s*\(?\s*\"?(windows|linux|macos)", re.IGNORECASE)
_EQL_EVENT = re.compile(r"(?:^|\[)[ \t]*([a-z_]+)[ \t]+where\b", re.IGNORECASE | re.MULTILINE)
_QUERY_CATEGORY = re.compile(r"event\.category\s*(?::|==|in~?|:\s*\()\s*\(?\s*\"?([a-z_]+)", re.IGNORECASE)
_EVENT_CODE = re.compile(r"event\.code\s*(?::|==)\s*\"?(\d+)")
# Bounded look-ahead: a hostile query repeating `event.type ==` on one long line stays linear.
_START = re.compile(r"event\.(?:type|action)\s*(?::|==|in~?)\s*\(?[^)\n]{0,200}?\bstart", re.IGNORECASE)


def derive(language: str, query: str, index: tuple[str, ...], tags: tuple[str, ...]) -> dict[str, str]:
    """product/category/service where the rule tells them, plus the native `elastic.*` keys."""
    out: dict[str, str] = {}
    product, service = _from_datasets(index, query)
    os_name = _os(query, tags)
    if os_name and (not product or product == os_name):
        product = os_name
    elif product in _OS and not os_name and len(_tagged_os(tags)) > 1:
        product = ""  # one of several data sets of a rule for several systems (auditd beside Defend)
    categories = _categories(language, query)
    category = _category(categories, query)
    if category == "dns_query" or (category == "network_connection" and "dns.question" in query):
        category = "dns_query"
    if "powershell.file.script_block_text" in query:
        # PowerShell script block logging (event 4104), which Sigma's ps_script category reads; Elastic's
        # integration files these events under event.category process, without a start event
        category = "ps_script"
    if product:
        out["product"] = product
    if category:
        out["category"] = category
    if service:
        out["service"] = service
    if index:
        out["elastic.index"] = ", ".join(index)
    if categories:
        out["elastic.event_category"] = ", ".join(categories)
    codes = tuple(dict.fromkeys(m.group(1) for m in _EVENT_CODE.finditer(query)))
    if codes:  # Windows event ids (`event.code : "4624"`): event coverage reads them with the service
        out["elastic.event_code"] = ", ".join(codes)
    return out


def _from_datasets(index: tuple[str, ...], query: str) -> tuple[str, str]:
    names = [m.group(1) for m in (_INDEX_DATASET.match(i) for i in index) if m]
    names += [m.group(1) for m in _QUERY_DATASET.finditer(query)]
    found = {_dataset(name) for name in names} - {("", "")}
    return found.pop() if len(found) == 1 else ("", "")


def _dataset(name: str) -> tuple[str, str]:
    for prefix, product, service in DATASETS:
        if name.startswith(prefix):
            return product, service
    return "", ""


def _os(query: str, tags: tuple[str, ...]) -> str:
    found = {m.group(1).lower() for m in _QUERY_OS.finditer(query)}
    if not found:
        found = {_OS.get(t.split(":", 1)[1].strip().lower(), "") for t in tags if t.startswith("OS:")} - {""}
    return found.pop() if len(found) == 1 else ""


def _tagged_os(tags: tuple[str, ...]) -> set[str]:
    return {_OS.get(t.split(":", 1)[1].strip().lower(), "") for t in tags if t.startswith("OS:")} - {""}


def _categories(language: str, query: str) -> tuple[str, ...]:
    """The ECS event categories the query selects, in order of first use."""
    found: list[str] = []
    if language == "eql":
        found += [m.group(1).lower() for m in _EQL_EVENT.finditer(query)]
    found += [m.group(1).lower() for m in _QUERY_CATEGORY.finditer(query)]
    return tuple(dict.fromkeys(c for c in found if c not in ("any", "sequence", "sample")))


def _category(categories: tuple[str, ...], query: str) -> str:
    """The Sigma category when every selected ECS category maps to the same one. Process events are only
    process_creation when the query asks for start events or does not narrow the event type at all."""
    mapped = set()
    for ecs in categories:
        sigma = CATEGORIES.get(ecs, "")
        if ecs == "process" and "event.type" in query and not _START.search(query):
            sigma = ""
        mapped.add(sigma)
    return mapped.pop() if len(mapped) == 1 else ""
