"""`ruleatlas serve`: the built site over HTTP, read-only, plus the JSON API.

- Routes first (`ruleatlas.web.routes`: the table other modules register their API endpoints and computed
  pages in; `/openapi.json` is generated from it). API answers come from `<catalog>/catalog.sqlite` through
  `ruleatlas.store` (the store owns all SQL; house rule 6). Errors have one shape:
  `{"error": {"status": 404, "code": "not_found", "message": "..."}}`.
- Any other path is a file under `<catalog>/site/` (a directory serves its `index.html`; without its
  trailing slash it redirects, so the pages' relative links resolve).
- A build publishes a new generation of the catalog folder by swapping one pointer
  (`ruleatlas.output.generation`); each request resolves the current generation once, when it starts, and
  reads the catalog and the site files of that generation only, so pages and API answers always agree.

Safety: a request path is decoded once and then only accepted if every segment is a plain name: no `..`,
`.`, empty segment, hidden file, encoded slash or backslash, NUL or other control character, invalid UTF-8;
the file found must still lie inside the site after symlinks are resolved. Anything else is a 404 page.
A query string must be UTF-8, name only the route's parameters and hold no value over
`routes.MAX_PARAM_CHARS` characters (else a 400). Only GET and HEAD exist (405 otherwise). An unexpected
error is logged here and answered with a plain 500 page, never a traceback.

Speed (bench/serve.py): one process per core (`serve(workers=)`, sharing the listening socket), each a
threaded server with HTTP/1.1 keep-alive and at most WORK_SLOTS threads answering at once; catalog
connections are pooled (reused, dropped when the build replaces the file); site files (checked against
their modification time) and API answers (keyed by the catalog file's identity, so a rebuilt catalog is
never answered stale) are kept in bounded in-memory LRU caches, and a missing answer is computed once
however many threads ask for it at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote

from ruleatlas.output.generation import current_generation
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.routes import (
    MAX_PARAM_CHARS,
    ApiError,
    Request,
    Response,
    Route,
    RouteTable,
    default_routes,
)

SITE_DIRNAME = "site"
CATALOG_FILENAME = "catalog.sqlite"
API_RULES_PREFIX = "/api/rules/"
NO_ROUTE_MESSAGE = "no such API route; try /api/rules/<vendor>/<name>, or see /openapi.json"

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
WORK_SLOTS = 4
CACHE_BYTES = 64 * 1024 * 1024  # per cache (site files, API answers)
CACHE_ENTRY_BYTES = 4 * 1024 * 1024  # larger answers are sent but not kept


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


def parse_query(query: str, route: Route) -> dict[str, list[str]]:
    """The query string as name -> values, checked against the route's declared parameters."""
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


