"""JSON Schemas of the API's answers, for the OpenAPI document (every operation names its 200 answer).

Each schema lists the properties a client can rely on (required, with their types) and describes nested
lists where their items matter; answers may carry more (a new property is not a breaking change).
`tests/web/test_openapi.py` checks every route's real answer on a built catalog against its schema.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, NotRequired, Union, get_args, get_origin, get_type_hints

from ruleatlas.analysis.document import RuleDocument

# A JSON Schema is itself untyped JSON (its keywords vary by type).
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


_SCALARS: dict[object, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_SCALARS[type(None)] = "null"


def typed(tp: object, description: str = "", *, always: tuple[str, ...] = ()) -> Schema:
    """The schema of a typed answer, derived from its type (a TypedDict of the views or documents), so the
    OpenAPI document says what the code builds. `always`: keys the type leaves NotRequired (a stored
    document lacks them) that this answer always has."""
    schema = _schema_of(tp, set())
    if always:
        schema["required"] = sorted({*schema.get("required", ()), *always})
    if description:
        schema["description"] = description
    return schema


def _schema_of(tp: object, seen: set[object]) -> Schema:
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if tp is Any or tp is object:
        return {}
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        parts = [_schema_of(a, seen) for a in args]
        if all(set(p) == {"type"} and isinstance(p["type"], str) for p in parts):
            return {"type": [p["type"] for p in parts]}
        return {"anyOf": parts}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple):  # a tuple is a JSON array too; its items may differ by position
        items = {"anyOf": [_schema_of(a, seen) for a in args if a is not Ellipsis]}
        return {"type": "array", "items": items if len(args) != 1 else _schema_of(args[0], seen)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1], seen)}
    if typing.is_typeddict(tp):
        if tp in seen:  # a recursive type (a cell's sub-cells): described once
            return {"type": "object"}
        hints = get_type_hints(tp, include_extras=True)
        properties: dict[str, Schema] = {}
        required = []
        for key, hint in hints.items():
            if get_origin(hint) is NotRequired:
                hint = get_args(hint)[0]
            else:
                required.append(key)
            properties[key] = _schema_of(hint, seen | {tp})
        return {"type": "object", "required": sorted(required), "properties": properties}
    raise TypeError(f"no JSON Schema for {tp!r}")


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
RULE_DOCUMENT = typed(
    RuleDocument,
    "a rule's page document (docs/page-document.md)",
    always=("relations", "related_links", "fires_on", "deploy"),
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
