"""The served catalog as a Starlette application: the route table's API endpoints and computed pages, then
the built site's files.

- Every route of `ruleatlas.web.routes` becomes a Starlette route (in the table's order: literal segments
  before placeholders); API routes answer with or without a trailing slash. Only paths whose first segment
  starts a route reach the router; the site's pages go straight to the file handler. Any other `/api`
  path is the JSON 404; any other path is a file under the site (Starlette's StaticFiles: ETag,
  Last-Modified and conditional GET; small files are kept in memory and checked with one `stat`), a
  directory's `index.html`, a redirect to the directory's URL with its slash (so the pages' relative links
  resolve), or the site's 404 page. Answers are gzipped when the client asks.
- `RequestGuard` runs before any routing (see its docstring): methods, paths, headers and bodies.
- API answers are computed in worker threads (SQLite and JSON are blocking work), at most `work_slots` at a
  time per process and `heavy_slots` for routes whose cost the client chooses (search): a burst of costly
  queries waits for its own slots and never takes the others' turn. Answers are cached per (route, path,
  query) while the catalog file stays the same, and computed once however many clients ask at once.
- Errors have one shape: `{"error": {"status", "code", "message"}}` for `/api` paths, a small HTML page
  otherwise. An unexpected error is logged and answered 500, never with a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import traceback
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import orjson
from anyio.to_thread import run_sync
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ruleatlas.store.warm import prime_store_caches
from ruleatlas.web.answers import (
    GZIP_LEVEL,
    GZIP_MIN_BYTES,
    Answer,
    AnswerCache,
    CachedFile,
    CatalogOpener,
    CatalogPool,
    FileCache,
    SingleFlight,
    file_generation,
)
from ruleatlas.web.guard import NO_ROUTE_MESSAGE, SEGMENTS, RequestGuard, error_json, error_response
from ruleatlas.web.location import CatalogUnavailable, locate
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.routes import ApiError, Request, Route, RouteTable, parse_query

JSON_TYPE = "application/json; charset=utf-8"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": JSON_TYPE,
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".woff2": "font/woff2",
}
SMALL_FILE_BYTES = 512 * 1024  # kept in memory; larger files (the search index) are streamed from disk
COMPRESSIBLE = frozenset({".html", ".css", ".js", ".json", ".svg", ".txt", ".xml"})
ACCEPTS_GZIP = "ruleatlas.gzip"  # scope key: the client accepts gzip


@dataclass(slots=True, frozen=True)
class AppOptions:
    work_slots: int = 4
    heavy_slots: int = 4


class SiteFiles(StaticFiles):
    """StaticFiles with our content types (Python 3.11's mimetypes says application/javascript, and reads
    the host's /etc/mime.types), never following a symlink out of the site."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        media_type = CONTENT_TYPES.get(Path(full_path).suffix.lower(), "application/octet-stream")
        response = FileResponse(
            full_path, status_code=status_code, stat_result=stat_result, media_type=media_type
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class CatalogApp:
    """One served catalog folder: its routes, connection pool, caches and site files."""

    def __init__(
        self,
        catalog_dir: Path,
        routes: RouteTable,
        open_catalog: CatalogOpener,
        *,
        pooled: bool,
        options: AppOptions | None = None,
    ) -> None:
        self.catalog_dir = catalog_dir
        self.routes = routes
        self.options = options or AppOptions()
        self.renderer = SiteRenderer()
        self.pool = CatalogPool(lambda: locate(catalog_dir).catalog, open_catalog, pooled=pooled)
        self.cache = AnswerCache()
        self.file_cache = FileCache()
        self.flights = SingleFlight()
        self._sites: dict[Path, SiteFiles] = {}
        # Limiters are bound to an event loop: made on first use, in the process that serves.
        self._limiters: dict[bool, anyio.CapacityLimiter] = {}

    # -- the application ------------------------------------------------------------------------------------

    def asgi(self) -> RequestGuard:
        handlers = {Exception: self.unexpected}
        routed = Starlette(routes=self._starlette_routes(), exception_handlers=handlers)
        site = Starlette(
            routes=[StarletteRoute("/{path:path}", self.site_file, methods=["GET", "HEAD"])],
            exception_handlers=handlers,
        )
        prefixes = frozenset(route.segments[0] for route in self.routes if route.segments)
        api = frozenset(r.segments[0] for r in self.routes if r.kind == "api" and r.segments)
        return RequestGuard(_Dispatch(routed, site, prefixes | api, api), not_found=self.not_found)

    def _starlette_routes(self) -> list[BaseRoute]:
        out: list[BaseRoute] = []
        for route in self.routes:  # the table's order: literal segments win over placeholders
            endpoint = self._api_endpoint(route) if route.kind == "api" else self._page_endpoint(route)
            out.append(StarletteRoute(route.pattern, endpoint, methods=["GET", "HEAD"]))
        out.append(StarletteRoute("/api", self.no_api_route, methods=["GET", "HEAD"]))
        out.append(StarletteRoute("/api/{rest:path}", self.no_api_route, methods=["GET", "HEAD"]))
        out.append(
            StarletteRoute("/{path:path}", self.site_file, methods=["GET", "HEAD"])
        )  # e.g. data/rules.js
        return out

    def limiter(self, heavy: bool) -> anyio.CapacityLimiter:
        found = self._limiters.get(heavy)
        if found is None:
            slots = self.options.heavy_slots if heavy else self.options.work_slots
            found = self._limiters[heavy] = anyio.CapacityLimiter(slots)
        return found

    # -- API ------------------------------------------------------------------------------------------------

    def _api_endpoint(self, route: Route) -> Callable[[StarletteRequest], Any]:
        async def endpoint(request: StarletteRequest) -> Response:
            answer = await self.api_answer(route, request.scope, dict(request.path_params))
            return _json_answer(answer, request.scope.get(ACCEPTS_GZIP, False))

        return endpoint

    async def api_answer(self, route: Route, scope: Scope, args: dict[str, str]) -> Answer:
        path = scope["path"]
        query = scope["query_string"].decode("latin-1")
        limiter = self.limiter(route.heavy)

        async def compute() -> Answer:
            answer: Answer = await run_sync(self.compute, route, args, path, query, limiter=limiter)
            return answer

        generation = self.pool.generation()
        if not route.cache or generation is None:
            return await compute()
        key: Hashable = (route.pattern, path.rstrip("/"), query)
        answer = self.cache.get(key, generation)
        if answer is None:
            answer = await self.flights.run(key, compute)
            self.cache.put(key, answer, generation)
        return answer

    def compute(self, route: Route, args: dict[str, str], path: str, query: str) -> Answer:
        """One API answer (in a worker thread)."""
        try:
            with self.pool.session() as open_catalog:
                result = route.handler(Request(path, args, parse_query(query, route), open_catalog))
            return Answer(200, _json_bytes(result))
        except ApiError as exc:
            return Answer(exc.status, error_json(exc.status, exc.code, exc.message), keep=exc.lasting)
        except CatalogUnavailable as exc:
            return Answer(503, error_json(503, "catalog_unavailable", str(exc)), keep=False)
        except Exception:
            log_error(traceback.format_exc())
            return Answer(500, error_json(500, "internal_server_error", "internal error"), keep=False)

    def warm(self, paths: Iterable[str]) -> None:
        """Compute and cache these API answers now (query-less paths), then close the connections used:
        called before the server forks its workers, every worker starts with them (and with what the
        store caches per process, such as the browse list's rows) instead of each computing them on its
        first request."""
        generation = self.pool.generation()
        if generation is None:
            return
        for path in paths:
            found = self.routes.match([s for s in path.split("/") if s])
            if found is None or found[0].kind != "api" or not found[0].cache:
                continue
            route, args = found
            key: Hashable = (route.pattern, path.rstrip("/"), "")
            if self.cache.get(key, generation) is None:
                self.cache.put(key, self.compute(route, args, path, ""), generation)
        with contextlib.suppress(Exception), self.pool.session() as open_catalog:
            prime_store_caches(open_catalog())
        self.pool.close()  # a SQLite connection must not cross a fork

    async def no_api_route(self, request: StarletteRequest) -> Response:
        return error_response(request.scope["path"], 404, NO_ROUTE_MESSAGE, code="not_found")

    # -- computed pages -------------------------------------------------------------------------------------

    def _page_endpoint(self, route: Route) -> Callable[[StarletteRequest], Any]:
        async def endpoint(request: StarletteRequest) -> Response:
            path = request.scope["path"]
            args = dict(request.path_params)
            return await run_sync(self.page, route, args, path, limiter=self.limiter(False))

        return endpoint

    def page(self, route: Route, args: dict[str, str], path: str) -> Response:
        try:
            with self.pool.session() as open_catalog:
                answer = route.handler(Request(path, args, {}, open_catalog))
        except Exception:
            log_error(traceback.format_exc())
            return error_response(path, 500, "internal error", close=True)
        return Response(
            answer.body, answer.status, headers={"content-type": answer.content_type, **answer.headers}
        )

    # -- site files -----------------------------------------------------------------------------------------

    def files(self, site: Path) -> SiteFiles:
        found = self._sites.get(site)
        if found is None:
            found = self._sites[site] = SiteFiles(directory=site, check_dir=False)
        return found

    async def site_file(self, request: StarletteRequest) -> Response:
        scope = request.scope
        segments: list[str] | None = scope.get(SEGMENTS)
        if segments is None:
            return self.not_found(scope)
        site = locate(self.catalog_dir).site
        files = self.files(site)
        relative = "/".join(segments)
        directory = scope["path"].endswith("/")
        wanted = (relative + "/index.html" if relative else "index.html") if directory else relative
        # A page read before is answered from memory after one stat, without a worker thread.
        cached = self.file_cache.get(site / wanted)
        if cached is not None:
            return _cached_file_response(files, cached, scope)
        try:
            loaded = await run_sync(self._load_file, files, site, wanted)
            if loaded is not None:
                return _cached_file_response(files, loaded, scope)
            if directory:
                return await files.get_response(wanted, scope)
            try:
                return await files.get_response(relative, scope)
            except HTTPException as exc:
                if exc.status_code != 404 or not relative:
                    raise
                _, index = await run_sync(files.lookup_path, relative + "/index.html")
                if index is None or not stat.S_ISREG(index.st_mode):
                    raise
                query = scope["query_string"].decode("latin-1")
                location = "/" + "".join(quote(s, safe="") + "/" for s in segments)
                return Response(
                    b"",
                    301,
                    headers={"location": location + (f"?{query}" if query else "")},
                    media_type="text/plain",
                )
        except HTTPException as exc:
            if exc.status_code == 404:
                return self.not_found(scope)
            return error_response(scope["path"], exc.status_code, exc.detail)
        except OSError:
            return self.not_found(scope)

    def _load_file(self, files: SiteFiles, site: Path, wanted: str) -> CachedFile | None:
        """Read a small regular file of the site into the cache (in a worker thread); None for anything
        else (missing, a directory, outside the site, large), which StaticFiles then answers."""
        full_path, found = files.lookup_path(wanted)
        if found is None or not stat.S_ISREG(found.st_mode) or found.st_size > SMALL_FILE_BYTES:
            return None
        path = site / wanted
        stamp = file_generation(path)
        with open(full_path, "rb") as handle:
            body = handle.read(SMALL_FILE_BYTES + 1)
        if stamp is None or stamp != file_generation(path) or len(body) != stamp[2]:
            return None  # rewritten while read: let StaticFiles answer this one
        media_type = CONTENT_TYPES.get(Path(full_path).suffix.lower(), "application/octet-stream")
        headers = FileResponse(full_path, stat_result=os.stat(full_path), media_type=media_type).raw_headers
        entry = CachedFile(stamp, body, tuple(headers), Path(full_path).suffix.lower() in COMPRESSIBLE)
        self.file_cache.put(path, entry)
        return entry

    async def unexpected(self, request: StarletteRequest, exc: Exception) -> Response:
        """The answer to an error no endpoint caught (Starlette re-raises it after; the guard drops it)."""
        log_error("".join(traceback.format_exception(exc)))
        return error_response(request.scope["path"], 500, "internal error", close=True)

    def not_found(self, scope: Scope) -> Response:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            html = self.renderer.render_not_found(raw.decode("latin-1"))
        except Exception:
            log_error(traceback.format_exc())
            return error_response(scope["path"], 404, "page not found")
        return Response(html.encode("utf-8"), 404, headers={"content-type": CONTENT_TYPES[".html"]})


class _Dispatch:
    """Sends a request to the route table's router only when its first segment starts a route (`api`,
    `openapi.json`, `data`): the site's pages, most requests, skip matching every route's pattern. Gzip
    wraps the answer only when the client accepts it."""

    def __init__(self, routed: ASGIApp, site: ASGIApp, prefixes: frozenset[str], api: frozenset[str]) -> None:
        self.api = api
        self.prefixes = prefixes
        self.plain = (routed, site)
        self.gzip = tuple(
            GZipMiddleware(app, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL) for app in self.plain
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        segments = scope.get(SEGMENTS)
        which = 0 if segments and segments[0] in self.prefixes else 1
        if segments and segments[0] in self.api and scope["path"].endswith("/"):
            scope["path"] = scope["path"].rstrip("/")  # an API route answers with or without its slash
        gzip = any(name == b"accept-encoding" and b"gzip" in value for name, value in scope["headers"])
        scope[ACCEPTS_GZIP] = gzip
        await (self.gzip if gzip else self.plain)[which](scope, receive, send)


def _cached_file_response(files: SiteFiles, cached: CachedFile, scope: Scope) -> Response:
    response = Response(cached.body)
    response.raw_headers = list(cached.headers)
    if files.is_not_modified(response.headers, Headers(scope=scope)):
        return NotModifiedResponse(response.headers)
    if cached.compressible and len(cached.body) >= GZIP_MIN_BYTES and scope.get(ACCEPTS_GZIP):
        _send_gzipped(response, cached.gzipped())
    return response


def _send_gzipped(response: Response, body: bytes) -> None:
    """Answer with `body`, already gzipped (GZipMiddleware passes an answer with a Content-Encoding)."""
    response.body = body
    response.headers["content-length"] = str(len(body))
    response.headers["content-encoding"] = "gzip"
    response.headers.add_vary_header("Accept-Encoding")


def _json_bytes(value: Any) -> bytes:
    """The answer's JSON: orjson (a rule's document in ~0.1 ms, against ~1 ms with json); json for what
    orjson refuses (nesting deeper than 254 levels, integers over 64 bits, a lone surrogate)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_answer(answer: Answer, gzip: bool) -> Response:
    headers = {"content-type": JSON_TYPE}
    if answer.status >= HTTPStatus.INTERNAL_SERVER_ERROR and answer.status != HTTPStatus.SERVICE_UNAVAILABLE:
        headers["connection"] = "close"
    response = Response(answer.body, answer.status, headers=headers)
    if gzip and len(answer.body) >= GZIP_MIN_BYTES:
        _send_gzipped(response, answer.gzipped())
    return response


def log_error(text: str) -> None:
    sys.stderr.write(f"ruleatlas serve: error while answering a request\n{text}")
