"""uvicorn's httptools protocol with the limits a public server needs and uvicorn leaves out.

uvicorn closes idle keep-alive connections, but with llhttp (httptools) it bounds no request head's size,
it has no deadline for a head that arrives slowly (slowloris), none for a client that stops reading its
answer, no cap on open connections (at the open-file limit `accept` fails and new clients wait), and its
own error answers always say 400. This subclass adds:

- a head size limit: a head still unfinished after `head_bytes` is answered 431 (414 while its request
  line is unfinished) and the connection closed; a head that arrives whole in one read is measured by the
  request guard (`web/guard.py`) against the same figures;
- a head deadline: a request head must be complete `head_timeout` seconds after its first byte (or after
  the connection opened), whatever trickles in meanwhile;
- a write deadline: a client whose socket stays full (it does not read) for `write_timeout` seconds is
  dropped; a slow but reading client is not (every drained buffer restarts the clock);
- a connection cap per process: a connection over `max_connections` is closed at once (the server logs
  it once per overload, not once per connection); if descriptors still run out (asyncio accepts a burst
  of connections before any is seen here), asyncio pauses accepting for a second and `LimitedServer`
  logs it once instead of a traceback a second;
- protocol errors answered with the same security headers as every other answer.

llhttp parses in C: a cached page costs about half the CPU it did with h11's pure-Python parser. Reading
pipelined requests stops while one is answered (uvicorn queues the next and pauses reading), so a
connection holds at most one answer in flight.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ruleatlas.web.guard import ALLOWED_METHODS, error_response

log = logging.getLogger("ruleatlas.serve")


@dataclass(slots=True, frozen=True)
class ConnectionLimits:
    head_bytes: int = 64 * 1024  # the request line and headers together
    head_timeout: float = 10.0
    write_timeout: float = 20.0
    keep_alive_timeout: int = 5
    max_connections: int = 4096


class Overload:
    """Whether this process is refusing connections (over its cap) or cannot accept them (out of file
    descriptors: asyncio then stops accepting for a second and retries, instead of spinning). Each is
    logged once when it starts, and again only after the load has fallen to half the cap."""

    __slots__ = ("out_of_files", "refusing")

    def __init__(self) -> None:
        self.refusing = False
        self.out_of_files = False

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's exception handler: one line for running out of descriptors, not a traceback
        a second."""
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            if not self.out_of_files:
                self.out_of_files = True
                log.warning(
                    "ruleatlas serve: out of file descriptors (%s): new connections wait until some close",
                    context.get("exception"),
                )
            return
        if isinstance(context.get("exception"), ValueError) and "_start_serving" in repr(
            context.get("handle")
        ):
            return  # that pause's retry, fired after shutdown closed the socket: nothing to accept on
        loop.default_exception_handler(context)

    def settled(self) -> None:
        self.refusing = self.out_of_files = False


class LimitedServer(uvicorn.Server):
    """uvicorn's server, with the protocol's overload state handling the event loop's accept errors."""

    def __init__(self, config: uvicorn.Config, overload: Overload) -> None:
        super().__init__(config)
        self.overload = overload

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(self.overload.loop_exception)
        await super().startup(sockets=sockets)


