"""The API of the collection views (web/collection_views.py), the JSON twins of their pages:

- `/api/telemetry/priority`: every platform's events ranked by collection priority (`telemetry/priority/`),
  `?platform=` for one platform, `?limit=` events per platform;
- `/api/coverage/{platform}`: a platform's coverage matrix (`coverage/<platform>/`).

An event's own priority and bridges are the `collection`, `collect` and `also_seen_as` fields of
`/api/telemetry/events/{provider}/{event}` (web/telemetry_api.py).
"""

from __future__ import annotations

from ruleatlas.web import api_schemas as schemas
from ruleatlas.web.collection_views import (
    CoverageMatrixView,
    PriorityView,
    coverage_matrix_view,
    priority_view,
)
from ruleatlas.web.routes import ApiError, Param, Request, RouteTable
from ruleatlas.web.telemetry_api import atlas_of

TAG = "telemetry"
MAX_LIMIT = 100_000

PRIORITY = schemas.typed(PriorityView, "events ranked by collection priority, per platform, with the formula")
COVERAGE = schemas.typed(
    CoverageMatrixView,
    "a platform's coverage matrix: events with rules by vendor, and rules not attributed to one event",
)


def register(routes: RouteTable) -> None:
    routes.api(
        "/api/telemetry/priority",
        priority_json,
        response=PRIORITY,
        summary="Events ranked by collection priority (the detection rules each enables), per platform",
        description="priority = Σ over the rules an event can serve of 2^level-rank ÷ (parts the rule "
        "needs × events that can serve that part); see `formula` in the answer.",
        params=[
            Param("platform", "only this platform (`windows`, `aws`, `okta`...)"),
            Param("limit", "events listed per platform (default 50)", type="integer"),
        ],
        tag=TAG,
    )
    routes.api(
        "/api/coverage/{platform}",
        coverage_json,
        response=COVERAGE,
        summary="A platform's coverage matrix: every event with its rules by vendor, and the rules that "
        "cannot be attributed to one event, grouped by the reason",
        description="`platform` is its key: `windows`, `aws`, `gcp`, `kubernetes`, `auditd`, `okta`, ...",
        tag=TAG,
    )


def priority_json(req: Request) -> PriorityView:
    atlas = atlas_of(req)
    view = priority_view(atlas, req.int_param("limit", 50, minimum=1, maximum=MAX_LIMIT))
    wanted = req.param("platform").strip()
    if wanted:
        view["platforms"] = [p for p in view["platforms"] if p["key"] == wanted]
        if not view["platforms"]:
            raise ApiError(404, "not_found", f"no event of platform {wanted[:60]!r} is needed by a rule")
    return view


def coverage_json(req: Request) -> CoverageMatrixView:
    view = coverage_matrix_view(atlas_of(req), req.args["platform"])
    if view is None:
        raise ApiError(404, "not_found", f"no telemetry platform {req.args['platform'][:60]!r}")
    return view
