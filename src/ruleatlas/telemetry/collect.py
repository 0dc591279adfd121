"""How to make Windows write an event, where the definitions say so.

- Sysmon: the event's rule name in the Sysmon schema (`ProcessCreate`, the event's `task` as the loader keeps
  it) is the element of a Sysmon configuration that turns it on;
- Security: the audit policy subcategory OSSEM-DM names for the event (its `task`, "Detailed Tracking /
  Process Creation"), set with `auditpol`.
"""

from __future__ import annotations

from typing import TypedDict

from ruleatlas.telemetry.catalog import EventDef

SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"


class CollectHint(TypedDict):
    kind: str  # "Sysmon configuration", "Audit policy"
    text: str  # what to paste
    note: str


def collect_hint(provider: str, event: EventDef | None) -> CollectHint | None:
    """`{"kind", "text", "note"}` for a Sysmon or Security event whose definition says how; else None."""
    if event is None or not event.task:
        return None
    if provider == SYSMON:
        return {
            "kind": "Sysmon configuration",
            "text": f'<RuleGroup groupRelation="or"><{event.task} onmatch="exclude"/></RuleGroup>',
            "note": "an empty exclude rule logs every event of this type",
        }
    if provider == SECURITY:
        policies = [p.strip() for p in event.task.split(";") if p.strip()]
        subcategories = list(dict.fromkeys(p.rsplit(" / ", 1)[-1] for p in policies))
        return {
            "kind": "Audit policy",
            "text": "; ".join(
                f'auditpol /set /subcategory:"{s}" /success:enable /failure:enable' for s in subcategories
            ),
            "note": "subcategory: " + "; ".join(policies) + " (OSSEM-DM)",
        }
    return None
