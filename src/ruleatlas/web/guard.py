"""An ASGI middleware that checks each request before any routing, and the server's error answers.

- Only GET and HEAD exist: anything else is a 405 with `Allow: GET, HEAD`.
- The path is decoded once from the raw request target and accepted only if every segment is a plain name:
  no `..`, `.`, empty segment, hidden file, encoded slash or backslash, NUL or other control character,
  invalid UTF-8. Routing then sees that decoded path (`scope["path"]`) and its segments (`scope[SEGMENTS]`);
  a path that fails is routed to the 404 page (or the JSON 404 under `/api`).
- HTTP/1.0 and 1.1 only (HTTP/0.9 is a 400), and an HTTP/1.1 request names its Host (RFC 9112 3.2).
- A URL over `MAX_TARGET_BYTES` is a 414; more than `MAX_HEADERS` header lines or `MAX_HEADER_BYTES` of
  them a 431; `Content-Length` together with `Transfer-Encoding` is refused
  (400), since a proxy in front may frame the body by the other one.
- A request with a body (this server reads none) is answered and its connection closed: the body is never
  read as a next request, whatever framing a proxy in front used.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import unquote

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SEGMENTS = "ruleatlas.segments"
NO_ROUTE_MESSAGE = "no such API route; try /api/rules/<vendor>/<name>, or see /openapi.json"
MAX_HEADERS = 100
# The protocol bounds a head that is still arriving (ConnectionLimits.head_bytes); one that arrives whole
# in a single read is measured here against the same figures.
MAX_TARGET_BYTES = 16 * 1024  # a query value is at most 1,000 characters (routes.MAX_PARAM_CHARS)
MAX_HEADER_BYTES = 64 * 1024
ALLOWED_METHODS = ("GET", "HEAD")
# llhttp (the httptools protocol) parses other versions (HTTP/0.9) and a 1.1 request without Host.
HTTP_VERSIONS = frozenset({"1.0", "1.1"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FALLBACK_PAGE = (
    "<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p><a href=/>Home</a></p>"
)


def decode_segments(path: str) -> list[str] | None:
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
        if not name or name.startswith(".") or "/" in name or "\\" in name or _CONTROL.search(name):
            return None
        segments.append(name)
    return segments


def error_json(status: int, code: str, message: str) -> bytes:
    return json.dumps({"error": {"status": status, "code": code, "message": message}}).encode("utf-8")


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def error_response(
    path: str,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    close: bool = False,
) -> Response:
    """The error answer for `path`: the JSON shape under /api, a small HTML page elsewhere."""
    phrase = HTTPStatus(status).phrase
    extra = {**(headers or {}), **({"connection": "close"} if close else {})}
    if is_api(path):
        body = error_json(status, code or phrase.lower().replace(" ", "_"), message)
        return Response(body, status, headers={"content-type": "application/json; charset=utf-8", **extra})
    page = FALLBACK_PAGE.format(title=f"{status} {phrase}").encode("utf-8")
    return Response(page, status, headers={"content-type": "text/html; charset=utf-8", **extra})


class RequestGuard:
    def __init__(self, app: ASGIApp, not_found: Callable[[Scope], Response]) -> None:
        self.app = app
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = raw_path.decode("latin-1")
        headers = scope["headers"]
        names = {name.lower() for name, _ in headers}
        body = b"transfer-encoding" in names or any(
            name.lower() == b"content-length" and value.strip() not in (b"", b"0") for name, value in headers
        )
        error: Response | None = None
        if len(raw_path) + len(scope["query_string"]) > MAX_TARGET_BYTES:
            error = error_response(
                path[:200], 414, f"the URL is longer than {MAX_TARGET_BYTES} bytes", close=True
            )
        elif len(headers) > MAX_HEADERS:
            error = error_response(path, 431, f"more than {MAX_HEADERS} header lines", close=True)
        elif sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
            error = error_response(path, 431, f"headers over {MAX_HEADER_BYTES} bytes", close=True)
        elif scope.get("http_version") not in HTTP_VERSIONS:
            error = error_response(path, 400, "only HTTP/1.0 and HTTP/1.1 are spoken here", close=True)
        elif scope.get("http_version") == "1.1" and b"host" not in names:
            error = error_response(path, 400, "an HTTP/1.1 request must name its Host", close=True)
        elif b"transfer-encoding" in names and b"content-length" in names:
            error = error_response(path, 400, "Content-Length together with Transfer-Encoding", close=True)
        elif scope["method"] not in ALLOWED_METHODS:
            error = error_response(
                path,
                405,
                f"method {scope['method']} is not allowed",
                headers={"allow": ", ".join(ALLOWED_METHODS)},
                close=body,
            )
        if error is not None:
            await error(scope, receive, send)
            return
        segments = decode_segments(path.split("?", 1)[0])
        if segments is None:
            response = (
                error_response(path, 404, NO_ROUTE_MESSAGE, code="not_found", close=body)
                if is_api(path)
                else self.not_found(scope)
            )
            if body:
                response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        scope[SEGMENTS] = segments
        scope["path"] = "/" + "/".join(segments) + ("/" if segments and path.endswith("/") else "")
        if body:
            plain_send = send

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
                await plain_send(message)

        # Starlette logs an unexpected error and answers it (the app's `unexpected` handler), then re-raises
        # it: nothing is left to do here, and uvicorn would log it a second time.
        with contextlib.suppress(Exception):
            await self.app(scope, receive, send)