class _CoalescingTransport:
    """Joins the writes of one loop turn into one: uvicorn writes a response's head and body separately,
    which costs a second system call and segment, and the client a second wake-up, per answer."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing a head over the limit (httptools then raises its
    callback error, and uvicorn calls `send_400_response`)."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """The module docstring's limits. Deadlines follow the parser's callbacks (a head begins, a head is
    complete); the request guard refuses what llhttp parses and a server should not answer (a version
    other than HTTP/1.0 and 1.1, an HTTP/1.1 request without Host)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    overload: ClassVar[Overload] = Overload()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._in_head = False  # a request head has begun and is not complete
        self._head_bytes = 0
        self._url_bytes = 0
        self._request_line_done = False
        self._refusal = 400  # the status of a parse error: set by a callback that stops the parser

    @classmethod
    def with_limits(cls, limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
        """A protocol class for one server: its limits, and its own overload state."""
        return type("LimitedHttpToolsProtocol", (cls,), {"limits": limits, "overload": Overload()})

    # -- connections ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        open_now = len(self.server_state.connections)
        if open_now >= self.limits.max_connections:
            if not self.overload.refusing:
                self.overload.refusing = True
                log.warning(
                    "ruleatlas serve: %d connections open, the most this process takes: refusing new "
                    "ones until some close",
                    open_now,
                )
            transport.abort()
            return
        super().connection_made(transport)
        self.transport = _CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        self._arm_head_deadline()  # the first head must come within the deadline of the connection

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:  # refused in connection_made: uvicorn never saw it
            return
        self._cancel_head_deadline()
        self._cancel_write_deadline()
        super().connection_lost(exc)
        if len(self.server_state.connections) < self.limits.max_connections // 2:
            self.overload.settled()

    # -- the request head -----------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, keeping the parser's error (uvicorn answers every one the same 400)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            self._parse_error(str(exc), data)
            return
        if self._in_head and not self.transport.is_closing():
            # A head that began in this read is counted from the read's start: it overcounts by the end of
            # the previous request, at most a head (GET and HEAD have no body), never undercounts.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.head_bytes:
                if self._request_line_done:
                    self.refuse(431, b"Request Header Fields Too Large")
                else:
                    self.refuse(414, b"URI Too Long")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._url_bytes = 0
        self._request_line_done = False
        if self._head_deadline is None:
            self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        # Measured here too: a URL completed in the read that ends the head is never counted unfinished,
        # and httptools cannot parse one over 64 KB (its offsets are 16-bit) where h11 answered 414.
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.head_bytes:
            self._refusal = 414
            raise HeadTooLarge("the request line is over the head size limit")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._request_line_done = True
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_deadline()
        super().on_headers_complete()

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.limits.head_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        waiting = self._in_head or self.cycle is None  # a head unfinished, or none yet on this connection
        if waiting and not self.transport.is_closing():
            self.transport.abort()

    # -- the answer -----------------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self.limits.write_timeout, self._reader_stalled)

    def resume_writing(self) -> None:
        self._cancel_write_deadline()
        super().resume_writing()

    def _cancel_write_deadline(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _reader_stalled(self) -> None:
        self._write_deadline = None
        if not self.transport.is_closing():
            self.transport.abort()

    # -- protocol errors ------------------------------------------------------------------------------------

    def _parse_error(self, message: str, data: bytes) -> None:
        if self._refusal == 414:
            self.refuse(414, b"URI Too Long")
            return
        line = data.split(b"\r\n", 1)[0].split(b" ")
        if "method" in message.lower() and len(line) == 3 and line[0].isalnum():
            # A method llhttp does not know (h11 parsed any token): the guard's 405, for the path asked
            method = line[0].decode("ascii")
            path = line[1].split(b"?", 1)[0].decode("latin-1")
            answer = error_response(
                path, 405, f"method {method} is not allowed", headers={"allow": ", ".join(ALLOWED_METHODS)}
            )
            self.refuse(405, b"Method Not Allowed", bytes(answer.body), answer.raw_headers)
            return
        self.refuse(400, b"Bad Request")

    def send_400_response(self, msg: str) -> None:
        self._parse_error(msg, b"")

    def refuse(
        self,
        status: int,
        reason: bytes,
        body: bytes | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """Answer a request the parser refused (with the security headers) and close the connection; a
        plain-text body saying `reason` unless `body` and its `headers` are given."""
        self._in_head = False
        self._cancel_head_deadline()
        if body is None:
            body = reason + b"\n"
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(body)),
            ]
        lines = [b"HTTP/1.1 %d %s" % (status, reason)]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [name + b": " + value for name, value in headers if name != b"connection"]
        lines.append(b"connection: close")
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()
