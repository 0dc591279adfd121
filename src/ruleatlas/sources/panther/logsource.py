"""A Panther item's Sigma-style log source, derived from its log types (rules) or resource types (policies).

Panther log types are `<Vendor>.<Schema>` names; those with a Sigma counterpart map to its product and service
(AWS.CloudTrail → aws/cloudtrail, Okta.SystemLog → okta/okta). Several log types map only when they agree on
a product. The native names are kept as `panther.log_types` / `panther.resource_types`.
"""

from __future__ import annotations

LOG_TYPES: dict[str, tuple[str, str]] = {
    "AWS.CloudTrail": ("aws", "cloudtrail"),
    "AWS.CloudTrailDigest": ("aws", "cloudtrail"),
    "AWS.GuardDuty": ("aws", "guardduty"),
    "AWS.VPCFlow": ("aws", "vpcflowlogs"),
    "AWS.S3ServerAccess": ("aws", "s3"),
    "AWS.ALB": ("aws", "alb"),
    "Amazon.EKS.Audit": ("aws", "eks"),
    "GCP.AuditLog": ("gcp", "gcp.audit"),
    "Azure.MonitorActivity": ("azure", "activitylogs"),
    "Azure.Audit": ("azure", "auditlogs"),
    "Azure.SignIn": ("azure", "signinlogs"),
    "Microsoft365.Audit.General": ("m365", "audit"),
    "Microsoft365.Audit.AzureActiveDirectory": ("m365", "audit"),
    "Microsoft365.Audit.Exchange": ("m365", "exchange"),
    "Microsoft365.Audit.SharePoint": ("m365", "sharepoint"),
    "Okta.SystemLog": ("okta", "okta"),
    "MicrosoftIntune.AuditLogs": ("intune", "auditlogs"),
    "MicrosoftIntune.OperationalLogs": ("intune", "operationallogs"),
    "GSuite.ActivityEvent": ("google_workspace", "google_workspace.admin"),
    "GSuite.Reports": ("google_workspace", "google_workspace.admin"),
    "GitHub.Audit": ("github", "audit"),
    "OneLogin.Events": ("onelogin", "onelogin.events"),
    "Crowdstrike.FDREvent": ("crowdstrike", "fdr"),
    "Crowdstrike.ProcessRollup2": ("crowdstrike", "fdr"),
}


def derive(log_types: tuple[str, ...], resource_types: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    found = {LOG_TYPES[t] for t in log_types if t in LOG_TYPES}
    if not found and resource_types:
        products = {t.split(".", 1)[0].lower() for t in resource_types}
        found = {(products.pop(), "")} if len(products) == 1 else set()
    products = {product for product, _service in found}
    if len(products) == 1:
        out["product"] = products.pop()
        services = {service for _product, service in found if service}
        if len(services) == 1:
            out["service"] = services.pop()
    if log_types:
        out["panther.log_types"] = ", ".join(log_types)
    if resource_types:
        out["panther.resource_types"] = ", ".join(resource_types)
    return out


def table_log_types(tables: list[str]) -> list[str]:
    """The log types a query's tables hold: `panther_logs.public.aws_cloudtrail` is AWS.CloudTrail (a table is
    its log type in lower case, dots as underscores). Tables of other log types are not named here."""
    by_table = {name.lower().replace(".", "_"): name for name in LOG_TYPES}
    found = (by_table.get(table.rsplit(".", 1)[-1].strip('"').lower()) for table in tables)
    return list(dict.fromkeys(t for t in found if t))
