"""Telemetry definitions (providers, channels, events, fields) and rule -> event coverage."""

from ruleatlas.telemetry.catalog import EventDef, FieldDef, ProviderDef, TelemetryCatalog
from ruleatlas.telemetry.coverage import Coverage, EventRef, event_coverage
from ruleatlas.telemetry.load import load_telemetry

__all__ = [
    "Coverage",
    "EventDef",
    "EventRef",
    "FieldDef",
    "ProviderDef",
    "TelemetryCatalog",
    "event_coverage",
    "load_telemetry",
]
