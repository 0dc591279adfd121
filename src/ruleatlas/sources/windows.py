"""Windows EventID → Sigma category: the reverse of the tables Sigma rules are routed with.

Several vendors name Windows events by channel and EventID (Splunk's "Sysmon EventID 1", Sentinel's
`SecurityEvent | where EventID == 4688`, YARA-L's `product_event_type`). Reversing the ecosystem's own tables
keeps one answer to "which category is this event": pySigma's Sysmon pipeline (category → Sysmon EventID), its
Windows audit pipeline (process_creation → Security 4688, registry_* → 4657) and its Windows channel map
(ps_script → PowerShell 4104). They are written out here so that reading rules never imports pySigma (0.4 s
per worker process); `tests/sources/test_windows_events.py` rebuilds them from pySigma and checks they agree.

An EventID that several categories share takes the generic one: Sysmon 12 is registry_add and
registry_delete, so registry_event; Security 4657 is registry_add and registry_set, so registry_event.
"""

from __future__ import annotations

SYSMON: dict[int, str] = {
    1: "process_creation",
    2: "file_change",
    3: "network_connection",
    4: "sysmon_status",
    5: "process_termination",
    6: "driver_load",
    7: "image_load",
    8: "create_remote_thread",
    9: "raw_access_thread",
    10: "process_access",
    11: "file_event",
    12: "registry_event",
    13: "registry_set",
    14: "registry_rename",
    15: "create_stream_hash",
    16: "sysmon_status",
    17: "pipe_created",
    18: "pipe_created",
    19: "wmi_event",
    20: "wmi_event",
    21: "wmi_event",
    22: "dns_query",
    23: "file_delete",
    24: "clipboard_capture",
    25: "process_tampering",
    26: "file_delete_detected",
    27: "file_block_executable",
    28: "file_block_shredding",
    29: "file_executable_detected",
    255: "sysmon_error",
}
SECURITY: dict[int, str] = {4688: "process_creation", 4657: "registry_event"}
POWERSHELL: dict[int, str] = {
    4103: "ps_module",
    4104: "ps_script",
    400: "ps_classic_start",
    600: "ps_classic_provider_start",
    800: "ps_classic_script",
}
