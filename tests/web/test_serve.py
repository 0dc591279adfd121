"""The server: site files, redirects, 404/405, path traversal, HEAD, and the JSON API with one error shape."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from site_support import LOCALTONET_UID, FakeCatalog, ServedSite, load_docs, write_site

from ruleatlas.cli import main as cli_main
from ruleatlas.web import urls
from ruleatlas.web.serve import NO_ROUTE_MESSAGE as NO_ROUTE
from ruleatlas.web.serve import CatalogUnavailable, make_server

SECRET = "TOP-SECRET"


def request(site: ServedSite, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(site.host, site.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def raw_request(site: ServedSite, request_line: bytes) -> bytes:
    """Send bytes http.client refuses to send (a NUL in the path); return the whole response."""
    with socket.create_connection((site.host, site.port), timeout=10) as sock:
        sock.sendall(request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_home_page(served_site: ServedSite) -> None:
    status, headers, body = request(served_site, "GET", "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"<h1>Detection rules</h1>" in body
    assert int(headers["content-length"]) == len(body)
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert request(served_site, "GET", "/index.html")[2] == body
    assert request(served_site, "GET", "/?q=anything")[2] == body


def test_rule_page_and_directory_redirect(served_site: ServedSite) -> None:
    path = "/" + urls.rule_path(LOCALTONET_UID)
    status, headers, body = request(served_site, "GET", path)
    assert status == 200
    assert b"Communication To LocaltoNet Tunneling Service Initiated" in body
    status, headers, _ = request(served_site, "GET", path.rstrip("/") + "?x=1")
    assert status == 301
    assert headers["location"] == path + "?x=1"


def test_static_files_have_their_types(served_site: ServedSite) -> None:
    status, headers, body = request(served_site, "GET", "/static/style.css")
    assert (status, headers["content-type"]) == (200, "text/css; charset=utf-8")
    assert body == (served_site.site / "static" / "style.css").read_bytes()
    status, headers, _ = request(served_site, "GET", "/static/icon.svg")
    assert (status, headers["content-type"]) == (200, "image/svg+xml")


def test_unknown_paths_get_the_404_page(served_site: ServedSite) -> None:
    status, headers, body = request(served_site, "GET", "/rules/sigma/no_such_rule/")
    assert status == 404
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"Page not found" in body
    assert b'href="../../../static/style.css"' in body
    assert request(served_site, "GET", "/static/style.css/")[0] == 404  # a file is not a directory
    assert request(served_site, "GET", "/rules/")[0] == 404  # no directory listings
    assert request(served_site, "GET", "/static/")[0] == 404


TRAVERSALS = [
    "/../secret.txt",
    "/../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/.%2e/secret.txt",
    "/static/../../secret.txt",
    "/static/%2e%2e/%2e%2e/secret.txt",
    "/static/..%2f..%2fsecret.txt",
    "/static/..%2F..%2Fsecret.txt",
    "/..%5csecret.txt",
    "/static/..\\..\\secret.txt",
    "//etc/passwd",
    "/%2fetc/passwd",
    "/%252e%252e/secret.txt",
    "/index.html%00.txt",
    "/%00",
    "/%c0%ae%c0%ae/secret.txt",
    "/%ff",
    "/.hidden",
    "/static/escape-link",
    "/static/escape-dir/secret.txt",
    "http://evil.example/../secret.txt",
]


@pytest.fixture(scope="module")
def escape_links(served_site: ServedSite) -> Iterator[None]:
    """Symlinks inside the site that point outside it."""
    static = served_site.site / "static"
    (static / "escape-link").symlink_to(served_site.catalog_dir / "secret.txt")
    (static / "escape-dir").symlink_to(served_site.catalog_dir, target_is_directory=True)
    (served_site.site / ".hidden").write_text(SECRET, encoding="utf-8")
    yield
    for name in ("escape-link", "escape-dir"):
        (static / name).unlink()
    (served_site.site / ".hidden").unlink()


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_a_404(served_site: ServedSite, escape_links: None, path: str) -> None:
    for method in ("GET", "HEAD"):
        status, headers, body = request(served_site, method, path)
        assert status == 404, (method, path, status)
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert SECRET.encode() not in body
        assert b"Traceback" not in body


def test_nul_and_control_bytes_in_the_raw_path(served_site: ServedSite) -> None:
    for line in (
        b"GET /index.html\x00 HTTP/1.1",
        b"GET /st\x01atic/style.css HTTP/1.1",
        b"GET /\x00/../secret.txt HTTP/1.1",
    ):
        response = raw_request(served_site, line)
        status = int(response.split(b" ", 2)[1])
        assert status in (400, 404), (line, response[:200])
        assert SECRET.encode() not in response


def test_head_sends_headers_without_a_body(served_site: ServedSite) -> None:
    _, get_headers, body = request(served_site, "GET", "/")
    status, headers, head_body = request(served_site, "HEAD", "/")
    assert status == 200
    assert head_body == b""
    assert headers["content-length"] == get_headers["content-length"] == str(len(body))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "FOO"])
def test_other_methods_are_405(served_site: ServedSite, method: str) -> None:
    status, headers, body = request(served_site, method, "/")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    status, headers, body = request(served_site, method, "/api/rules/" + LOCALTONET_UID)
    assert status == 405
    assert json.loads(body) == {
        "error": {"status": 405, "code": "method_not_allowed", "message": f"method {method} is not allowed"}
    }


def test_api_serves_the_stored_document(served_site: ServedSite) -> None:
    status, headers, body = request(served_site, "GET", "/api/rules/" + LOCALTONET_UID)
    assert status == 200
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(body) == load_docs()[LOCALTONET_UID]
    assert request(served_site, "GET", "/api/rules/" + LOCALTONET_UID + "/")[0] == 200
    status, _, head_body = request(served_site, "HEAD", "/api/rules/" + LOCALTONET_UID)
    assert (status, head_body) == (200, b"")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/rules/sigma/no_such_rule", "no sigma rule with stem or id 'no_such_rule' in the catalog"),
        ("/api/rules/sigma", NO_ROUTE),
        ("/api/rules/sigma/a/b", NO_ROUTE),
        ("/api/rules/sigma/%2e%2e", NO_ROUTE),
        ("/api/other", NO_ROUTE),
        ("/api", NO_ROUTE),
    ],
)
def test_api_errors_have_one_shape(served_site: ServedSite, path: str, message: str) -> None:
    status, headers, body = request(served_site, "GET", path)
    assert status == 404
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(body) == {"error": {"status": 404, "code": "not_found", "message": message}}


def serve_in_thread(catalog_dir: Path, **kwargs: Any) -> tuple[Any, threading.Thread]:
    server = make_server(catalog_dir, "127.0.0.1", 0, quiet=True, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def get(server: Any, path: str) -> tuple[int, bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_api_without_a_catalog_file_is_503(tmp_path: Path) -> None:
    write_site(tmp_path, load_docs())
    server, _thread = serve_in_thread(tmp_path)  # the default opener: ruleatlas.store
    try:
        status, body = get(server, "/api/rules/" + LOCALTONET_UID)
    finally:
        server.shutdown()
        server.server_close()
    assert status == 503
    error = json.loads(body)["error"]
    assert error["code"] == "catalog_unavailable"
    assert error["message"] == f"no catalog at {tmp_path / 'catalog.sqlite'}: run `ruleatlas build` first"
    assert not (tmp_path / "catalog.sqlite").exists()  # never created by reading


def test_a_real_build_served_end_to_end(tmp_path: Path) -> None:
    """`ruleatlas build` over the fixture corpus, then its site and API through ruleatlas.store."""
    fixture = Path(__file__).resolve().parents[1] / "data" / "catalog" / "sigma"
    code = cli_main(["build", "--source", f"sigma={fixture}", "--out", str(tmp_path), "--jobs", "1"])
    assert code in (0, 1)  # 1: built, with the fixture's broken file reported
    server, _thread = serve_in_thread(tmp_path)  # the default opener: ruleatlas.store.Catalog
    try:
        home_status, _home = get(server, "/")
        listing_status, listing = get(server, "/all-rules/")
        page_status, page = get(server, "/rules/sigma/net_tunnel_a/")
        api_status, body = get(server, "/api/rules/sigma/net_tunnel_a")
        missing_status, missing = get(server, "/api/rules/sigma/nothing")
    finally:
        server.shutdown()
        server.server_close()
    assert (home_status, listing_status, page_status, api_status, missing_status) == (200, 200, 200, 200, 404)
    assert b'href="../rules/sigma/net_tunnel_a/index.html"' in listing
    doc = json.loads(body)
    assert doc["uid"] == "sigma/net_tunnel_a"
    assert f'<h1 class="rule-title" data-section="title">{doc["title"]}</h1>'.encode() in page
    assert json.loads(missing)["error"]["message"] == "no sigma rule with stem or id 'nothing' in the catalog"


def test_an_unexpected_error_is_a_plain_500(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_site(tmp_path, load_docs())

    def broken(path: Path) -> FakeCatalog:
        raise RuntimeError("secret internal detail")

    server, _thread = serve_in_thread(tmp_path, open_catalog=broken)
    try:
        status, body = get(server, "/api/rules/" + LOCALTONET_UID)
        after, _ = get(server, "/")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 500
    assert json.loads(body) == {
        "error": {"status": 500, "code": "internal_server_error", "message": "internal error"}
    }
    assert b"secret internal detail" not in body and b"Traceback" not in body
    assert after == 200  # the server goes on
    assert "RuntimeError: secret internal detail" in capsys.readouterr().err  # logged on the server side


def test_unavailable_store_module_is_503(tmp_path: Path) -> None:
    write_site(tmp_path, load_docs())

    def no_store(path: Path) -> FakeCatalog:
        raise CatalogUnavailable("the catalog store cannot be loaded (no module named ruleatlas.store)")

    server, _thread = serve_in_thread(tmp_path, open_catalog=no_store)
    try:
        status, body = get(server, "/api/rules/" + LOCALTONET_UID)
    finally:
        server.shutdown()
        server.server_close()
    assert status == 503
    assert json.loads(body)["error"]["message"].startswith("the catalog store cannot be loaded")


def test_the_catalog_is_closed_after_each_request(tmp_path: Path) -> None:
    write_site(tmp_path, load_docs())
    opened: list[FakeCatalog] = []

    def opener(path: Path) -> FakeCatalog:
        catalog = FakeCatalog(load_docs())
        opened.append(catalog)
        return catalog

    server, _thread = serve_in_thread(tmp_path, open_catalog=opener)
    try:
        assert get(server, "/api/rules/" + LOCALTONET_UID)[0] == 200
        assert get(server, "/api/rules/sigma/missing")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    assert [c.closed for c in opened] == [True, True]


def test_make_server_needs_a_site(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=f"no site at {tmp_path / 'site'}: run `ruleatlas build` first"
    ):
        make_server(tmp_path, "127.0.0.1", 0)


def test_the_server_never_writes(served_site: ServedSite) -> None:
    before = {p: p.stat().st_mtime_ns for p in served_site.catalog_dir.rglob("*") if not p.is_symlink()}
    for path in ("/", "/api/rules/" + LOCALTONET_UID, "/nothing", "/../secret.txt"):
        request(served_site, "GET", path)
    request(served_site, "POST", "/")
    after = {p: p.stat().st_mtime_ns for p in served_site.catalog_dir.rglob("*") if not p.is_symlink()}
    assert after == before


def conditional(site: ServedSite, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(site.host, site.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/static/style.css", "/" + urls.rule_path(LOCALTONET_UID), "/"])
def test_site_files_have_etags_and_answer_conditional_gets(served_site: ServedSite, path: str) -> None:
    status, headers, body = request(served_site, "GET", path)
    assert status == 200 and body
    etag, modified = headers["etag"], headers["last-modified"]
    status, again, empty = conditional(served_site, path, {"If-None-Match": etag})
    assert (status, empty) == (304, b"")
    assert again["etag"] == etag and "x-content-type-options" in again
    assert conditional(served_site, path, {"If-Modified-Since": modified})[0] == 304
    assert conditional(served_site, path, {"If-None-Match": '"other"'})[0] == 200


def test_a_rewritten_file_is_served_new_with_a_new_etag(served_site: ServedSite) -> None:
    target = served_site.site / "static" / "rewritten.txt"
    target.write_text("first version\n", encoding="utf-8")
    status, headers, body = request(served_site, "GET", "/static/rewritten.txt")
    assert (status, body) == (200, b"first version\n")
    target.write_text("the second, longer version\n", encoding="utf-8")
    status, again, body = request(served_site, "GET", "/static/rewritten.txt")
    assert (status, body) == (200, b"the second, longer version\n")
    assert again["etag"] != headers["etag"]
    target.unlink()
    assert request(served_site, "GET", "/static/rewritten.txt")[0] == 404


def test_answers_are_gzipped_when_asked(served_site: ServedSite) -> None:
    import gzip

    path = "/" + urls.rule_path(LOCALTONET_UID)
    _, _, plain = request(served_site, "GET", path)
    status, headers, body = conditional(served_site, path, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == plain and len(body) < len(plain)
    status, headers, body = conditional(
        served_site, "/api/rules/" + LOCALTONET_UID, {"Accept-Encoding": "gzip"}
    )
    assert headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body)) == load_docs()[LOCALTONET_UID]
