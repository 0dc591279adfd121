"""API routes of equivalence classes: `/api/rules/eq` (every class, largest first) and `/api/rules/eq/{id}`
(a class's members with their stages). A rule's own relations are the `relations` part of its document
(`/api/rules/{vendor}/{stem}`)."""

from __future__ import annotations

from typing import TypedDict

from ruleatlas.store import relations as relations_store
from ruleatlas.web import api_schemas as schemas
from ruleatlas.web.routes import ApiError, Param, Request, RouteTable

MAX_CLASSES = 1000

CLASS_SUMMARY = schemas.obj(
    id=schemas.STRING,
    size=schemas.INTEGER,
    vendors=schemas.STRINGS,
    title=schemas.STRING,
    shape=schemas.STRING,
    stage_count=schemas.INTEGER,
)
CLASS_LIST = schemas.obj(total=schemas.INTEGER, classes=schemas.array(CLASS_SUMMARY))
CLASS_DETAIL = schemas.obj(
    id=schemas.STRING,
    size=schemas.INTEGER,
    shape=schemas.STRING,
    coverage=schemas.STRINGS,
    members=schemas.array(
        schemas.obj(
            uid=schemas.STRING,
            title=schemas.STRING,
            vendor=schemas.STRING,
            language=schemas.STRING,
            stage_count=schemas.INTEGER,
            stages=schemas.array(schemas.ANY_OBJECT),
        )
    ),
)


def register(routes: RouteTable) -> None:
    routes.api(
        "/api/rules/eq",
        classes_json,
        response=CLASS_LIST,
        summary="Equivalence classes: rules with the same canonical form, largest first",
        description="A class holds two rules or more with the same event coverage and the same comparisons "
        "after canonical field names, case-insensitive values folded and value lists sorted. Its id is a "
        "hash of that form, stable across builds.",
        params=(
            Param("limit", f"at most this many classes (default 100, at most {MAX_CLASSES})", "integer"),
            Param("offset", "skip this many classes", "integer"),
        ),
        tag="rules",
    )
    routes.api(
        "/api/rules/eq/{id}",
        class_json,
        response=CLASS_DETAIL,
        summary="One equivalence class: its members across vendors, each with its stages in its own syntax",
        tag="rules",
    )


class ClassesAnswer(TypedDict):
    total: int
    classes: list[relations_store.ClassSummary]


def classes_json(req: Request) -> ClassesAnswer:
    limit = req.int_param("limit", 100, minimum=1, maximum=MAX_CLASSES)
    offset = req.int_param("offset", 0, minimum=0)
    db = req.catalog().db
    return {
        "total": relations_store.class_count(db),
        "classes": relations_store.classes(db, limit, offset),
    }


def class_json(req: Request) -> relations_store.ClassDetail:
    key = req.args["id"]
    detail = relations_store.class_detail(req.catalog().db, key)
    if detail is None:
        raise ApiError(404, "not_found", f"no equivalence class {key!r} in the catalog")
    return detail
