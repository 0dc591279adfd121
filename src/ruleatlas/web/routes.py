"""The server's route table: which handler answers which GET path, for JSON API endpoints and for pages.

`ruleatlas serve` looks a request path up here first; a path no route claims is a file of the built site
(`<catalog>/site/`), so pages the build writes need no route at all. Routes are for answers computed per
request from the catalog (the JSON API) and for the few site files the server answers differently from a
static host (`static/mode.js`, which tells the pages an API is there).

How another module adds its routes (e.g. `ruleatlas.web.telemetry_api`):

    from ruleatlas.web.routes import ApiError, Param, Request, RouteTable

    def register(routes: RouteTable) -> None:
        routes.api(
            "/api/telemetry/providers/{provider}", provider_json,
            response=api_schemas.typed(ProviderView),  # the 200 answer's JSON Schema, from its type
            summary="One telemetry provider with its events",
            params=[Param("limit", "at most this many events", type="integer")],
            tag="telemetry",
        )

    def provider_json(req: Request) -> object:
        found = telemetry_queries.provider(req.catalog(), req.args["provider"])  # store owns the SQL
        if found is None:
            raise ApiError(404, "not_found", f"no provider {req.args['provider']!r}")
        return found

and add the module's dotted name to `ROUTE_MODULES` below. That is all: `/openapi.json` is generated from
the table (path parameters from the `{placeholders}`, query parameters from `params`, the answer's schema
from `response`; `tests/web/test_openapi.py` checks real answers against it), unknown query
parameters are answered with a 400 before the handler runs, and errors raised as `ApiError` become the one
JSON error shape `{"error": {"status", "code", "message"}}`. A handler returns any JSON-serialisable value.

- Patterns are absolute paths of literal segments and `{name}` placeholders; a placeholder matches exactly
  one decoded path segment (never a `/`, `..`, hidden name or control character: the server rejects those
  before routing). A trailing slash is optional for API routes. Literal segments win over placeholders.
- `page(...)` routes return a `Response` (HTML, JS, ...) and are not in the OpenAPI document.
- `heavy=True` for a route whose cost the client chooses (search): the server computes those in their own,
  smaller pool of slots.
- Handlers get the catalog through `req.catalog()` (opened on first use and released by the server after
  the request; do not close it) and must not write anything.
- API answers are cached by the server per (path, query) while the catalog file stays the same
  (`cache=False` turns that off for a route); handlers must therefore depend on nothing but the path,
  the query and the catalog.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from ruleatlas.store.catalog import Catalog

ROUTE_MODULES: tuple[str, ...] = (
    "ruleatlas.web.api",
    "ruleatlas.web.attack_api",
    "ruleatlas.web.telemetry_api",
    "ruleatlas.web.collection_api",
    "ruleatlas.web.relations_api",
)

ParamType = Literal["string", "integer", "boolean"]
MAX_PARAM_CHARS = 1000  # one query value; a longer one is a 400, not a slow query
MAX_INT = 1_000_000_000


class ApiError(Exception):
    """An error answer: HTTP status, a stable machine code and a message for people."""

    def __init__(self, status: int, code: str, message: str, *, lasting: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        # False for an answer that depends on more than the request and the catalog (a query that ran out
        # of its budget may fit on a quieter server): the server then does not cache it.
        self.lasting = lasting


@dataclass(slots=True, frozen=True)
class Param:
    """A query parameter of an API route (validated by `Request` helpers; documented in OpenAPI)."""

    name: str
    description: str
    type: ParamType = "string"
    required: bool = False
    repeated: bool = False  # may be given several times (`?level=high&level=critical`)
    enum: tuple[str, ...] = ()


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


class Request:
    """What a handler sees: the decoded path, its placeholders, the query and the catalog."""

    def __init__(
        self,
        path: str,
        args: dict[str, str],
        query: dict[str, list[str]],
        open_catalog: Callable[[], Catalog],
    ) -> None:
        self.path = path
        self.args = args
        self.query = query
        self._open_catalog = open_catalog

    def catalog(self) -> Catalog:
        """The catalog reader of the served catalog file."""
        return self._open_catalog()

    def param(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        return [v for v in self.query.get(name, []) if v != ""]

    def int_param(self, name: str, default: int, minimum: int = 0, maximum: int = MAX_INT) -> int:
        """An integer parameter; a non-number or one below `minimum` is a 400, one above `maximum` is
        clamped (an absurd page number is an empty page, not an error)."""
        text = self.param(name).strip()
        if not text:
            return default
        if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 18:
            raise ApiError(400, "bad_parameter", f"{name} must be an integer, not {text[:40]!r}")
        value = int(text)
        if value < minimum:
            raise ApiError(400, "bad_parameter", f"{name} must be at least {minimum}")
        return min(value, maximum)

    def bool_param(self, name: str) -> bool:
        text = self.param(name).strip().lower()
        if text in ("", "0", "false", "no"):
            return False
        if text in ("1", "true", "yes"):
            return True
        raise ApiError(400, "bad_parameter", f"{name} must be true or false, not {text[:40]!r}")


Handler = Callable[[Request], Any]


@dataclass(slots=True)
class Route:
    pattern: str
    segments: tuple[str, ...]
    handler: Handler
    kind: Literal["api", "page"]
    summary: str = ""
    description: str = ""
    params: tuple[Param, ...] = ()
    tag: str = "catalog"
    cache: bool = True
    response_schema: dict[str, Any] | None = None
    heavy: bool = False  # the client chooses its cost (search): computed in its own, smaller pool of slots

    @property
    def placeholders(self) -> list[str]:
        return [s[1:-1] for s in self.segments if _is_placeholder(s)]

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        args: dict[str, str] = {}
        for want, got in zip(self.segments, segments, strict=True):
            if _is_placeholder(want):
                args[want[1:-1]] = got
            elif want != got:
                return None
        return args

    def specificity(self) -> tuple[int, ...]:
        """Literal segments before placeholders, position by position (so `/api/rules/facets` beats
        `/api/rules/{vendor}`)."""
        return tuple(1 if _is_placeholder(s) else 0 for s in self.segments)


def _is_placeholder(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _split(pattern: str) -> tuple[str, ...]:
    if not pattern.startswith("/"):
        raise ValueError(f"route {pattern!r}: a pattern is an absolute path")
    return tuple(s for s in pattern.strip("/").split("/") if s)


class RouteTable:
    """The routes of one server; `register` functions of the modules in ROUTE_MODULES fill it."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def __iter__(self) -> Any:
        return iter(self._routes)

    def api(
        self,
        pattern: str,
        handler: Handler,
        *,
        summary: str,
        response: dict[str, Any],
        description: str = "",
        params: Iterable[Param] = (),
        tag: str = "catalog",
        cache: bool = True,
        heavy: bool = False,
    ) -> Route:
        """A JSON endpoint: `handler(req)` returns a JSON-serialisable value (described by `response`, a JSON
        Schema, in the OpenAPI document) or raises ApiError."""
        route = Route(
            pattern,
            _split(pattern),
            handler,
            "api",
            summary,
            description,
            tuple(params),
            tag,
            cache,
            response,
            heavy,
        )
        self._add(route)
        return route

    def page(self, pattern: str, handler: Callable[[Request], Response]) -> Route:
        """A non-JSON answer computed by the server (`handler(req)` returns a Response)."""
        route = Route(pattern, _split(pattern), handler, "page", cache=False)
        self._add(route)
        return route

    def _add(self, route: Route) -> None:
        def shape(r: Route) -> tuple[str, ...]:
            return tuple("{}" if _is_placeholder(s) else s for s in r.segments)

        for other in self._routes:
            if shape(other) == shape(route):
                raise ValueError(f"route {route.pattern!r} is already registered")
        self._routes.append(route)
        self._routes.sort(key=Route.specificity)

    def match(self, segments: Sequence[str]) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            args = route.match(segments)
            if args is not None:
                return route, args
        return None

    def api_routes(self) -> list[Route]:
        return sorted((r for r in self._routes if r.kind == "api"), key=lambda r: r.pattern)


