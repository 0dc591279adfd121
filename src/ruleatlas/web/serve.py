"""`ruleatlas serve`: the built site and the JSON API over HTTP, read-only, on Starlette under uvicorn.

- `web/app.py` is the application (routes from `web/routes.py`, the site's files, answer caches),
  `web/guard.py` checks every request before routing, `web/protocol.py` is uvicorn's httptools protocol with
  the connection limits (head and write deadlines, header size, connection cap), `web/answers.py` holds the
  caches and pooled catalog connections.
- This module binds the socket, refuses a catalog that cannot be served (with the reason), and runs
  `workers` uvicorn servers, one per process, forked after the socket is bound so that they share it.
  Processes, not threads: Python runs one thread at a time per process, and answers are CPU work.
- `make_server` gives the same server on a thread-friendly object (`serve_forever`, `shutdown`,
  `server_close`, `server_address`) for tests and embedding.
- Every answer carries the security headers below, the protocol's own error answers included.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import resource
import signal
import socket
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn

from ruleatlas.web.answers import CatalogOpener, CatalogReader
from ruleatlas.web.app import AppOptions, CatalogApp
from ruleatlas.web.guard import NO_ROUTE_MESSAGE
from ruleatlas.web.location import CatalogUnavailable, locate
from ruleatlas.web.protocol import ConnectionLimits, LimitedHttpToolsProtocol, LimitedServer
from ruleatlas.web.routes import RouteTable, default_routes

__all__ = [
    "NO_ROUTE_MESSAGE",
    "SECURITY_HEADERS",
    "CatalogUnavailable",
    "RuleAtlasServer",
    "ServeError",
    "make_server",
    "open_store_catalog",
    "serve",
]

# The pages need nothing but their own origin: this policy makes any inline script or style a visible
# console error in the browser tests instead of a silent habit.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cache-Control": "no-cache",  # revalidate (ETag, Last-Modified): a rebuild is seen at once
}
MMAP_BYTES = 1 << 30  # address space, not memory: pages are read from the file as they are touched
# Answers every visitor asks for (the home page's figures, the browse list) and whose first computation
# is the costliest (~0.6 s each on 13,700 rules): computed once before the workers fork.
WARM_PATHS = ("/api/stats", "/api/rules")
# How long a thread holding the interpreter lock runs before one waiting for it gets it (Python's default is
# 5 ms): the event loop, which answers pages from memory in a fraction of a millisecond, would otherwise
# wait that long, several times per answer, behind a worker thread composing an API answer in Python.
SWITCH_INTERVAL = 0.0005
FD_RESERVE = 64  # descriptors kept for catalog connections, site files and logging
GRACEFUL_SECONDS = 5
log = logging.getLogger("ruleatlas.serve")


class ServeError(Exception):
    """The server cannot start: one line for the user, and the exit code (1: the catalog, 2: the
    environment or the options)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def open_store_catalog(path: Path) -> CatalogReader:
    """The store's reader for `path` (the default opener). Never creates a file: a missing one is an error."""
    if not path.is_file():
        raise CatalogUnavailable(f"no catalog at {path}: run `ruleatlas build` first")
    try:
        from ruleatlas.store import Catalog
    except ImportError as exc:
        raise CatalogUnavailable(f"the catalog store cannot be loaded ({exc})") from exc
    catalog = Catalog(path)
    # Read through a memory map: a search joins thousands of FTS matches with their rule rows, and SQLite's
    # own page cache (2,000 pages per connection) cannot hold them, so each is a pread(); mapped, they
    # are memory reads shared by every connection and process (a search costs a third less CPU). Safe
    # because a catalog file is never rewritten in place (a build renames a new one over it).
    catalog.db.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    catalog.db.execute("PRAGMA query_only = 1")
    reader: CatalogReader = catalog
    return reader


def check_catalog(catalog_dir: Path) -> None:
    """Refuse a catalog folder that cannot be served, with the reason (ServeError: code 2 when there is no
    catalog there, as for every command; 1 when it is damaged or not ours)."""
    served = locate(catalog_dir)
    build = f"run `ruleatlas build --out {catalog_dir}` first"
    if not served.site.is_dir():
        raise ServeError(f"no site at {served.site}: {build}", 2)
    if not served.catalog.is_file():
        raise ServeError(f"no catalog at {served.catalog}: {build}", 2)
    try:
        db = sqlite3.connect(f"file:{served.catalog}?mode=ro", uri=True)
        try:
            # quick_check reads every page (a truncated or overwritten file fails here, not on the first
            # request); the meta row proves it is one of ours.
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise ServeError(f"{served.catalog} is damaged ({problem}): run `ruleatlas build` again", 1)
            db.execute("SELECT key, value FROM meta LIMIT 1").fetchall()
            db.execute("SELECT uid, doc FROM rules LIMIT 1").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ServeError(
            f"{served.catalog} is not a readable RuleAtlas catalog ({exc}): run `ruleatlas build` again", 1
        ) from None


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (ServeError, code 2, when the address is taken or not ours to use)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"cannot serve on {host}: {exc.strerror}", 2) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use: stop that server or pick --port", 2
            ) from None
        raise ServeError(f"cannot serve on {host}:{port}: {exc.strerror}", 2) from None
    sock.set_inheritable(True)
    return sock


