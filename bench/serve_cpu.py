"""Where the server's CPU goes, per kind of request of bench/serve.py's workload: the application (guard,
routing, caches, handlers, JSON, gzip) driven in this process through ASGI, without sockets or HTTP parsing,
so the figures are CPU milliseconds per request whatever the machine's load. Prints, per kind, CPU per
request cold (nothing cached: every answer computed) and warm (the same requests again), and with
`--profile KIND` the top functions of a cProfile of that kind's cold requests.

    .venv/bin/python bench/serve_cpu.py --catalog /tmp/cat [--requests 300] [--profile search]

What it leaves out, the HTTP protocol and the event loop's socket work, is measured by bench/serve.py
(server CPU over answers).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ruleatlas.web import app as web_app
from ruleatlas.web.app import CatalogApp
from ruleatlas.web.routes import default_routes
from ruleatlas.web.serve import SECURITY_HEADERS, open_store_catalog
from serve import workload

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def one(app: Asgi, target: str, gzip: bool) -> int:
    path, _, query = target.partition("?")
    headers = [(b"host", b"localhost")]
    if gzip:
        headers.append((b"accept-encoding", b"gzip"))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            # what uvicorn does per answer: the default headers joined to the app's
            extra = ((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())
            _ = [*message.get("headers", []), *extra]

    await app(scope, receive, send)
    return status


async def inline(func: Callable[..., Any], *args: Any, limiter: Any = None) -> Any:
    return func(*args)


async def measure(app: Asgi, targets: list[str], gzip: bool) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    start = time.process_time()
    for target in targets:
        status = await one(app, target, gzip)
        statuses[status] = statuses.get(status, 0) + 1
    return time.process_time() - start, statuses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300, help="per kind")
    parser.add_argument("--gzip", action="store_true", help="ask for gzip (bench/serve.py does not)")
    parser.add_argument("--profile", help="a kind (page, search, api) to profile cold")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = workload(args.catalog, args.seed)
    rnd = random.Random(args.seed)

    catalog_app = CatalogApp(args.catalog, default_routes(), open_store_catalog, pooled=True)
    app: Asgi = catalog_app.asgi()  # type: ignore[assignment]
    loop = asyncio.new_event_loop()
    print(f"{args.requests} requests per kind; CPU ms per request (process time, this process)")
    print(f"  {'kind':<8} {'cold ms':>8} {'warm ms':>8}  statuses")
    for kind, paths in work.items():
        targets = [rnd.choice(paths) for _ in range(args.requests)]
        profiler = cProfile.Profile() if kind == args.profile else None
        if profiler:
            # worker threads are invisible to cProfile: answer in this thread while profiling
            real_run_sync = web_app.run_sync
            web_app.run_sync = inline  # type: ignore[assignment]
            profiler.enable()
        cold, statuses = loop.run_until_complete(measure(app, targets, args.gzip))
        if profiler:
            profiler.disable()
            web_app.run_sync = real_run_sync
        warm, _ = loop.run_until_complete(measure(app, targets, args.gzip))
        n = len(targets)
        print(f"  {kind:<8} {cold / n * 1000:>8.2f} {warm / n * 1000:>8.2f}  {statuses}")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