def parse_query(query: str, route: Route) -> dict[str, list[str]]:
    """The query string as name -> values, checked against the route's declared parameters (ApiError 400
    for a value that is not UTF-8, too long or holds a control character, an unknown or repeated name, a
    missing required one)."""
    try:
        parsed = parse_qs(query, keep_blank_values=True, errors="strict", max_num_fields=64)
    except UnicodeDecodeError:
        raise ApiError(400, "bad_query", "the query string is not valid UTF-8") from None
    except ValueError as exc:
        raise ApiError(400, "bad_query", f"the query string cannot be read ({exc})") from None
    known = {p.name for p in route.params}
    unknown = sorted(name for name in parsed if name not in known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise ApiError(400, "unknown_parameter", f"unknown parameter {shown}; this route takes: {allowed}")
    for name, values in parsed.items():
        if any(len(v) > MAX_PARAM_CHARS for v in values):
            raise ApiError(400, "parameter_too_long", f"{name} is longer than {MAX_PARAM_CHARS} characters")
        if any(any(ord(c) < 0x20 and c not in "\t\n\r" for c in v) for v in values):
            raise ApiError(400, "bad_parameter", f"{name} holds a control character")
    for p in route.params:
        if p.required and not any(v.strip() for v in parsed.get(p.name, [])):
            raise ApiError(400, "missing_parameter", f"parameter {p.name!r} is required")
        if not p.repeated and len(parsed.get(p.name, [])) > 1:
            raise ApiError(400, "bad_parameter", f"parameter {p.name!r} is given more than once")
    return parsed


def default_routes(modules: Iterable[str] = ROUTE_MODULES) -> RouteTable:
    """A table filled by `register(table)` of every module in `modules`."""
    table = RouteTable()
    for name in modules:
        importlib.import_module(name).register(table)
    return table


# -- OpenAPI ------------------------------------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}


def openapi_document(table: RouteTable, version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document of the table's API routes."""
    paths: dict[str, Any] = {}
    for route in table.api_routes():
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.placeholders
        ]
        for p in route.params:
            schema: dict[str, Any] = {"type": p.type}
            if p.enum:
                schema["enum"] = list(p.enum)
            if p.repeated:
                schema = {"type": "array", "items": schema}
            entry: dict[str, Any] = {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": p.description,
                "schema": schema,
            }
            if p.repeated:
                entry.update({"style": "form", "explode": True})
            parameters.append(entry)
        ok = {"description": "OK", "content": {"application/json": {"schema": route.response_schema}}}
        operation = {
            "operationId": _operation_id(route.pattern),
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": parameters,
            "responses": {
                "200": ok,
                "400": _error("bad, unknown or missing parameter; a search over its work budget"),
                "404": _error("no such route or object"),
                "503": _error("the catalog cannot be read (not built, or being replaced)"),
            },
        }
        if route.description:
            operation["description"] = route.description
        paths[route.pattern] = {"get": operation}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "RuleAtlas API",
            "version": version,
            "description": "Read-only access to a RuleAtlas catalog: rules, search, indicators, fields, "
            "ATT&CK coverage and statistics. Every error is JSON with a 4xx or 5xx status.",
        },
        "paths": paths,
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _operation_id(pattern: str) -> str:
    words = [s.strip("{}") for s in _split(pattern) if s != "api"]
    return "_".join(w.replace("-", "_") for w in words) or "root"
