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


def _system_fields(system: dict[str, object], out: dict[str, object], separate: bool) -> None:
    for key, value in system.items():
        if type(value) is dict:
            if key == "EventID":
                attrs = value.get(ATTRS)
                if type(attrs) is dict and "Qualifiers" in attrs:
                    out["Qualifiers"] = attrs["Qualifiers"]
                out["EventID"] = _int_or_text(value.get(TEXT))
                continue
            if separate and key.endswith(SEPARATE_ATTRS):
                # the `separate_json_attributes` rendering: {"Provider_attributes": {"Name": ...}}
                element = key[: -len(SEPARATE_ATTRS)]
                names = SYSTEM_ATTRIBUTES.get(element, {})
                for attr, attr_value in value.items():
                    out[names.get(attr, f"{element}_{attr}" if element != "EventID" else attr)] = attr_value
                continue
            own_names = SYSTEM_ATTRIBUTES.get(key)
            attrs = value.get(ATTRS)
            if type(attrs) is dict:
                for attr, attr_value in attrs.items():
                    out[own_names.get(attr, f"{key}_{attr}") if own_names else f"{key}_{attr}"] = attr_value
            if TEXT in value:
                out[key] = value[TEXT]
        elif value is not None:  # an empty element (null) such as <Correlation/> carries nothing to match
            out[key] = value
    event_id = out.get("EventID")
    if type(event_id) is str:
        out["EventID"] = _int_or_text(event_id)


def _data_fields(section: object, out: dict[str, object], prefix: str, separate: bool) -> None:
    """Leaves of EventData/UserData by name; a leaf whose name is taken goes under `prefix.<path>`."""
    if type(section) is not dict:
        if section is not None:
            out.setdefault(prefix, section)
        return
    for key, value in section.items():
        kind = type(value)
        if kind is not dict and key != "Data" and key != ATTRS:
            if key in out:
                out[f"{prefix}.{key}"] = value
            else:
                out[key] = value
            continue
        if key == ATTRS or (separate and key.endswith(SEPARATE_ATTRS)):
            continue
        if key == "Data":
            unnamed = value.get(TEXT) if isinstance(value, dict) else value
            if unnamed is not None:
                out.setdefault("Data", unnamed)
            continue
        assert isinstance(value, dict)
        if TEXT in value:
            leaf = value[TEXT]
            if key in out:
                out[f"{prefix}.{key}"] = leaf
            else:
                out[key] = leaf
        else:
            _data_fields(value, out, f"{prefix}.{key}", separate)


def evtx_fields(obj: dict[str, object]) -> dict[str, object]:
    """Flatten one EVTX JSON record (`{"Event": {...}}`) into Sigma-named fields."""
    event = obj["Event"]
    assert type(event) is dict
    separate = "Event_attributes" in obj  # rendered with separate_json_attributes
    out: dict[str, object] = {}
    system = event.get("System")
    if type(system) is dict:
        _system_fields(system, out, separate)
    for key, section in event.items():
        if key == "System" or key == ATTRS or (separate and key.endswith(SEPARATE_ATTRS)):
            continue
        _data_fields(section, out, key, separate)
    return out
