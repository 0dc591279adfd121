"""The ATT&CK pages of the built site (fixture corpus, tests/data/attack_views): what each page says, that
every link resolves, escaping, the incremental rebuild, and the ATT&CK API routes of the server."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.analysis.coverage import AttackFilters
from ruleatlas.build import BuildSummary, build
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.store import attack as store_attack
from ruleatlas.store import open_catalog
from ruleatlas.web import attack_answers, urls
from ruleatlas.web.serve import make_server

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE_CORPUS = DATA / "attack_views" / "sigma"
FIXTURE_ATTACK = DATA / "attack" / "enterprise-attack.json"


def build_site(corpus: Path, out: Path, attack: bool = True) -> BuildSummary:
    summary = build(
        BuildConfig(
            out=out,
            sources=[SourceSpec("sigma", corpus)],
            attack=FIXTURE_ATTACK if attack else None,
            jobs=1,
        ),
        log=io.StringIO(),
    )
    assert summary.errors == 0, summary.to_json()
    return summary


@pytest.fixture(scope="module")
def attack_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("attack-site")
    build_site(FIXTURE_CORPUS, out)
    return out


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.text: list[str] = []
        self.scripts: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("href", "src"):
            if found.get(name):
                self.links.append(found[name] or "")
        if tag == "script":
            self.scripts.append((found.get("type") or "", found.get("src") or ""))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def text_of(path: Path) -> str:
    return re.sub(r"\s+", " ", "".join(parse(path).text))


def page(site: Path, path: str) -> Path:
    return site.joinpath(*urls.page_file(path).parts)


def test_every_page_is_written(attack_site: Path) -> None:
    site = attack_site / "site"
    with open_catalog(attack_site) as catalog:
        attack = store_attack.attack_data(catalog)
    assert attack is not None
    expected = {urls.ATTACK_PATH, urls.ATTACK_GAPS_PATH}
    expected |= {urls.attack_technique_path(t) for t in attack.techniques}
    expected |= {urls.attack_tactic_path(t.id) for t in attack.tactics}
    written = {
        str(p.parent.relative_to(site)).replace(os.sep, "/") + "/"
        for p in (site / "attack").rglob("index.html")
    }
    assert written == expected
    assert len(expected) == 2 + 17 + 6


def test_every_link_resolves(attack_site: Path) -> None:
    """Relative links only (the site works from any static host and file://), each to an existing file."""
    site = attack_site / "site"
    checked = 0
    for html in (site / "attack").rglob("index.html"):
        for link in parse(html).links:
            if link.startswith(("https://", "http://")):
                assert link.startswith("https://attack.mitre.org/") or "github.com" in link, (html, link)
                continue
            if link.startswith("#"):
                continue
            assert not link.startswith("/"), (html, link)
            target = (html.parent / link.split("#", 1)[0]).resolve()
            assert target.is_file() and target.is_relative_to(site.resolve()), (html, link)
            checked += 1
    assert checked > 300


def test_matrix_page(attack_site: Path) -> None:
    path = page(attack_site / "site", urls.ATTACK_PATH)
    text = text_of(path)
    assert "7 of 9 techniques have at least one detection rule, from 9 rules." in text
    assert "left out are 1 deprecated, 1 hunting-only, 1 unsupported rules that name techniques" in text
    assert "1 detection rule names no technique" in text
    assert "T1086 PowerShell (revoked, 1 rule): counted under T1059.001" in text
    html = path.read_text(encoding="utf-8")
    # The cells as written, and the data the page's script recounts them from: unfiltered, they agree.
    cells = {
        int(n): int(count)
        for n, count in re.findall(
            r'data-c="(\d+)"[^>]*>.*?<span class="n" title="rules">(\d+)</span>', html, re.S
        )
    }
    data = json.loads(
        re.search(r'<script type="application/json" id="attack-data">(.*?)</script>', html, re.S)[1]
    )
    recount = [0] * data["cells"]
    for rule in data["rules"]:
        for cell in rule[4]:
            recount[cell] += 1
    assert cells == dict(enumerate(recount))
    assert ("", "../static/attack.js") in parse(path).scripts


def test_technique_page(attack_site: Path) -> None:
    site = attack_site / "site"
    path = page(site, urls.attack_technique_path("T1572"))
    text = text_of(path)
    for expected in (
        "T1572 Protocol Tunneling",
        "Tunnel Service Connection",
        "Tunnel Service Connection Linux",
        "Tunnel Service In Proxy Logs",
        "2 more rules tag it but are not counted (1 deprecated, 1 hunting-only)",
        "Fields filtered most",
        "Top indicator values",
        "Common exclusions",
    ):
        assert expected in text
    links = parse(path).links
    assert "../../rules/sigma/tunnel_win/index.html" in links
    assert "../tactics/TA0011/index.html" in links
    assert "https://attack.mitre.org/techniques/T1572" in links


def test_revoked_technique_page_links_its_replacement(attack_site: Path) -> None:
    path = page(attack_site / "site", urls.attack_technique_path("T1086"))
    assert (
        "Revoked by ATT&CK Replaced by T1059.001 PowerShell; rules tagging this id count there."
        in text_of(path)
    )
    assert "../T1059.001/index.html" in parse(path).links
    parent = text_of(page(attack_site / "site", urls.attack_technique_path("T1059")))
    assert "Counted here through retired ids: T1086 (1)." in parent
    assert "2 (0 tag T1059 itself)" in parent


def test_tactic_and_gaps_pages(attack_site: Path) -> None:
    site = attack_site / "site"
    tactic = text_of(page(site, urls.attack_tactic_path("TA0011")))
    assert "3 of 3 techniques have a detection rule; 4 rules in all." in tactic
    assert "T1090.001 Internal Proxy 0" in tactic
    gaps = text_of(page(site, urls.ATTACK_GAPS_PATH))
    assert "All platforms 4 of 13" in gaps
    assert "Windows 4 of" in gaps


def test_hostile_rule_text_is_escaped(attack_site: Path) -> None:
    html = page(attack_site / "site", urls.attack_technique_path("T1102")).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;technique&#34;)&lt;/script&gt; Web Service" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html


def _rule_attack_links(site: Path) -> list[tuple[Path, str]]:
    """(rule page, href) of every technique and tactic link on the rule pages."""
    found = []
    for html in (site / "rules").rglob("index.html"):
        text = html.read_text(encoding="utf-8")
        found += [(html, href) for href in re.findall(r'<a class="technique" href="([^"]+)"', text)]
        found += [(html, href) for href in re.findall(r'<div class="tactic"><a href="([^"]+)"', text)]
    return found


def test_rule_pages_link_techniques_and_tactics_to_our_pages(attack_site: Path) -> None:
    site = attack_site / "site"
    links = _rule_attack_links(site)
    assert len(links) > 10
    for html, href in links:
        assert not href.startswith(("https:", "/")), (html, href)
        target = (html.parent / href).resolve()
        assert target.is_file() and target.is_relative_to((site / "attack").resolve()), (html, href)
    hrefs = {href.rsplit("attack/", 1)[-1] for _, href in links}
    assert "T1572/index.html" in hrefs and "tactics/TA0011/index.html" in hrefs


def test_site_without_attack_data(tmp_path: Path) -> None:
    build_site(FIXTURE_CORPUS, tmp_path, attack=False)
    assert "was built without ATT&CK data" in text_of(page(tmp_path / "site", urls.ATTACK_PATH))
    assert not (tmp_path / "site" / "attack" / "T1572").exists()
    # and no rule page links into attack/, where there are no technique or tactic pages
    rule_pages = list((tmp_path / "site" / "rules").rglob("index.html"))
    assert rule_pages
    for html in rule_pages:
        for link in parse(html).links:
            assert "attack/T" not in link and "attack/tactics/" not in link, (html, link)


# -- incremental rebuilds ------------------------------------------------------------------------------------


def attack_pages(site: Path) -> list[Path]:
    return sorted((site / "attack").rglob("index.html"))


def written_since_reset(site: Path) -> list[str]:
    return [
        str(p.parent.relative_to(site)).replace(os.sep, "/") + "/"
        for p in attack_pages(site)
        if p.stat().st_mtime_ns
    ]


def reset_times(site: Path) -> None:
    for p in attack_pages(site):
        os.utime(p, ns=(0, 0))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_one_rule_rebuild_renders_only_its_techniques(tmp_path: Path) -> None:
    corpus = tmp_path / "sigma"
    shutil.copytree(FIXTURE_CORPUS, corpus)
    out = tmp_path / "out"
    build_site(corpus, out)
    site = out / "site"
    rule = corpus / "rules" / "windows" / "tunnel_win.yml"

    reset_times(site)
    edit(rule, "level: high", "level: critical")
    assert build_site(corpus, out).mode == "incremental"
    # Its techniques' pages and the matrix (which filters by level); the tactic and gaps pages did not change.
    assert sorted(written_since_reset(site)) == ["attack/", "attack/T1090/", "attack/T1572/"]
    assert "critical" in page(site, urls.attack_technique_path("T1572")).read_text(encoding="utf-8")

    reset_times(site)
    edit(rule, "- attack.t1572", "- attack.t1102")
    assert build_site(corpus, out).mode == "incremental"
    assert sorted(written_since_reset(site)) == [
        "attack/",
        "attack/T1090/",
        "attack/T1102/",
        "attack/T1572/",
        "attack/gaps/",  # T1572 lost its only Windows rule: a Windows gap now
        "attack/tactics/TA0011/",
    ]
    assert "Tunnel Service Connection<" not in page(site, urls.attack_technique_path("T1572")).read_text(
        "utf-8"
    )
    assert "Tunnel Service Connection<" in page(site, urls.attack_technique_path("T1102")).read_text("utf-8")

    reset_times(site)
    assert build_site(corpus, out).mode == "incremental"
    assert written_since_reset(site) == []


def test_a_removed_page_comes_back(tmp_path: Path) -> None:
    corpus = tmp_path / "sigma"
    shutil.copytree(FIXTURE_CORPUS, corpus)
    build_site(corpus, tmp_path / "out")
    lost = page(tmp_path / "out" / "site", urls.attack_technique_path("T1003"))
    lost.unlink()
    edit(corpus / "rules" / "windows" / "untagged.yml", "level: low", "level: medium")
    build_site(corpus, tmp_path / "out")
    assert lost.is_file()


# -- API -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(attack_site: Path) -> Iterator[str]:
    server = make_server(attack_site, "127.0.0.1", 0, quiet=True)
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def get(base: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_api_technique(api: str, attack_site: Path) -> None:
    status, body = get(api, "/api/attack/techniques/T1572")
    assert status == 200
    with open_catalog(attack_site) as catalog:
        assert body == attack_answers.technique_api(catalog, "T1572")
    status, body = get(api, "/api/attack/techniques/t1572?platform=windows&level=high,medium")
    assert status == 200
    assert [r["uid"] for r in body["rules"]] == ["sigma/tunnel_win"]
    assert body["filters"] == {
        "vendor": [],
        "platform": "Windows",
        "level": ["high", "medium"],
        "status": [],
        "validated": False,
    }


def test_api_tactic_and_gaps(api: str, attack_site: Path) -> None:
    status, body = get(api, "/api/attack/tactics/TA0011?vendor=sigma")
    assert status == 200
    assert [(c["id"], c["rules"]) for c in body["cells"]] == [("T1572", 3), ("T1090", 1), ("T1102", 1)]
    status, body = get(api, "/api/attack/gaps?platform=Windows")
    assert status == 200
    assert [g["id"] for g in body["gaps"]] == ["T1003", "T1003.001", "T1090.001", "T1547"]
    with open_catalog(attack_site) as catalog:
        assert body == attack_answers.gaps_api(catalog, AttackFilters(platform="Windows"))


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        ("/api/attack/techniques/T9999", 404, "not_found", "no technique 'T9999' in the ATT&CK data"),
        ("/api/attack/techniques/nonsense", 404, "not_found", "no technique 'nonsense' in the ATT&CK data"),
        ("/api/attack/tactics/TA0099", 404, "not_found", "no tactic 'TA0099' in the ATT&CK data"),
        ("/api/attack/gaps?platform=plan9", 400, "bad_parameter", "unknown platform 'plan9'; known: "),
        ("/api/attack/gaps?colour=red", 400, None, None),
    ],
)
def test_api_errors(api: str, path: str, status: int, code: str | None, message: str | None) -> None:
    got, body = get(api, path)
    assert got == status
    assert set(body) == {"error"} and body["error"]["status"] == status
    if code is not None:
        assert body["error"]["code"] == code
    if message is not None:
        assert body["error"]["message"].startswith(message)


def test_openapi_lists_the_attack_routes(api: str) -> None:
    status, body = get(api, "/openapi.json")
    assert status == 200
    for route in ("/api/attack/techniques/{id}", "/api/attack/tactics/{id}", "/api/attack/gaps"):
        operation = body["paths"][route]["get"]
        assert operation["tags"] == ["attack"]
        assert {p["name"] for p in operation["parameters"]} >= {"vendor", "platform", "level", "status"}
