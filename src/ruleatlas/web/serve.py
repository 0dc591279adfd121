"""`ruleatlas serve`: the built site over HTTP, read-only, plus the JSON twin of each rule page.

- `/`, `/rules/<vendor>/<stem>/`, `/static/...`: files under `<catalog>/site/` (a directory serves its
  `index.html`; without its trailing slash it redirects, so the pages' relative links resolve).
- `/api/rules/<vendor>/<stem>`: the rule's page document, read from `<catalog>/catalog.sqlite` through
  `ruleatlas.store` (the store owns all SQL; house rule 6). Errors have one shape:
  `{"error": {"status": 404, "code": "not_found", "message": "..."}}`.

Safety: a request path is decoded once and then only accepted if every segment is a plain name: no `..`,
`.`, empty segment, hidden file, encoded slash or backslash, NUL or other control character, invalid UTF-8;
the file found must still lie inside the site after symlinks are resolved. Anything else is a 404 page.
Only GET and HEAD exist (405 otherwise). An unexpected error is logged here and answered with a plain 500
page, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

from ruleatlas.web.render import SiteRenderer

SITE_DIRNAME = "site"
CATALOG_FILENAME = "catalog.sqlite"
API_RULES_PREFIX = "/api/rules/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".woff2": "font/woff2",
}
# The pages need nothing but their own origin: this header makes any inline script or style a visible
# console error in the browser tests instead of a silent habit.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cache-Control": "no-cache",
}
_FALLBACK_PAGE = (
    "<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p><a href=/>Home</a></p>"
)


class CatalogReader(Protocol):
    def rule_document(self, uid: str) -> dict[str, Any] | None: ...


CatalogOpener = Callable[[Path], CatalogReader]


class CatalogUnavailable(Exception):
    """The catalog cannot answer: no catalog file, or no store module to read it."""


def open_store_catalog(path: Path) -> CatalogReader:
    """The store's reader for `path` (the default opener). Never creates a file: a missing one is an error."""
    if not path.is_file():
        raise CatalogUnavailable(f"no catalog at {path}: run `ruleatlas build` first")
    try:
        from ruleatlas.store import Catalog  # the lead's store module; imported late so pages work without it
    except ImportError as exc:
        raise CatalogUnavailable(f"the catalog store cannot be loaded ({exc})") from exc
    catalog: CatalogReader = Catalog(path)
    return catalog


def _decode_segments(path: str) -> list[str] | None:
    """The decoded segments of an absolute URL path, or None when any is not a plain, safe name."""
    if not path.startswith("/") or "\\" in path:
        return None
    parts = path[1:].split("/")
    if parts and parts[-1] == "":
        parts.pop()  # the trailing slash of a directory
    segments = []
    for raw in parts:
        try:
            name = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        if (
            not name
            or name.startswith(".")
            or "/" in name
            or "\\" in name
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
        ):
            return None
        segments.append(name)
    return segments


