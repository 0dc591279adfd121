"""The cloud and SaaS actions a rule filters on (§3, "the same action"): the API call or operation its log
source's action field names (CloudTrail eventName, Okta eventType, GCP methodName, Kubernetes verb ×
resource, Azure operationName...), resolved by the catalog's own action table (`resolve_actions`, the function
event coverage uses), for rules on the cloud and SaaS platforms of ATT&CK (`rule_platforms`)."""

from __future__ import annotations

from ruleatlas.analysis.coverage import rule_platforms
from ruleatlas.model import Rule
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.coverage import rule_facts
from ruleatlas.telemetry.platforms.actions import action_source, resolve_actions

# ATT&CK platforms (v18 names, as `rule_platforms` gives them) of cloud and SaaS log sources; an OS's own
# logs (auditd) are no API call.
CLOUD_PLATFORMS = frozenset({"IaaS", "SaaS", "Identity Provider", "Office Suite", "Containers"})


def cloud_actions(rule: Rule, telemetry: TelemetryCatalog | None) -> tuple[tuple[str, str], ...]:
    """(provider, event) of each action the rule names, or () when it names none or is not a cloud rule."""
    if telemetry is None or not rule.logic_parsed:
        return ()
    product = rule.logsource.get("product", "").strip().lower()
    service = rule.logsource.get("service", "").strip().lower()
    if not CLOUD_PLATFORMS & set(rule_platforms(product, service)):
        return ()
    source = action_source(product, service)
    if source is None or source.fixed_key:
        return ()  # a log of one event type (sign-ins): no action to share
    resolution = resolve_actions(telemetry, product, service, rule_facts(rule).values)
    if resolution is None or not resolution.named_action:
        return ()
    return tuple(resolution.events)
