"""The catalog's JSON API: rules, search, indicators, fields, the ATT&CK matrix, statistics, and the OpenAPI
document of every registered route. Handlers are thin: the queries live in `ruleatlas.store` (house rule 6)
and each page of the site has its twin here from the same query (house rule 7).
"""

from __future__ import annotations

from typing import Any

from ruleatlas import __version__
from ruleatlas.web.routes import ApiError, Request, RouteTable, openapi_document


def register(routes: RouteTable) -> None:
    routes.api(
        "/api/rules/{vendor}/{stem}",
        rule_document,
        summary="One rule's page document",
        description="The same object as `ruleatlas show --json` (docs/page-document.md), corpus counts "
        "included.",
        tag="rules",
    )

    def openapi(req: Request) -> dict[str, Any]:
        return openapi_document(routes, __version__)

    routes.api("/openapi.json", openapi, summary="This document", tag="meta")


def rule_document(req: Request) -> dict[str, Any]:
    uid = f"{req.args['vendor']}/{req.args['stem']}"
    doc: dict[str, Any] | None = req.catalog().rule_document(uid)
    if doc is None:
        raise ApiError(404, "not_found", f"no rule {uid!r} in the catalog")
    return doc