class _Handler(BaseHTTPRequestHandler):
    server: RuleAtlasServer
    protocol_version = "HTTP/1.1"
    server_version = "RuleAtlas"
    sys_version = ""

    # -- dispatch -------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._respond(head_only=False)

    def do_HEAD(self) -> None:
        self._respond(head_only=True)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server looks up do_<METHOD>; every method but GET and HEAD lands here.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self) -> None:
        body, ctype = self._error_body(HTTPStatus.METHOD_NOT_ALLOWED, f"method {self.command} is not allowed")
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, body, ctype, head_only=False, extra={"Allow": "GET, HEAD"})

    def _respond(self, head_only: bool) -> None:
        try:
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            if path == "/api" or path.startswith("/api/"):
                self._api(path, head_only)
            else:
                self._site(path, head_only)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            self.server.log_error_trace(traceback.format_exc())
            body, ctype = self._error_body(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
            with contextlib.suppress(OSError):
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, body, ctype, head_only)

    # -- site files -----------------------------------------------------------------------------------------

    def _site(self, path: str, head_only: bool) -> None:
        segments = _decode_segments(path)
        target = self.server.site_file(segments) if segments is not None else None
        if target is None:
            self._not_found(head_only)
            return
        if target.is_dir():
            if not path.endswith("/"):
                query = self.path.partition("?")[2]
                location = "/" + "".join(quote(s, safe="") + "/" for s in segments or [])
                self._send(
                    HTTPStatus.MOVED_PERMANENTLY,
                    b"",
                    "text/plain; charset=utf-8",
                    head_only,
                    extra={"Location": location + (f"?{query}" if query else "")},
                )
                return
            target = self.server.contained(target / "index.html")
            if target is None:
                self._not_found(head_only)
                return
        elif path.endswith("/"):
            self._not_found(head_only)
            return
        try:
            body = target.read_bytes()
        except OSError:
            self._not_found(head_only)
            return
        ctype = CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
        self._send(HTTPStatus.OK, body, ctype, head_only)

    def _not_found(self, head_only: bool) -> None:
        try:
            html = self.server.renderer.render_not_found(self.path.split("?", 1)[0])
        except Exception:
            self.server.log_error_trace(traceback.format_exc())
            html = _FALLBACK_PAGE.format(title="Page not found")
        self._send(HTTPStatus.NOT_FOUND, html.encode("utf-8"), CONTENT_TYPES[".html"], head_only)

    # -- API ------------------------------------------------------------------------------------------------

    def _api(self, path: str, head_only: bool) -> None:
        segments = _decode_segments(path)
        if segments is None or len(segments) != 4 or segments[:2] != ["api", "rules"]:
            self._json_error(
                HTTPStatus.NOT_FOUND,
                "not_found",
                "no such API route; try /api/rules/<vendor>/<name>",
                head_only,
            )
            return
        uid = f"{segments[2]}/{segments[3]}"
        try:
            doc = self.server.rule_document(uid)
        except CatalogUnavailable as exc:
            self._json_error(HTTPStatus.SERVICE_UNAVAILABLE, "catalog_unavailable", str(exc), head_only)
            return
        if doc is None:
            self._json_error(HTTPStatus.NOT_FOUND, "not_found", f"no rule {uid!r} in the catalog", head_only)
            return
        body = json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")
        self._send(HTTPStatus.OK, body, CONTENT_TYPES[".json"], head_only)

    def _json_error(self, status: HTTPStatus, code: str, message: str, head_only: bool) -> None:
        body = json.dumps({"error": {"status": int(status), "code": code, "message": message}}).encode(
            "utf-8"
        )
        self._send(status, body, CONTENT_TYPES[".json"], head_only)

    def _error_body(self, status: HTTPStatus, message: str) -> tuple[bytes, str]:
        if self.path.startswith("/api/"):
            code = status.phrase.lower().replace(" ", "_")
            payload = {"error": {"status": int(status), "code": code, "message": message}}
            return json.dumps(payload).encode("utf-8"), CONTENT_TYPES[".json"]
        return _FALLBACK_PAGE.format(title=f"{int(status)} {status.phrase}").encode("utf-8"), CONTENT_TYPES[
            ".html"
        ]

    # -- output ---------------------------------------------------------------------------------------------

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        head_only: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head_only and body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


class RuleAtlasServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its site directory, catalog file and page renderer."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        catalog_dir: Path,
        *,
        open_catalog: CatalogOpener = open_store_catalog,
        quiet: bool = False,
    ) -> None:
        site = catalog_dir / SITE_DIRNAME
        if not site.is_dir():
            raise FileNotFoundError(f"no site at {site}: run `ruleatlas build` first")
        self.site_root = site.resolve()
        self.catalog_path = catalog_dir / CATALOG_FILENAME
        self.open_catalog = open_catalog
        self.quiet = quiet
        self.renderer = SiteRenderer()
        super().__init__(address, _Handler)

    def contained(self, path: Path) -> Path | None:
        """`path` with symlinks resolved if it exists inside the site, else None."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if real.is_relative_to(self.site_root) else None

    def site_file(self, segments: list[str]) -> Path | None:
        return self.contained(self.site_root.joinpath(*segments))

    def rule_document(self, uid: str) -> dict[str, Any] | None:
        # One reader per request: requests run on their own threads and SQLite connections do not travel.
        catalog = self.open_catalog(self.catalog_path)
        try:
            return catalog.rule_document(uid)
        finally:
            close = getattr(catalog, "close", None)
            if callable(close):
                close()

    def log_error_trace(self, text: str) -> None:
        sys.stderr.write(f"ruleatlas serve: error while answering a request\n{text}")


def make_server(
    catalog_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    open_catalog: CatalogOpener = open_store_catalog,
    quiet: bool = False,
) -> RuleAtlasServer:
    """A server for `catalog_dir` bound to (host, port) and not yet serving (port 0 picks a free port:
    read it from `server.server_address`). Raises FileNotFoundError when `catalog_dir`/site is missing."""
    return RuleAtlasServer((host, port), Path(catalog_dir), open_catalog=open_catalog, quiet=quiet)


def serve(catalog_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `catalog_dir`/site until interrupted (Ctrl+C)."""
    server = make_server(catalog_dir, host, port)
    bound_host, bound_port = server.server_address[:2]
    host_text = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
    shown = f"[{host_text}]" if ":" in host_text else host_text
    print(f"Serving {server.site_root} at http://{shown}:{bound_port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
