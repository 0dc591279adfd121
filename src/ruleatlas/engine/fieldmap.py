"""Sigma taxonomy names on Windows Security audit events.

pySigma's windows-audit pipeline routes `process_creation` rules to Security 4688 and `registry_*` rules to
Security 4657 and renames the rule's fields to the audit event's own (Image → NewProcessName, ...). The engine
does the same renaming from the other side: a Security 4688/4657 event also answers to the taxonomy names, so
one compiled rule serves both Sysmon and Security events. The tables are read from the installed pipeline.
"""

from __future__ import annotations

from sigma.pipelines.windows.windows import (
    windows_audit_pipeline,
    windows_audit_registry_fieldmappings,
)


def _generic_mapping() -> dict[str, str]:
    # The pipeline builds this table inline; take it from the processing item rather than copy it.
    for item in windows_audit_pipeline().items:
        if item.identifier == "windows_audit_fieldmappings":
            return dict(item.transformation.mapping)  # type: ignore[attr-defined]
    raise RuntimeError("pySigma's windows_audit_pipeline has no windows_audit_fieldmappings item")


_GENERIC = _generic_mapping()
# Event id → taxonomy name → the audit event's field. 4657's own names win over the generic ones, as in the
# pipeline, where the registry mapping runs first.
AUDIT_ALIASES: dict[int, dict[str, str]] = {
    4688: {k: v for k, v in _GENERIC.items() if k in ("Image", "ParentImage", "LogonId")},
    4657: {**{k: v for k, v in _GENERIC.items() if k == "Details"}, **windows_audit_registry_fieldmappings},
}


def with_audit_aliases(fields: dict[str, object]) -> dict[str, object]:
    """The event's fields, plus taxonomy aliases when it is a Security 4688/4657 event (a copy then)."""
    event_id = fields.get("EventID")
    # JSON events may carry anything here (a list, a dict): only an int names an audit event.
    aliases = AUDIT_ALIASES.get(event_id) if isinstance(event_id, int) else None
    if aliases is None or fields.get("Channel") != "Security":
        return fields
    extended = dict(fields)
    for name, source in aliases.items():
        if name not in extended and source in extended:
            extended[name] = extended[source]
    return extended