def _connection_cap(requested: int) -> int:
    """Raise the soft open-file limit to the hard one, and keep the connection cap under it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return max(1, min(requested, soft - FD_RESERVE))


class RuleAtlasServer:
    """One catalog folder served on a bound socket by uvicorn."""

    def __init__(
        self,
        sock: socket.socket,
        catalog_dir: Path,
        *,
        open_catalog: CatalogOpener = open_store_catalog,
        quiet: bool = False,
        routes: RouteTable | None = None,
        limits: ConnectionLimits | None = None,
        options: AppOptions | None = None,
    ) -> None:
        self.socket = sock
        self.server_address: tuple[Any, ...] = sock.getsockname()
        self.catalog_dir = catalog_dir
        self.site_root = locate(catalog_dir).site.resolve()
        limits = limits or ConnectionLimits()
        limits = ConnectionLimits(
            head_bytes=limits.head_bytes,
            head_timeout=limits.head_timeout,
            write_timeout=limits.write_timeout,
            keep_alive_timeout=limits.keep_alive_timeout,
            max_connections=_connection_cap(limits.max_connections),
        )
        self.limits = limits
        self.protocol = LimitedHttpToolsProtocol.with_limits(limits)
        self.app = CatalogApp(
            catalog_dir,
            routes if routes is not None else default_routes(),
            open_catalog,
            pooled=open_catalog is open_store_catalog,  # a stand-in opener is opened per request
            options=options,
        )
        self.config = uvicorn.Config(
            self.app.asgi(),
            http=self.protocol,
            loop="asyncio",  # the loop whose accept errors `protocol.Overload` knows (uvloop's differ)
            lifespan="off",
            log_config=None,
            log_level=logging.ERROR if quiet else logging.WARNING,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # no proxy is trusted: the client address is the socket's
            headers=list(SECURITY_HEADERS.items()),
            timeout_keep_alive=limits.keep_alive_timeout,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            backlog=2048,
        )
        self._uvicorn: LimitedServer | None = None
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        """Serve until `shutdown()` (from another thread) or, in the main thread, SIGINT/SIGTERM."""
        self._stopped.clear()
        self._uvicorn = LimitedServer(self.config, self.protocol.overload)
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        if self._uvicorn is None:
            return
        self._uvicorn.should_exit = True
        self._stopped.wait(timeout=GRACEFUL_SECONDS + 5)

    def server_close(self) -> None:
        self.socket.close()
        self.app.pool.close()


def make_server(
    catalog_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    open_catalog: CatalogOpener = open_store_catalog,
    quiet: bool = False,
    routes: RouteTable | None = None,
    limits: ConnectionLimits | None = None,
    options: AppOptions | None = None,
) -> RuleAtlasServer:
    """A server for `catalog_dir` bound to (host, port) and not yet serving (port 0 picks a free port:
    read it from `server.server_address`). Raises FileNotFoundError when `catalog_dir`/site is missing,
    ServeError when the address cannot be used."""
    catalog_dir = Path(catalog_dir)
    site = locate(catalog_dir).site
    if not site.is_dir():
        raise FileNotFoundError(f"no site at {site}: run `ruleatlas build` first")
    sock = bind(host, port)
    try:
        return RuleAtlasServer(
            sock,
            catalog_dir,
            open_catalog=open_catalog,
            quiet=quiet,
            routes=routes,
            limits=limits,
            options=options,
        )
    except BaseException:
        sock.close()
        raise


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _die_with_parent() -> None:
    """Ask Linux to end this worker when the process that forked it dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def serve(catalog_dir: Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 0) -> None:
    """Serve `catalog_dir` until interrupted (Ctrl+C or SIGTERM). Raises ServeError before serving when
    the catalog cannot be served or the address cannot be used."""
    catalog_dir = Path(catalog_dir)
    check_catalog(catalog_dir)
    logging.basicConfig(format="%(message)s", level=logging.WARNING, stream=sys.stderr)
    server = make_server(catalog_dir, host, port)
    server.app.warm(WARM_PATHS)
    sys.setswitchinterval(SWITCH_INTERVAL)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
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
        finally:
            server.server_close()
        return
    children = []
    for _ in range(workers):
        pid = os.fork()  # before any thread, event loop or catalog connection exists in this process
        if pid == 0:
            code = 0
            try:
                _die_with_parent()
                server.serve_forever()  # uvicorn stops on SIGINT/SIGTERM, finishing open answers
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)  # `kill` stops the children too
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