class _LruCache:
    """A thread-safe LRU of answers, bounded in total bytes, emptied when `generation` changes (the
    catalog file was replaced)."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.generation: object = None
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any, generation: object) -> Any:
        with self.lock:
            if generation != self.generation:
                self.items.clear()
                self.size = 0
                self.generation = generation
                return None
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any, size: int, generation: object) -> None:
        if size > CACHE_ENTRY_BYTES:
            return
        with self.lock:
            if generation != self.generation:
                return
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self.items[key] = (value, size)
            self.size += size
            while self.size > self.max_bytes and self.items:
                _, (_, dropped) = self.items.popitem(last=False)
                self.size -= dropped


class _Handler(BaseHTTPRequestHandler):
    server: RuleAtlasServer
    protocol_version = "HTTP/1.1"
    server_version = "RuleAtlas"
    sys_version = ""

    # -- dispatch -------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        with self.server.work_slots:
            self._respond(head_only=False)

    def do_HEAD(self) -> None:
        with self.server.work_slots:
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
        self.server.pin_generation()
        try:
            target = self.path.split("#", 1)[0]
            path, _, query = target.partition("?")
            segments = _decode_segments(path)
            found = self.server.routes.match(segments) if segments is not None else None
            if found is not None:
                route, args = found
                if route.kind == "api":
                    self._api(route, args, path, query, head_only)
                else:
                    self._page(route, args, path, query, head_only)
            elif path == "/api" or path.startswith("/api/"):
                self._json_error(HTTPStatus.NOT_FOUND, "not_found", NO_ROUTE_MESSAGE, head_only)
            else:
                self._site(path, segments, head_only)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            self.server.log_error_trace(traceback.format_exc())
            self.close_connection = True
            body, ctype = self._error_body(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
            with contextlib.suppress(OSError):
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, body, ctype, head_only)

    # -- site files -----------------------------------------------------------------------------------------

    def _site(self, path: str, segments: list[str] | None, head_only: bool) -> None:
        cached = self.server.file_cache.get(path, self.server.site_root)
        if cached is not None:
            real, stamp, body, ctype = cached[0]
            if _stamp(real) == stamp:  # the build may have rewritten the file since
                self._send(HTTPStatus.OK, body, ctype, head_only)
                return
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
            stamp = _stamp(target)
            body = target.read_bytes()
        except OSError:
            self._not_found(head_only)
            return
        ctype = CONTENT_TYPES.get(target.suffix.lower(), "application/octet-stream")
        if stamp is not None:
            self.server.file_cache.put(path, (target, stamp, body, ctype), len(body), self.server.site_root)
        self._send(HTTPStatus.OK, body, ctype, head_only)

    def _not_found(self, head_only: bool) -> None:
        try:
            html = self.server.renderer.render_not_found(self.path.split("?", 1)[0])
        except Exception:
            self.server.log_error_trace(traceback.format_exc())
            html = _FALLBACK_PAGE.format(title="Page not found")
        self._send(HTTPStatus.NOT_FOUND, html.encode("utf-8"), CONTENT_TYPES[".html"], head_only)

    # -- routes ---------------------------------------------------------------------------------------------

    def _api(self, route: Route, args: dict[str, str], path: str, query: str, head_only: bool) -> None:
        generation = self.server.catalog_generation()
        key = (route.pattern, path.rstrip("/"), query)
        use_cache = route.cache and generation is not None
        cached = self.server.api_cache.get(key, generation) if use_cache else None
        if cached is None and use_cache:
            # Single flight: while one thread computes an answer, the same request from others waits for
            # it instead of computing it again (200 clients asking for one new page at once).
            with self.server.flight(key) as leader:
                if not leader:
                    cached = self.server.api_cache.get(key, generation)
                if cached is None:
                    cached = (self._compute(route, args, path, query), 0)
                    status, body = cached[0]
                    if status != HTTPStatus.SERVICE_UNAVAILABLE:
                        self.server.api_cache.put(key, (status, body), len(body), generation)
        elif cached is None:
            cached = (self._compute(route, args, path, query), 0)
        status, body = cached[0]
        self._send(status, body, CONTENT_TYPES[".json"], head_only)

    def _compute(self, route: Route, args: dict[str, str], path: str, query: str) -> tuple[HTTPStatus, bytes]:
        try:
            with self.server.catalog_session() as open_catalog:
                request = Request(path, args, parse_query(query, route), open_catalog)
                result = route.handler(request)
            return HTTPStatus.OK, _json_bytes(result)
        except ApiError as exc:
            return HTTPStatus(exc.status), _error_json(exc.status, exc.code, exc.message)
        except CatalogUnavailable as exc:
            code = HTTPStatus.SERVICE_UNAVAILABLE
            return code, _error_json(int(code), "catalog_unavailable", str(exc))

    def _page(self, route: Route, args: dict[str, str], path: str, query: str, head_only: bool) -> None:
        with self.server.catalog_session() as open_catalog:
            response: Response = route.handler(Request(path, args, {}, open_catalog))
        status = HTTPStatus(response.status)
        self._send(status, response.body, response.content_type, head_only, response.headers)

    def _json_error(self, status: HTTPStatus, code: str, message: str, head_only: bool) -> None:
        self._send(status, _error_json(int(status), code, message), CONTENT_TYPES[".json"], head_only)

    def _error_body(self, status: HTTPStatus, message: str) -> tuple[bytes, str]:
        if self.path.startswith("/api/"):
            code = status.phrase.lower().replace(" ", "_")
            return _error_json(int(status), code, message), CONTENT_TYPES[".json"]
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
        # One write for the status line, headers and body: a response in several small packets costs
        # a round of Nagle/delayed-ACK waiting per request on a keep-alive connection.
        lines = [
            f"{self.protocol_version} {int(status)} {status.phrase}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
            *(f"{name}: {value}" for name, value in (extra or {}).items()),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        self.log_request(int(status), len(body))
        self.wfile.write(head + body if not head_only and body else head)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error_json(status: int, code: str, message: str) -> bytes:
    return json.dumps({"error": {"status": status, "code": code, "message": message}}).encode("utf-8")


class RuleAtlasServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its site directory, catalog file, routes and page renderer."""

    daemon_threads = True
    request_queue_size = 512  # 200 clients connecting at once must not find the listen backlog full

    def __init__(
        self,
        address: tuple[str, int],
        catalog_dir: Path,
        *,
        open_catalog: CatalogOpener = open_store_catalog,
        quiet: bool = False,
        routes: RouteTable | None = None,
    ) -> None:
        site = catalog_dir / SITE_DIRNAME
        if not site.is_dir():
            raise FileNotFoundError(f"no site at {site}: run `ruleatlas build` first")
        self.catalog_dir = catalog_dir
        self._pinned = threading.local()  # the generation (site root, catalog file) of this thread's request
        self._generations: dict[Path, tuple[Path, Path]] = {}
        self.open_catalog = open_catalog
        self.quiet = quiet
        self.renderer = SiteRenderer()
        self.routes = routes if routes is not None else default_routes()
        # Only the store's own reader is pooled: another opener (a test's stand-in) is opened and closed
        # around every request, as it always was.
        self.pool_catalogs = open_catalog is open_store_catalog
        self._idle: list[tuple[object, Any]] = []
        self._idle_lock = threading.Lock()
        self.file_cache = _LruCache()
        self.api_cache = _LruCache()
        # Threads that answer at once. Python runs one thread at a time; with 200 connections all working,
        # a thread that lets go of the interpreter (every SQLite step does) can wait seconds to get it back,
        # so the others wait here instead, outside the interpreter's scheduling.
        self.work_slots = threading.BoundedSemaphore(WORK_SLOTS)
        self._flights: dict[Any, threading.Event] = {}
        self._flights_lock = threading.Lock()
        super().__init__(address, _Handler)

    # -- generations ----------------------------------------------------------------------------------------

    def pin_generation(self) -> None:
        """Resolve the current generation for the request this thread starts answering."""
        self._pinned.value = self._generation()

    def _generation(self) -> tuple[Path, Path]:
        folder = current_generation(self.catalog_dir)
        found = self._generations.get(folder)
        if found is None:
            found = self._generations[folder] = ((folder / SITE_DIRNAME).resolve(), folder / CATALOG_FILENAME)
        return found

    def _current(self) -> tuple[Path, Path]:
        pinned: tuple[Path, Path] | None = getattr(self._pinned, "value", None)
        return pinned if pinned is not None else self._generation()

    @property
    def site_root(self) -> Path:
        return self._current()[0]

    @property
    def catalog_path(self) -> Path:
        return self._current()[1]

    # -- files ----------------------------------------------------------------------------------------------

    def contained(self, path: Path) -> Path | None:
        """`path` with symlinks resolved if it exists inside the site, else None."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if real.is_relative_to(self.site_root) else None

    def site_file(self, segments: list[str]) -> Path | None:
        return self.contained(self.site_root.joinpath(*segments))

    # -- catalog --------------------------------------------------------------------------------------------

    def catalog_generation(self) -> object:
        try:
            st = os.stat(self.catalog_path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    @contextlib.contextmanager
    def flight(self, key: Any) -> Any:
        """Yields True to the first thread asking for `key` (it computes), False to the others, who get
        in only once the first is done (or after 30 s)."""
        with self._flights_lock:
            event = self._flights.get(key)
            leader = event is None
            if leader:
                event = self._flights[key] = threading.Event()
        assert event is not None
        if not leader:
            event.wait(timeout=30)
        try:
            yield leader
        finally:
            if leader:
                with self._flights_lock:
                    self._flights.pop(key, None)
                event.set()

    @contextlib.contextmanager
    def catalog_session(self) -> Any:
        """Yields a function that opens (once) the catalog for one request, and releases it after."""
        held: list[tuple[object, Any]] = []

        def get() -> Any:
            if not held:
                held.append(self._acquire())
            return held[0][1]

        try:
            yield get
        finally:
            if held:
                self._release(*held[0])

    def _acquire(self) -> tuple[object, Any]:
        generation = self.catalog_generation()
        if self.pool_catalogs:
            with self._idle_lock:
                while self._idle:
                    gen, catalog = self._idle.pop()
                    if gen == generation:
                        return gen, catalog
                    _close(catalog)
        return generation, self.open_catalog(self.catalog_path)

    def _release(self, generation: object, catalog: Any) -> None:
        if self.pool_catalogs and generation == self.catalog_generation():
            with self._idle_lock:
                if len(self._idle) < 64:
                    self._idle.append((generation, catalog))
                    return
        _close(catalog)

    def rule_document(self, uid: str) -> dict[str, Any] | None:
        with self.catalog_session() as open_catalog:
            doc: dict[str, Any] | None = open_catalog().rule_document(uid)
            return doc

    def log_error_trace(self, text: str) -> None:
        sys.stderr.write(f"ruleatlas serve: error while answering a request\n{text}")

    def server_close(self) -> None:
        super().server_close()
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for _, catalog in idle:
            _close(catalog)


def _close(catalog: Any) -> None:
    close = getattr(catalog, "close", None)
    if callable(close):
        close()


def make_server(
    catalog_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    open_catalog: CatalogOpener = open_store_catalog,
    quiet: bool = False,
    routes: RouteTable | None = None,
) -> RuleAtlasServer:
    """A server for `catalog_dir` bound to (host, port) and not yet serving (port 0 picks a free port:
    read it from `server.server_address`). Raises FileNotFoundError when `catalog_dir`/site is missing."""
    return RuleAtlasServer(
        (host, port), Path(catalog_dir), open_catalog=open_catalog, quiet=quiet, routes=routes
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def serve(catalog_dir: Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 0) -> None:
    """Serve `catalog_dir`/site until interrupted (Ctrl+C).

    `workers` processes (default: one per core, at most 4) share the listening socket, each with its own
    threads, catalog connections and caches: Python runs one thread at a time per process, so one slow
    answer (a first facet count, a broad search) would otherwise hold up every other client."""
    server = make_server(catalog_dir, host, port)
    bound_host, bound_port = server.server_address[:2]
    host_text = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
    shown = f"[{host_text}]" if ":" in host_text else host_text
    workers = workers or default_workers()
    if not hasattr(os, "fork"):
        workers = 1
    print(
        f"Serving {server.site_root} at http://{shown}:{bound_port}/ with {workers} process"
        f"{'es' if workers > 1 else ''} (Ctrl+C to stop)",
        flush=True,
    )
    if workers == 1:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    children = []
    for _ in range(workers):
        pid = os.fork()  # before any thread or catalog connection exists in this process
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                server.serve_forever()
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the children too
    try:
        for pid in children:
            os.waitpid(pid, 0)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for pid in children:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        server.server_close()
