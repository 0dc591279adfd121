"""The JSON API over a real build: every route's answer, the OpenAPI document generated from the route
table, one error shape, and the server's answer cache following a rebuilt catalog."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from catalog_support import (
    BROWSE_CORPUS,
    LISTED_BY_DEFAULT,
    atlas_server,
    build_fixture_catalog,
    fetch,
)
from site_support import running

from ruleatlas.web import urls
from ruleatlas.web.routes import ApiError, Param, Request, Response, RouteTable, default_routes
from ruleatlas.web.serve import make_server

ANY: dict[str, Any] = {}  # a response schema that accepts any answer


def get_json(base: str, path: str, status: int = 200) -> Any:
    code, headers, body = fetch(base, path)
    assert code == status, (path, code, body[:300])
    assert headers["content-type"] == "application/json; charset=utf-8"
    return json.loads(body)


def test_rules_list_with_facets(browse_served: str) -> None:
    answer = get_json(browse_served, "/api/rules")
    assert answer["total"] == LISTED_BY_DEFAULT and answer["page"] == 1
    facets = {name: {f["value"]: f["rules"] for f in values} for name, values in answer["facets"].items()}
    assert facets["product"] == {"windows": 7, "linux": 2, "aws": 1}  # the hunting query left out
    assert facets["status"]["deprecated"] == 1  # pickable, though not listed by default
    assert facets["kind"]["hunting"] == 1  # the same
    assert facets["technique"]["T1059"] == 3 and facets["tactic"]["TA0002"] == 4
    first = answer["rules"][0]
    assert set(first) == {
        "uid", "title", "vendor", "status", "level", "kind", "product", "logsource", "created", "modified",
        "techniques", "tactics",
    }  # fmt: skip


def test_rules_filters_sort_and_pages(browse_served: str) -> None:
    answer = get_json(browse_served, "/api/rules?level=high&level=critical&product=windows&sort=level")
    assert [r["level"] for r in answer["rules"]] == ["critical", "high", "high"]
    answer = get_json(browse_served, "/api/rules?technique=t1059&tactic=execution&per_page=2&page=2")
    assert (answer["total"], answer["pages"], len(answer["rules"])) == (3, 2, 1)
    assert get_json(browse_served, "/api/rules?status=deprecated")["total"] == 1
    assert get_json(browse_served, "/api/rules?retired=true")["total"] == 12
    assert get_json(browse_served, "/api/rules?product=(none)")["total"] == 0
    past = get_json(browse_served, "/api/rules?page=99999999999999999")
    assert past["rules"] == [] and past["total"] == LISTED_BY_DEFAULT


def test_one_rule(browse_served: str) -> None:
    doc = get_json(browse_served, "/api/rules/sigma/proc_creation_win_powershell_encoded")
    assert doc["title"] == "Suspicious PowerShell Encoded Command"
    image = next(i for i in doc["indicators"] if i["field"] == "Image")
    assert image["corpus"] == {"total": 3, "by_vendor": {"sigma": 3}}


def test_one_rule_by_its_id(browse_served: str) -> None:
    by_id = get_json(browse_served, "/api/rules/sigma/5b1a0001-0000-4000-8000-000000000002")
    assert by_id["uid"] == "sigma/proc_creation_win_mimikatz_cli"
    assert (
        get_json(browse_served, "/api/rules/sigma/5B1A0001-0000-4000-8000-000000000002")["uid"]
        == by_id["uid"]
    )
    missing = get_json(browse_served, "/api/rules/sigma/5b1a0001-0000-4000-8000-00000000ffff", 404)
    assert missing["error"]["message"] == (
        "no sigma rule with stem or id '5b1a0001-0000-4000-8000-00000000ffff' in the catalog"
    )
    get_json(browse_served, "/api/rules/elastic/5b1a0001-0000-4000-8000-000000000002", 404)


def test_search_by_id_and_by_one_indicator(browse_served: str) -> None:
    answer = get_json(browse_served, "/api/search?q=5b1a0001-0000-4000-8000-000000000002")
    assert answer["results"][0]["uid"] == "sigma/proc_creation_win_mimikatz_cli"
    assert answer["results"][0]["named_by"] == "rule id"
    answer = get_json(browse_served, "/api/search?q=" + quote("field:Image exclusion:admin_tool"))
    [result] = answer["results"]
    assert result["matched"][0]["exclusion"] is True and result["matched"][0]["field"] == "Image"


def test_search(browse_served: str) -> None:
    answer = get_json(browse_served, "/api/search?q=" + quote("powersh level:high"))
    assert [r["uid"] for r in answer["results"]] == ["sigma/proc_creation_win_powershell_encoded"]
    assert answer["results"][0]["title_html"] == "Suspicious <mark>PowerShell</mark> Encoded Command"
    assert answer["parsed"] == {"words": ["powersh"], "filters": {"level": ["high"]}}
    assert get_json(browse_served, "/api/search")["total"] == 0
    assert get_json(browse_served, "/api/search?q=powershell&retired=1")["total"] == 4


def test_indicators(browse_served: str) -> None:
    answer = get_json(
        browse_served, "/api/indicators?field=Image&kind=ends_with&value=" + quote("\\powershell.exe")
    )
    (found,) = answer["indicators"]
    assert found["corpus"] == {"total": 3, "by_vendor": {"sigma": 3}}
    assert len(found["rules"]) == 4 and found["excluded_by"] == []
    assert found["page"] == urls.indicator_path("Image", "ends_with", "\\powershell.exe")
    assert (browse_served_has := fetch(browse_served, "/" + found["page"])[0]) == 200, browse_served_has
    excluded = get_json(browse_served, "/api/indicators?value=" + quote("\\admin_tool.exe"))["indicators"][0]
    assert [r["uid"] for r in excluded["excluded_by"]] == ["sigma/proc_creation_win_mimikatz_cli"]
    assert excluded["page"].startswith(urls.indicator_list_path("Image", "ends_with") + "#")
    keyword = get_json(browse_served, "/api/indicators?field=&value=mimipenguin")["indicators"][0]
    assert keyword["field"] is None and keyword["rules"][0]["uid"] == "sigma/auditd_lnx_keyword"
    assert get_json(browse_served, "/api/indicators?value=nothing-like-this")["indicators"] == []
    error = get_json(browse_served, "/api/indicators?kind=eq", 400)
    assert error == {
        "error": {"status": 400, "code": "missing_parameter", "message": "give a field, a value, or both"}
    }


def test_fields(browse_served: str) -> None:
    fields = get_json(browse_served, "/api/fields")["fields"]
    assert {"field": "CommandLine", "rules": 6, "values": 8, "page": "fields/CommandLine/"} in fields
    detail = get_json(browse_served, "/api/fields/Image")
    assert detail["kinds"] == [{"kind": "ends_with", "rules": 6, "values": 3}]
    assert get_json(browse_served, "/api/fields/~keyword")["field"] is None
    hostile = next(f for f in fields if f["field"] and f["field"].startswith("<img"))
    slug = hostile["page"].split("/")[1]
    assert get_json(browse_served, f"/api/fields/{slug}")["field"] == "<img src=x onerror=alert(5)>"
    assert (
        get_json(browse_served, "/api/fields/" + quote("<img src=x onerror=alert(5)>", safe=""))["rules"] == 1
    )
    missing = get_json(browse_served, "/api/fields/Nope", 404)
    assert missing["error"]["message"] == "no rule uses the field 'Nope'"


def test_attack_matrix_and_stats(browse_served: str) -> None:
    matrix = get_json(browse_served, "/api/attack/matrix")
    tactics = {t["id"]: t for t in matrix["tactics"]}
    execution = {c["id"]: c for c in tactics["TA0002"]["cells"]}
    assert execution["T1059"]["rules"] == 3  # detection rules only: the hunting one is left out
    assert [s["id"] for s in execution["T1059"]["subtechniques"]] == ["T1059.001"]
    assert get_json(browse_served, "/api/attack/matrix?platform=linux")["filters"]["platform"] == "Linux"
    assert (
        get_json(browse_served, "/api/attack/matrix?platform=amiga", 400)["error"]["code"] == "bad_parameter"
    )
    stats = get_json(browse_served, "/api/stats")
    assert stats["rules"] == 12 and stats["per_product"] == {"windows": 9, "linux": 2, "aws": 1}
    assert stats["sources"][0]["vendor"] == "sigma" and stats["built_at"]


def test_openapi_is_generated_from_the_route_table(browse_served: str, browse_catalog: Path) -> None:
    doc = get_json(browse_served, "/openapi.json")
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "RuleAtlas API"
    table_paths = {r.pattern for r in default_routes().api_routes()}
    assert set(doc["paths"]) == table_paths
    for path in (
        "/api/rules", "/api/rules/{vendor}/{stem}", "/api/search", "/api/indicators", "/api/fields/{field}",
        "/api/attack/matrix", "/api/stats",
    ):  # fmt: skip
        assert path in doc["paths"], path
    rules = doc["paths"]["/api/rules"]["get"]
    names = {p["name"]: p for p in rules["parameters"]}
    assert names["level"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert names["sort"]["schema"]["enum"] == ["title", "level", "modified", "created", "uid"]
    one = doc["paths"]["/api/rules/{vendor}/{stem}"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in one] == [
        ("vendor", "path", True),
        ("stem", "path", True),
    ]
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, item in doc["paths"].items():  # every operation is documented and can fail with 4xx
        op = item["get"]
        assert op["summary"] and op["operationId"] and {"200", "400", "404"} <= set(op["responses"]), path
    # the static site carries the same document (without a server it is the API's description)
    assert json.loads((browse_catalog / "site" / "openapi.json").read_text()) == doc


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/rules?bogus=1", 400, "unknown_parameter"),
        ("/api/rules?page=abc", 400, "bad_parameter"),
        ("/api/rules?page=-3", 400, "bad_parameter"),
        ("/api/rules?page=0", 400, "bad_parameter"),
        ("/api/rules?sort=random", 400, "bad_parameter"),
        ("/api/rules?retired=maybe", 400, "bad_parameter"),
        ("/api/rules?page=1&page=2", 400, "bad_parameter"),
        ("/api/search?q=%ff%fe", 400, "bad_query"),
        ("/api/search?q=" + "x" * 5000, 400, "parameter_too_long"),
        ("/api/search?q=a%00b", 400, "bad_parameter"),
        ("/api/search?" + "&".join(f"q{i}=1" for i in range(100)), 400, "bad_query"),
        ("/api/stats?x=1", 400, "unknown_parameter"),
        ("/api/nothing", 404, "not_found"),
        ("/api/rules/sigma/%ff", 404, "not_found"),
    ],
)
def test_bad_requests_are_4xx_json(browse_served: str, path: str, status: int, code: str) -> None:
    answer = get_json(browse_served, path, status)
    assert answer["error"]["status"] == status and answer["error"]["code"] == code
    assert "Traceback" not in answer["error"]["message"]


def test_mode_script_says_the_api_is_there(browse_served: str, browse_catalog: Path) -> None:
    status, headers, body = fetch(browse_served, "/data/mode.js")
    assert (status, headers["content-type"], body) == (
        200, "text/javascript; charset=utf-8", b'window.RuleAtlasMode={"api":true};\n',
    )  # fmt: skip
    assert (
        browse_catalog / "site" / "data" / "mode.js"
    ).read_text() == 'window.RuleAtlasMode={"api":false};\n'


def test_answers_follow_a_rebuilt_catalog(tmp_path: Path) -> None:
    """The server caches answers per catalog file: a rebuild (a new file) must never be answered stale."""
    corpus = tmp_path / "sigma"
    shutil.copytree(BROWSE_CORPUS, corpus)
    out = build_fixture_catalog(tmp_path / "out", corpus)
    with running(atlas_server(out)) as base:
        assert get_json(base, "/api/search?q=zebracorn")["total"] == 0
        before = fetch(base, "/rules/")[2]
        rule = corpus / "rules" / "windows" / "net_connection_win_tunnel.yml"
        rule.write_text(
            rule.read_text().replace("Tunnel Service Connection", "Zebracorn Link"), encoding="utf-8"
        )
        build_fixture_catalog(out, corpus)
        assert get_json(base, "/api/search?q=zebracorn")["total"] == 1
        assert get_json(base, "/api/rules/sigma/net_connection_win_tunnel")["title"] == "Zebracorn Link"
        assert fetch(base, "/rules/sigma/net_connection_win_tunnel/")[2].count(b"Zebracorn Link") >= 1
        assert fetch(base, "/rules/")[2] == before  # unchanged files are still served


def test_concurrent_identical_requests_compute_once(browse_catalog: Path) -> None:
    """Single flight: 20 threads asking for one new answer at once run its handler once."""
    calls: list[int] = []
    gate = threading.Event()

    def slow(req: Request) -> dict[str, int]:
        calls.append(1)
        gate.wait(5)
        return {"n": len(calls)}

    table = default_routes()
    table.api("/api/slow", slow, summary="test", response={"type": "object"})
    with running(make_server(browse_catalog, "127.0.0.1", 0, quiet=True, routes=table)) as base:
        answers: list[Any] = []
        threads = [
            threading.Thread(target=lambda: answers.append(get_json(base, "/api/slow"))) for _ in range(20)
        ]
        for t in threads:
            t.start()
        threading.Timer(0.5, gate.set).start()
        for t in threads:
            t.join(10)
    assert calls == [1] and answers == [{"n": 1}] * 20


def test_route_table_rules() -> None:
    table = RouteTable()
    table.api("/api/things/{id}", lambda req: {"id": req.args["id"]}, summary="one", response=ANY)
    table.api("/api/things/new", lambda req: "new", summary="the literal wins", response=ANY)
    table.page("/data/x.js", lambda req: Response(200, b"", "text/javascript"))
    assert table.match(["api", "things", "new"])[0].pattern == "/api/things/new"  # type: ignore[index]
    route, args = table.match(["api", "things", "42"])  # type: ignore[misc]
    assert (route.pattern, args) == ("/api/things/{id}", {"id": "42"})
    assert table.match(["api", "things"]) is None
    with pytest.raises(ValueError, match="already registered"):
        table.api("/api/things/{other}", lambda req: 1, summary="same shape", response=ANY)
    with pytest.raises(ValueError, match="absolute path"):
        table.api("api/x", lambda req: 1, summary="relative", response=ANY)
    req = Request("/x", {}, {"n": ["12"], "b": ["yes"], "bad": ["1x"]}, lambda: None)
    assert req.int_param("n", 1, minimum=1, maximum=10) == 10 and req.bool_param("b") is True
    with pytest.raises(ApiError, match="bad must be an integer"):
        req.int_param("bad", 1)
    assert Param("x", "y").type == "string"
