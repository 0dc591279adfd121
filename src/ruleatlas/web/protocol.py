"""uvicorn's h11 protocol with the limits a public server needs and uvicorn leaves out.

uvicorn bounds the size of an unfinished request head (h11's max incomplete event size) and closes idle
keep-alive connections, but it has no deadline for a head that arrives slowly (slowloris), none for a
client that stops reading its answer, no cap on open connections (at the open-file limit `accept` fails
and new clients wait), and its own error answers (400 for a bad request) carry no security headers and
always say 400. This subclass adds:

- a head deadline: a request head must be complete `head_timeout` seconds after its first byte (or after
  the connection opened), whatever trickles in meanwhile;
- a write deadline: a client whose socket stays full (it does not read) for `write_timeout` seconds is
  dropped; a slow but reading client is not (every drained buffer restarts the clock);
- a connection cap per process: a connection over `max_connections` is closed at once (the server logs
  it once per overload, not once per connection); if descriptors still run out (asyncio accepts a burst
  of connections before any is seen here), asyncio pauses accepting for a second and `LimitedServer`
  logs it once instead of a traceback a second;
- protocol errors answered with the right status (431 for a head over the size limit, 414 when it is the
  request line that is too long, 400 otherwise) and the same security headers as every other answer.

Reading pipelined requests stops while one is answered (h11 pauses), so a connection holds at most one
request head and one answer in flight.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("ruleatlas.serve")


@dataclass(slots=True, frozen=True)
class ConnectionLimits:
    head_bytes: int = 64 * 1024  # the request line and headers together
    head_timeout: float = 10.0
    write_timeout: float = 20.0
    keep_alive_timeout: int = 5
    max_connections: int = 4096


class _RecordingConnection(h11.Connection):
    """h11's connection, remembering the protocol error uvicorn swallows (it answers every one 400)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.last_error = exc
            raise


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


class LimitedH11Protocol(H11Protocol):
    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    overload: ClassVar[Overload] = Overload()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn types `conn` as h11's Connection; keep ours typed too, for the error it records
        self.recording = _RecordingConnection(h11.SERVER, self.limits.head_bytes)
        self.conn = self.recording
        self._head_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None

    @classmethod
    def with_limits(cls, limits: ConnectionLimits) -> type[LimitedH11Protocol]:
        """A protocol class for one server: its limits, and its own overload state."""
        return type("LimitedH11Protocol", (cls,), {"limits": limits, "overload": Overload()})

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
        self._arm_head_deadline()

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
        if self._head_deadline is None and self.conn.their_state is h11.IDLE:
            self._arm_head_deadline()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in (or the connection failed)
            self._cancel_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.limits.head_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
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

    def send_400_response(self, msg: str) -> None:
        error = self.recording.last_error
        status = error.error_status_hint if error is not None else 400
        if status == 431 and b"\r\n" not in self.conn.trailing_data[0]:
            status = 414  # the request line alone is over the limit
        reason = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}.get(
            status, b"Bad Request"
        )
        body = reason + b"\n"
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"connection", b"close"),
        ]
        try:
            output = self.conn.send(h11.Response(status_code=status, headers=headers, reason=reason))
            output = (output or b"") + (self.conn.send(h11.Data(data=body)) or b"")
            output += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:  # h11 cannot answer in this state: just close
            output = b""
        if output:
            self.transport.write(output)
        self.transport.close()
