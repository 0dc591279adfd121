"""The OpenAPI document: every operation has a response schema, and every route's real answer on the
corpus catalog validates against it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from catalog_support import fetch

from ruleatlas.web.routes import default_routes

# One real request per API route of the table (a route added without one fails the first test).
EXAMPLES: dict[str, str | None] = {
    "/api/rules": "/api/rules?level=high&page=2",
    "/api/rules/{vendor}/{stem}": "/api/rules/sigma/proc_creation_win_7zip_exfil_dmp_files",
    "/api/search": "/api/search?q=powershell+encoded",
    "/api/indicators": "/api/indicators?field=Image",
    "/api/fields": "/api/fields",
    "/api/fields/{field}": "/api/fields/Image",
    "/api/attack/matrix": "/api/attack/matrix",
    "/api/stats": "/api/stats",
    "/openapi.json": "/openapi.json",
    "/api/attack/techniques/{id}": "/api/attack/techniques/T1059",
    "/api/attack/tactics/{id}": "/api/attack/tactics/TA0002",
    "/api/attack/gaps": "/api/attack/gaps",
    "/api/telemetry/providers": "/api/telemetry/providers",
    "/api/telemetry/providers/{provider}": "/api/telemetry/providers/microsoft-windows-sysmon",
    "/api/telemetry/events/{provider}/{event}": "/api/telemetry/events/microsoft-windows-sysmon/1",
    "/api/telemetry/vendors/{vendor}": "/api/telemetry/vendors/sigma",
    "/api/telemetry/uncovered": "/api/telemetry/uncovered",
    "/api/telemetry/platforms": "/api/telemetry/platforms",
    "/api/telemetry/platforms/{platform}": "/api/telemetry/platforms/windows",
    "/api/telemetry/priority": "/api/telemetry/priority?platform=windows&limit=20",
    "/api/coverage/{platform}": "/api/coverage/okta",
    "/api/rules/eq": "/api/rules/eq?limit=5",
    # SigmaHQ alone has no two rules of one canonical form: a class's answer is checked against this schema
    # over the relations fixture, which has one (tests/web/test_relations_browser.py)
    "/api/rules/eq/{id}": None,
}


def test_every_operation_has_a_response_schema(browse_served: str) -> None:
    status, _, body = fetch(browse_served, "/openapi.json")
    assert status == 200
    document = json.loads(body)
    api_patterns = {route.pattern for route in default_routes().api_routes()}
    assert set(document["paths"]) == api_patterns == set(EXAMPLES)
    jsonschema.Draft202012Validator.check_schema(document["components"]["schemas"]["Error"])
    for pattern, item in document["paths"].items():
        responses = item["get"]["responses"]
        schema = responses["200"]["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["required"], pattern
        for status_code in ("400", "404", "503"):
            ref = responses[status_code]["content"]["application/json"]["schema"]
            assert ref == {"$ref": "#/components/schemas/Error"}, (pattern, status_code)


@pytest.mark.corpus
@pytest.mark.parametrize("pattern", sorted(p for p, example in EXAMPLES.items() if example is not None))
def test_real_answers_match_their_schema(corpus_served: str, pattern: str) -> None:
    _, _, body = fetch(corpus_served, "/openapi.json")
    schema: dict[str, Any] = json.loads(body)["paths"][pattern]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    example = EXAMPLES[pattern]
    assert example is not None
    status, headers, answer = fetch(corpus_served, example)
    assert status == 200, answer[:300]
    assert headers["content-type"] == "application/json; charset=utf-8"
    jsonschema.validate(json.loads(answer), schema, cls=jsonschema.Draft202012Validator)


def test_error_answers_match_the_error_schema(browse_served: str) -> None:
    _, _, body = fetch(browse_served, "/openapi.json")
    error_schema = json.loads(body)["components"]["schemas"]["Error"]
    for path, status in (("/api/rules/sigma/nothing", 404), ("/api/search?nope=1", 400), ("/api/zzz", 404)):
        got, _, answer = fetch(browse_served, path)
        assert got == status
        jsonschema.validate(json.loads(answer), error_schema)
