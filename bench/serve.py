"""Serving load: N concurrent clients for S seconds against rule pages, search and the JSON API of
`ruleatlas serve` (started here in its own process). Prints throughput, errors and p50/p95/p99 latency per
kind of request; asserts nothing.

    .venv/bin/python bench/serve.py --catalog /tmp/cat3 [--clients 200] [--seconds 30] [--think-ms 0]
    .venv/bin/python bench/serve.py --catalog /tmp/cat3 --server old=/tmp/old/src --server new=src --rounds 2

- `--server NAME=SRC` (repeatable): run `ruleatlas serve` from that source folder (PYTHONPATH), so an older
  commit (`git archive main src | tar -x -C /tmp/old`) and this one are measured in one run, in turns
  (`--rounds`), under the same machine state. Each run prints the server's CPU seconds over the measured
  run (all its processes, from /proc; the warm-up left out) and per answer, the clients' own CPU (this
  process: it shares the cores with the server), and the load average before and after: the machine may be
  shared.

- Clients are asyncio tasks in this process, each on one keep-alive HTTP/1.1 connection (a browser's
  behaviour), so 200 of them cost little; each request is a random pick: a rule page (40%), a search as
  the search page sends it while someone types (30%: prefixes of words from rule titles, some with a filter,
  so most are distinct), an API call (30%: a rule's JSON, the browse list with a facet, stats, a field,
  an indicator).
- `--think-ms`: a pause after each answer (0: every client sends its next request at once; the figures
  then say how the server behaves saturated, and latency is concurrency / throughput by Little's law).
- Errors: any status other than 200, a dropped connection, or a timeout (10 s); counted per kind and
  cause (`api 503`, `search timeout`, `page IncompleteReadError`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workload(catalog: Path, seed: int) -> dict[str, list[str]]:
    db = sqlite3.connect(f"file:{catalog / 'catalog.sqlite'}?mode=ro", uri=True)
    uids = [u for (u,) in db.execute("SELECT uid FROM rules")]
    titles = [t for (t,) in db.execute("SELECT title FROM rules")]
    fields = [f for (f,) in db.execute("SELECT DISTINCT field FROM indicators WHERE field != '' LIMIT 200")]
    indicators = db.execute(
        "SELECT field, kind, value FROM indicator_counts GROUP BY field, kind, value "
        "ORDER BY SUM(rules) DESC LIMIT 300"
    ).fetchall()
    db.close()
    rnd = random.Random(seed)
    words = sorted({w.lower() for t in titles for w in re.findall(r"[A-Za-z][A-Za-z0-9]{3,}", t)})
    filters = [
        "",
        "",
        "",
        " level:high",
        " status:stable",
        " logsource:process_creation",
        " tactic:persistence",
    ]
    searches = []
    for word in words:
        for n in range(3, len(word) + 1):  # what the page sends while the word is typed
            searches.append(word[:n] + rnd.choice(filters))
    rnd.shuffle(searches)
    quote = urllib.parse.quote
    facets = ["level=high", "status=stable", "product=windows", "technique=T1059", "tactic=persistence"]
    api = (
        [f"/api/rules/{quote(u.split('/')[0])}/{quote(u.split('/')[1])}" for u in uids[:2000]]
        + [f"/api/rules?{f}&page={p}" for f in facets for p in (1, 2, 3)]
        + ["/api/stats"] * 20
        + [f"/api/fields/{quote(f, safe='')}" for f in fields]
        + [
            "/api/indicators?" + urllib.parse.urlencode({"field": f, "kind": k, "value": v})
            for f, k, v in indicators
        ]
    )
    return {
        "page": [f"/rules/{quote(u.split('/')[0])}/{quote(u.split('/')[1])}/" for u in uids],
        "search": ["/api/search?" + urllib.parse.urlencode({"q": q, "per_page": 20}) for q in searches],
        "api": api,
    }


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of a client, reading answers straight from the socket's bytes (no
    stream reader: the client shares the cores with the server, so its CPU per answer is kept small)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: asyncio.Future[tuple[int, int]] | None = None
        self.head: tuple[int, int] | None = None  # (status, content length) of the answer being read
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._answer()

    def _answer(self) -> None:
        if self.waiting is None or self.waiting.done():
            return
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            del self.buffer[: end + 4]
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            self.head = (int(head.split(b" ", 2)[1]), length)
        status, length = self.head
        if len(self.buffer) >= length:
            del self.buffer[:length]
            self.head = None
            self.waiting.set_result((status, length))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(asyncio.IncompleteReadError(bytes(self.buffer), None))

    def request(self, data: bytes) -> asyncio.Future[tuple[int, int]]:
        assert self.transport is not None
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiting


async def client(
    host: str,
    port: int,
    work: dict[str, list[str]],
    deadline: float,
    think: float,
    rnd: random.Random,
    results: dict[str, list[float]],
    errors: dict[str, int],
) -> None:
    loop = asyncio.get_running_loop()
    connection: Connection | None = None
    kinds, weights = ["page", "search", "api"], [0.4, 0.3, 0.3]
    head = f" HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: identity\r\n\r\n"
    while time.perf_counter() < deadline:
        kind = rnd.choices(kinds, weights)[0]
        path = rnd.choice(work[kind])
        start = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: wait_for runs the read as a task of its own (more client CPU)
            async with asyncio.timeout(TIMEOUT):
                if connection is None or connection.closed:
                    _, connection = await loop.create_connection(Connection, host, port)
                status, _ = await connection.request(f"GET {path}{head}".encode())
            elapsed = time.perf_counter() - start
            if status != 200:
                errors[f"{kind} {status}"] = errors.get(f"{kind} {status}", 0) + 1
            else:
                results[kind].append(elapsed)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            cause = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            errors[f"{kind} {cause}"] = errors.get(f"{kind} {cause}", 0) + 1
            if connection is not None and connection.transport is not None:
                connection.transport.close()
            connection = None
        if think:
            await asyncio.sleep(rnd.uniform(0.5, 1.5) * think)
    if connection is not None and connection.transport is not None:
        connection.transport.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(
    host: str,
    port: int,
    work: dict[str, list[str]],
    clients: int,
    seconds: float,
    think: float,
    quiet: bool = False,
) -> int:
    """Runs the clients; prints the figures (unless `quiet`) and returns the number of answers."""
    results: dict[str, list[float]] = {k: [] for k in work}
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    client_cpu = time.process_time()
    await asyncio.gather(
        *(
            client(host, port, work, deadline, think, random.Random(i), results, errors)
            for i in range(clients)
        )
    )
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    total = sum(len(v) for v in results.values())
    if quiet:
        return 0
    print(
        f"{clients} clients, {seconds:.0f} s, think {think * 1000:.0f} ms: {total} answers in {wall:.1f} s "
        f"({total / wall:.0f}/s), errors {sum(errors.values())} {errors or ''}"
    )
    print(
        f"  client CPU {client_cpu:.1f} s ({client_cpu / max(1, total) * 1000:.2f} ms per answer: this "
        "process shares the cores with the server)"
    )
    print(f"  {'kind':<8} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, values in results.items():
        print(
            f"  {kind:<8} {len(values):>7} {percentile(values, 50) * 1000:>8.1f} "
            f"{percentile(values, 95) * 1000:>8.1f} {percentile(values, 99) * 1000:>8.1f} "
            f"{(max(values) if values else float('nan')) * 1000:>8.1f}"
        )
    return total


def start_server(catalog: Path, host: str, port: int, src: str | None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    server = subprocess.Popen(
        [sys.executable, "-m", "ruleatlas.cli", "serve", "--catalog", str(catalog), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    # the server checks the whole catalog file before it listens: seconds on a busy machine
    for _ in range(STARTUP_SECONDS * 10):
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            break
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode} before listening") from None
            time.sleep(0.1)
    return server


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (the server's workers), from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--catalog", type=Path, required=True, help="a built catalog folder (ruleatlas build --out)"
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause per client after each answer")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument(
        "--server", action="append", default=[], help="NAME=SRC: a source folder to serve from"
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of each --server, in turns")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = workload(args.catalog, args.seed)
    print(f"cores: {os.cpu_count()}; workload: {', '.join(f'{k} {len(v)} paths' for k, v in work.items())}")
    if args.url:
        parts = urllib.parse.urlsplit(args.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        asyncio.run(run(host, port, work, args.clients, args.seconds, args.think_ms / 1000))
        return 0
    servers = [tuple(spec.split("=", 1)) for spec in args.server] or [("this", "")]
    for round_no in range(args.rounds):
        for name, src in servers:
            host, port = "127.0.0.1", free_port()
            print(f"\n== {name} ({src or 'installed'}), round {round_no + 1}; load average {load()}")
            server = start_server(args.catalog, host, port, src or None)
            try:
                # a short warm-up: the first answers read the catalog's pages into memory
                asyncio.run(run(host, port, work, 20, 2.0, 0.0, quiet=True))
                cpu = process_tree_cpu(server.pid)
                answers = asyncio.run(run(host, port, work, args.clients, args.seconds, args.think_ms / 1000))
                cpu = process_tree_cpu(server.pid) - cpu
            finally:
                server.terminate()
                server.wait(timeout=30)
            print(
                f"  server CPU {cpu:.1f} s ({cpu / max(1, answers) * 1000:.2f} ms per answer, all its "
                f"processes); load average {load()}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
