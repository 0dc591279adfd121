"""Reverse field tables: a vendor schema's field → the Sigma taxonomy field, read from pySigma's pipelines.

pySigma's backends map Sigma fields to each vendor's schema (Elastic ECS, Splunk CIM, Microsoft Defender XDR,
Sentinel ASIM, Azure Monitor, Google SecOps UDM), mostly under a log source condition. Read backwards, with
the rule's Sigma category, they name the Sigma field a vendor field stands for. Nothing is copied: every table
is read from the installed packages, once per process (`functools.cache`), and only when a rule of that vendor
is analysed, so a Sigma-only build never imports them.

A table is `vendor field → ((Sigma field, categories), ...)`; `categories` is None where pySigma maps the
field for any log source of the pipeline, else the Sigma categories (or services) the mapping holds for.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

Entry = tuple[str, frozenset[str] | None]  # (Sigma field, the categories it holds for; None: any)
ReverseTable = dict[str, tuple[Entry, ...]]

# Schema → where its table comes from (the pySigma package and function), as pages and tests name them.
SCHEMA_SOURCES = {
    "ecs": "pySigma-backend-elasticsearch: sigma.pipelines.elasticsearch.windows.ecs_windows()",
    "cim": "pySigma-backend-splunk: splunk_cim_data_model() and splunk_windows_pipeline()",
    "mde": "pySigma-backend-kusto: sigma.pipelines.microsoftxdr.mappings (per table)",
    "asim": "pySigma-backend-kusto: sigma.pipelines.sentinelasim.mappings (per table)",
    "azuremonitor": "pySigma-backend-kusto: sigma.pipelines.azuremonitor.mappings (per table)",
    "udm": "pySigma-backend-secops: sigma.pipelines.secops.mappings (per UDM event type)",
}


def _add(
    table: dict[str, dict[str, set[str] | None]], vendor_field: str, sigma_field: str, where: Iterable[str]
) -> None:
    """Record one pair; a pair seen for any log source stays any (None)."""
    known = table.setdefault(vendor_field, {})
    scopes = set(where)
    if sigma_field in known and known[sigma_field] is None:
        return
    if not scopes:
        known[sigma_field] = None
    else:
        known[sigma_field] = (known.get(sigma_field) or set()) | scopes


def _freeze(table: dict[str, dict[str, set[str] | None]]) -> ReverseTable:
    return {
        vendor_field: tuple(
            sorted(
                ((sigma, None if where is None else frozenset(where)) for sigma, where in by_sigma.items()),
                key=lambda e: e[0],
            )
        )
        for vendor_field, by_sigma in table.items()
    }


def _pipeline_pairs(pipeline: Any) -> Iterable[tuple[str, str, list[str]]]:
    """(Sigma field, vendor field, log source scopes) of every FieldMappingTransformation of a pipeline."""
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.transformations import FieldMappingTransformation

    for item in pipeline.items:
        transformation = item.transformation
        if not isinstance(transformation, FieldMappingTransformation):
            continue
        scopes = [
            c.category or c.service or ""
            for c in item.rule_conditions
            if isinstance(c, LogsourceCondition) and (c.category or c.service)
        ]
        for sigma_field, targets in transformation.mapping.items():
            if sigma_field is None:  # pySigma types the keys optional; no field, nothing to reverse
                continue
            for target in targets if isinstance(targets, list) else [targets]:
                yield sigma_field, target, scopes


def _from_pipelines(*factories: Callable[[], Any]) -> ReverseTable:
    table: dict[str, dict[str, set[str] | None]] = {}
    for factory in factories:
        for sigma_field, target, scopes in _pipeline_pairs(factory()):
            _add(table, target, sigma_field, scopes)
    return _freeze(table)


def _merge_caseless(table: ReverseTable) -> ReverseTable:
    merged: dict[str, dict[str, set[str] | None]] = {}
    for vendor_field, entries in table.items():
        for sigma_field, where in entries:
            _add(merged, vendor_field.removesuffix(".caseless"), sigma_field, where or ())
    return _freeze(merged)


def _from_kusto(mappings: Any, category_tables: dict[str, str]) -> ReverseTable:
    """pySigma-backend-kusto keeps one mapping per table; a table stands for the categories routed to it."""
    categories: dict[str, set[str]] = {}
    for category, table_name in category_tables.items():
        categories.setdefault(table_name, set()).add(category)
    table: dict[str, dict[str, set[str] | None]] = {}
    for table_name, mapping in mappings.table_mappings.items():
        for sigma_field, targets in mapping.items():
            for target in targets if isinstance(targets, list) else [targets]:
                _add(table, target, sigma_field, categories.get(table_name, {table_name}))
    for sigma_field, targets in mappings.generic_mappings.items():
        for target in targets if isinstance(targets, list) else [targets]:
            _add(table, target, sigma_field, ())
    return _freeze(table)


@cache
def reverse_table(schema: str) -> ReverseTable:
    """The reverse table of one schema (`SCHEMA_SOURCES`); an unknown schema has none."""
    if schema == "ecs":
        from sigma.pipelines.elasticsearch.windows import ecs_windows

        # The pipeline targets the `.caseless` multi-fields (case-insensitive keyword copies) for some fields;
        # rules name the field itself, and the suffix says only how it compares.
        return _merge_caseless(_from_pipelines(ecs_windows))
    if schema == "cim":
        from sigma.pipelines.splunk.splunk import splunk_cim_data_model, splunk_windows_pipeline

        return _from_pipelines(splunk_cim_data_model, splunk_windows_pipeline)
    if schema == "mde":
        from sigma.pipelines.microsoftxdr import mappings as xdr

        return _from_kusto(xdr.MICROSOFT_XDR_FIELD_MAPPINGS, xdr.CATEGORY_TO_TABLE_MAPPINGS)
    if schema == "asim":
        from sigma.pipelines.sentinelasim import mappings as asim

        return _from_kusto(asim.SENTINEL_ASIM_FIELD_MAPPINGS, asim.CATEGORY_TO_TABLE_MAPPINGS)
    if schema == "azuremonitor":
        from sigma.pipelines.azuremonitor import mappings as azm

        return _from_kusto(azm.AZURE_MONITOR_FIELD_MAPPINGS, azm.CATEGORY_TO_TABLE_MAPPINGS)
    if schema == "udm":
        return _udm()
    return {}


def _udm() -> ReverseTable:
    """SecOps maps per UDM event-type group (`process`, `network`, ...; `common` for any); a group stands for
    the Sigma categories whose UDM event type falls in it."""
    with warnings.catch_warnings():  # the package reads its UDM schema through a deprecated importlib API
        warnings.simplefilter("ignore", DeprecationWarning)
        from sigma.pipelines.secops.mappings import get_field_mappings
        from sigma.pipelines.secops.utils import get_category_mapping, get_field_mapping_type

    groups: dict[str, set[str]] = {}
    for category, event_type in get_category_mapping().items():
        group = get_field_mapping_type(event_type)
        if group:
            groups.setdefault(group, set()).add(category)
    table: dict[str, dict[str, set[str] | None]] = {}
    for group, mapping in get_field_mappings().items():
        for sigma_field, target in mapping.items():
            _add(table, target, sigma_field, () if group == "common" else groups.get(group, {group}))
    return _freeze(table)


@cache
def sigma_field_names() -> frozenset[str]:
    """Every Sigma field any reverse table names: a vendor field spelled like one is already canonical
    (Splunk's raw Sysmon fields, Sentinel's parsed `Event` columns)."""
    return frozenset(
        sigma for schema in SCHEMA_SOURCES for e in reverse_table(schema).values() for sigma, _ in e
    )
