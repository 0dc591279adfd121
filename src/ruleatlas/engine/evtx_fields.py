"""EVTX records (as the `evtx` package's JSON renders them) to fields named the way Sigma rules name them.

System: `Provider/@Name` -> `Provider_Name`, `TimeCreated/@SystemTime` -> `TimeCreated`,
`Execution/@ProcessID` -> `ProcessID`, `Security/@UserID` -> `UserID`, ...; `EventID` always an int
(its `@Qualifiers` kept as `Qualifiers`). EventData / UserData: every leaf by its name (`Data[@Name]` is
already hoisted by the package); unnamed `Data` items are kept as `Data` (a list when several). System
names win over an EventData item of the same name, which stays reachable as `EventData.<name>`.
"""

from __future__ import annotations

ATTRS = "#attributes"
TEXT = "#text"
SEPARATE_ATTRS = "_attributes"

# System elements whose value lives in XML attributes: element -> {attribute: field name}.
SYSTEM_ATTRIBUTES: dict[str, dict[str, str]] = {
    "Provider": {"Name": "Provider_Name", "Guid": "Provider_Guid", "EventSourceName": "EventSourceName"},
    "TimeCreated": {"SystemTime": "TimeCreated"},
    "Execution": {"ProcessID": "ProcessID", "ThreadID": "ThreadID"},
    "Security": {"UserID": "UserID"},
    "Correlation": {"ActivityID": "ActivityID", "RelatedActivityID": "RelatedActivityID"},
}


def is_evtx_json(obj: dict[str, object]) -> bool:
    """True for an EVTX record rendered as JSON (`{"Event": {"System": ...}}`)."""
    event = obj.get("Event")
    return isinstance(event, dict) and isinstance(event.get("System"), dict)


def _int_or_text(value: object) -> object:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _system_fields(system: dict[str, object], out: dict[str, object]) -> None:
    for key, value in system.items():
        if key.endswith(SEPARATE_ATTRS) and isinstance(value, dict):
            # the `separate_json_attributes` rendering: {"Provider_attributes": {"Name": ...}}
            element = key[: -len(SEPARATE_ATTRS)]
            names = SYSTEM_ATTRIBUTES.get(element, {})
            for attr, attr_value in value.items():
                out[names.get(attr, f"{element}_{attr}" if element != "EventID" else attr)] = attr_value
            continue
        if isinstance(value, dict):
            if key == "EventID":
                attrs = value.get(ATTRS)
                if isinstance(attrs, dict) and "Qualifiers" in attrs:
                    out["Qualifiers"] = attrs["Qualifiers"]
                out["EventID"] = _int_or_text(value.get(TEXT))
                continue
            names = SYSTEM_ATTRIBUTES.get(key)
            attrs = value.get(ATTRS)
            if isinstance(attrs, dict):
                for attr, attr_value in attrs.items():
                    out[names.get(attr, f"{key}_{attr}") if names else f"{key}_{attr}"] = attr_value
            if TEXT in value:
                out[key] = value[TEXT]
        elif value is not None:
            out[key] = _int_or_text(value) if key == "EventID" else value
        # an empty element (null) such as <Correlation/> carries nothing to match


def _data_fields(section: object, out: dict[str, object], prefix: str) -> None:
    """Leaves of EventData/UserData by name; every leaf also under `prefix.<path>` when its name is taken."""
    if not isinstance(section, dict):
        if section is not None:
            out.setdefault(prefix, section)
        return
    for key, value in section.items():
        if key == ATTRS or key.endswith(SEPARATE_ATTRS):
            continue
        if key == "Data":
            unnamed = value.get(TEXT) if isinstance(value, dict) else value
            if unnamed is not None:
                out.setdefault("Data", unnamed)
            continue
        if isinstance(value, dict):
            if TEXT in value:
                _put(out, key, value[TEXT], prefix)
            else:
                _data_fields(value, out, f"{prefix}.{key}")
            continue
        _put(out, key, value, prefix)


def _put(out: dict[str, object], key: str, value: object, prefix: str) -> None:
    if key in out:
        out[f"{prefix}.{key}"] = value
    else:
        out[key] = value


def evtx_fields(obj: dict[str, object]) -> dict[str, object]:
    """Flatten one EVTX JSON record (`{"Event": {...}}`) into Sigma-named fields."""
    event = obj["Event"]
    assert isinstance(event, dict)
    out: dict[str, object] = {}
    system = event.get("System")
    if isinstance(system, dict):
        _system_fields(system, out)
    for key, section in event.items():
        if key in ("System", ATTRS) or key.endswith(SEPARATE_ATTRS):
            continue
        _data_fields(section, out, key)
    return out
