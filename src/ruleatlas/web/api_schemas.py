"""JSON Schemas of the API's answers, for the OpenAPI document (every operation names its 200 answer).

Each schema lists the properties a client can rely on (required, with their types) and describes nested
lists where their items matter; answers may carry more (a new property is not a breaking change).
`tests/web/test_openapi.py` checks every route's real answer on a built catalog against its schema.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
ANY_OBJECT: Schema = {"type": "object"}


def obj(description: str = "", /, **properties: Schema) -> Schema:
    """An object with these required properties."""
    schema: Schema = {"type": "object", "required": sorted(properties), "properties": properties}
    if description:
        schema["description"] = description
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def counts(description: str) -> Schema:
    """An object of name -> number."""
    return {"type": "object", "additionalProperties": INTEGER, "description": description}


STRINGS = array(STRING)
VENDOR_COUNTS = obj("a count and its split by vendor", total=INTEGER, by_vendor=counts("count per vendor"))
# Property groups several answers share (spread into `obj`).
RULE_KEYS: dict[str, Schema] = {
    "uid": STRING,
    "title": STRING,
    "vendor": STRING,
    "level": STRING,
    "status": STRING,
    "kind": STRING,
}
PAGING: dict[str, Schema] = {"total": INTEGER, "page": INTEGER, "per_page": INTEGER, "pages": INTEGER}
TACTIC_KEYS: dict[str, Schema] = {"id": STRING, "shortname": STRING, "name": STRING}
RULE_SUMMARY = obj(**RULE_KEYS)
ATTACK_FILTERS = obj(
    "the filters the answer applied",
    vendor=STRINGS,
    platform=STRING,
    level=STRINGS,
    status=STRINGS,
    validated=BOOLEAN,
)

FACET_VALUES = array(obj(value=STRING, rules=INTEGER))
RULE_LIST = obj(
    "one page of the browse list, with facet counts",
    **PAGING,
    sort=STRING,
    filters=ANY_OBJECT,
    facets={"type": "object", "additionalProperties": FACET_VALUES, "description": "values per facet"},
    rules=array(obj(**RULE_KEYS, product=STRING, logsource=STRING, techniques=STRINGS, tactics=STRINGS)),
)
RULE_DOCUMENT = obj(
    "a rule's page document (docs/page-document.md)",
    **RULE_KEYS,
    logsource=ANY_OBJECT,
    description=STRING,
    tags=STRINGS,
    references=STRINGS,
    source=ANY_OBJECT,
    attack=array(ANY_OBJECT),
    indicators=array(ANY_OBJECT),
    exclusions=array(ANY_OBJECT),
    related_links=array(
        obj(direction=STRING, type=STRING, uid=STRING, id=STRING, title=STRING, phrase=STRING)
    ),
    fires_on={
        "oneOf": [
            {"type": "null"},
            obj(samples_checked=INTEGER, samples=array(obj(name=STRING, records=array(INTEGER)))),
        ],
        "description": "the log samples the rule fires on; null when it was not run over samples",
    },
    deploy=array(obj(target=STRING, label=STRING, pipeline=STRING, query=STRING, error=STRING)),
)
SEARCH = obj(
    "ranked results of a search",
    query=STRING,
    parsed=obj(words=STRINGS, filters={"type": "object", "additionalProperties": STRINGS}),
    **PAGING,
    results=array(
        obj(
            **RULE_KEYS,
            title_html=STRING,
            snippet_html=STRING,
            logsource=STRING,
            product=STRING,
            score=NUMBER,
        )
    ),
)
INDICATORS = obj(
    "indicators matching the request, with the rules that use or exclude each",
    field=NULLABLE_STRING,
    kind=NULLABLE_STRING,
    value=NULLABLE_STRING,
    indicators=array(
        obj(
            field=NULLABLE_STRING,
            kind=STRING,
            value=STRING,
            transforms=STRINGS,
            corpus=VENDOR_COUNTS,
            rules=array(ANY_OBJECT),
            excluded_by=array(ANY_OBJECT),
            page=STRING,
        )
    ),
)
FIELDS = obj(fields=array(obj(field=NULLABLE_STRING, rules=INTEGER, values=INTEGER, page=STRING)))
FIELD = obj(
    "one field's comparisons and most used values",
    field=NULLABLE_STRING,
    rules=INTEGER,
    distinct_values=INTEGER,
    kinds=array(obj(kind=STRING, rules=INTEGER, values=INTEGER)),
    values=array(obj(kind=STRING, value=STRING, transforms=STRINGS, rules=INTEGER)),
    page=STRING,
)
ATTACK_MATRIX = obj(
    "tactics with their technique cells and rule counts",
    attack_version=STRING,
    filters=ATTACK_FILTERS,
    rules_counted=INTEGER,
    tactics=array(obj(**TACTIC_KEYS, techniques=INTEGER, covered=INTEGER, cells=array(ANY_OBJECT))),
)
STATS = obj(
    "what the catalog holds",
    files=INTEGER,
    rules=INTEGER,
    errors=INTEGER,
    per_vendor=counts("rules per vendor"),
    per_kind=counts("rules per kind"),
    per_level=counts("rules per level"),
    per_status=counts("rules per status"),
    per_product=counts("rules per log source product"),
    per_logsource=counts("rules per log source category or service"),
    indicators=INTEGER,
    top_indicators=array(obj(field=STRING, kind=STRING, value=STRING, rules=INTEGER)),
    sources=array(obj(vendor=STRING, repo=STRING, commit=STRING)),
    built_at=STRING,
)
OPENAPI = obj("an OpenAPI 3.1 document", openapi=STRING, info=ANY_OBJECT, paths=ANY_OBJECT)

TECHNIQUE = obj(
    "an ATT&CK technique with its rules, events, fields and indicators",
    id=STRING,
    name=STRING,
    url=STRING,
    is_subtechnique=BOOLEAN,
    tactics=array(obj(**TACTIC_KEYS, rules=INTEGER)),
    subtechniques=array(obj(id=STRING, name=STRING, rules=INTEGER)),
    filters=ATTACK_FILTERS,
    rules_total=INTEGER,
    rules=array(RULE_SUMMARY),
    events=array(ANY_OBJECT),
    fields=array(ANY_OBJECT),
    indicators=array(ANY_OBJECT),
)
TACTIC = obj(
    "an ATT&CK tactic with its technique cells",
    **TACTIC_KEYS,
    url=STRING,
    filters=ATTACK_FILTERS,
    techniques=INTEGER,
    covered=INTEGER,
    cells=array(obj(id=STRING, name=STRING, rules=INTEGER)),
)
GAPS = obj(
    "techniques without any detection rule",
    attack_version=STRING,
    filters=ATTACK_FILTERS,
    covered=INTEGER,
    gaps=array(obj(id=STRING, name=STRING, tactics=STRINGS, is_subtechnique=BOOLEAN)),
)

TELEMETRY_PROVIDERS = obj(
    "telemetry providers grouped, with event and mapping counts",
    providers=INTEGER,
    events=INTEGER,
    events_with_rules=INTEGER,
    mappings=INTEGER,
    groups=array(obj(id=STRING, title=STRING, providers=array(ANY_OBJECT))),
)
TELEMETRY_PROVIDER = obj(
    "one provider with its events",
    name=STRING,
    label=STRING,
    kind=STRING,
    path=STRING,
    events=INTEGER,
    channels=STRINGS,
    event_rows=array(obj(id={"type": ["integer", "string"]}, title=STRING, rules=VENDOR_COUNTS, path=STRING)),
)
TELEMETRY_EVENT = obj(
    "one event: definition, fields with the rules testing each, sample, indicators and rules",
    provider=obj(name=STRING, label=STRING, kind=STRING, path=STRING),
    id={"type": ["integer", "string"]},
    path=STRING,
    title=STRING,
    fields=array(obj(name=STRING, rules=VENDOR_COUNTS)),
    indicators=array(ANY_OBJECT),
    rules=VENDOR_COUNTS,
)
TELEMETRY_VENDOR = obj(
    "events with rules of one vendor, by provider",
    vendor=STRING,
    events=INTEGER,
    providers=INTEGER,
    mappings=INTEGER,
    groups=array(ANY_OBJECT),
)
TELEMETRY_UNCOVERED = obj(
    "rules that cover no telemetry event, grouped by reason",
    rules=INTEGER,
    groups=array(obj(reason=STRING, rules=array(ANY_OBJECT))),
)
