"""The ATT&CK routes of the JSON API: one technique, one tactic, and the coverage gaps, filtered on the
server by vendor, platform, level and status. Each answer is the object the matching site page is built
from (`ruleatlas.store.attack` reads, `ruleatlas.analysis.coverage` / `technique_guide` count).
"""

from __future__ import annotations

from ruleatlas.analysis.coverage import AttackFilters, data_platforms, parse_list, resolve_platform
from ruleatlas.analysis.coverage_matrix import GapsReport, TacticReport
from ruleatlas.analysis.technique_guide import TechniqueReport
from ruleatlas.store import attack as store_attack
from ruleatlas.web import api_schemas as schemas
from ruleatlas.web import attack_answers
from ruleatlas.web.routes import ApiError, Param, Request, RouteTable

FILTER_PARAMS = (
    Param("vendor", "only rules of these vendors (repeat, or separate with commas)", repeated=True),
    Param("platform", "only rules for this ATT&CK platform (windows, linux, macos, iaas, ...)"),
    Param("level", "only rules of these levels (repeat, or separate with commas)", repeated=True),
    Param("status", "only rules of these statuses (repeat, or separate with commas)", repeated=True),
    Param("validated", "1: only rules some log sample fires (the build's fires-on pass)"),
)
COUNTING = (
    "Detection rules only: deprecated, unsupported, hunting, filter, enrichment and alert-feed rules are "
    "left out (listed under "
    "`left_out`). A parent technique counts its sub-techniques' rules; a rule tagging a revoked technique "
    "counts under its replacement."
)


def register(routes: RouteTable) -> None:
    routes.api(
        "/api/attack/techniques/{id}",
        technique_json,
        response=schemas.TECHNIQUE,
        summary="One ATT&CK technique: its rules, events and authoring guide",
        description="ATT&CK facts (tactics, platforms, data components, description), the rules covering the "
        "technique grouped by vendor, the catalog events they read, the fields they filter on, their most "
        "shared indicators with corpus reach, and their common exclusions. " + COUNTING,
        params=FILTER_PARAMS,
        tag="attack",
    )
    routes.api(
        "/api/attack/tactics/{id}",
        tactic_json,
        response=schemas.TACTIC,
        summary="One ATT&CK tactic: its techniques with rule counts",
        description=COUNTING,
        params=FILTER_PARAMS,
        tag="attack",
    )
    routes.api(
        "/api/attack/gaps",
        gaps_json,
        response=schemas.GAPS,
        summary="Active ATT&CK techniques with no detection rule",
        description="For all platforms, or one (`platform`); a technique covered only through its "
        "sub-techniques is no gap. " + COUNTING,
        params=FILTER_PARAMS,
        tag="attack",
    )


def request_filters(req: Request) -> AttackFilters:
    """The vendor / platform / level / status query parameters as filters (400 for an unknown platform)."""
    platform = req.param("platform").strip()
    if platform:
        attack = store_attack.attack_data(req.catalog())
        resolved = resolve_platform(platform, attack) if attack is not None else None
        if resolved is None:
            known = ", ".join(data_platforms(attack)) if attack is not None else "none"
            raise ApiError(400, "bad_parameter", f"unknown platform {platform[:60]!r}; known: {known}")
        platform = resolved
    return AttackFilters(
        vendors=parse_list(req.params("vendor")),
        platform=platform,
        levels=parse_list(req.params("level")),
        statuses=parse_list(req.params("status")),
        validated=req.param("validated").strip().lower() in ("1", "true", "yes"),
    )


_filters = request_filters  # the name web/api.py imported first


def _no_attack() -> ApiError:
    return ApiError(404, "no_attack_data", "the catalog was built without ATT&CK data (build with --attack)")


def technique_json(req: Request) -> TechniqueReport:
    catalog = req.catalog()
    if store_attack.attack_data(catalog) is None:
        raise _no_attack()
    technique_id = req.args["id"].strip().upper()
    found = attack_answers.technique_api(catalog, technique_id, request_filters(req))
    if found is None:
        raise ApiError(404, "not_found", f"no technique {req.args['id'][:40]!r} in the ATT&CK data")
    return found


def tactic_json(req: Request) -> TacticReport:
    catalog = req.catalog()
    if store_attack.attack_data(catalog) is None:
        raise _no_attack()
    found = attack_answers.tactic_api(catalog, req.args["id"], request_filters(req))
    if found is None:
        raise ApiError(404, "not_found", f"no tactic {req.args['id'][:40]!r} in the ATT&CK data")
    return found


def gaps_json(req: Request) -> GapsReport:
    catalog = req.catalog()
    found = attack_answers.gaps_api(catalog, request_filters(req))
    if found is None:
        raise _no_attack()
    return found
