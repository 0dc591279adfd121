"""A normal client's latency while hostile clients are connected (../shared/research/reliability.md, H1,
H2, H5), for one or more servers in one run. Prints, per server and scenario, the normal client's answers,
errors and p50/p95/max latency, the server's CPU seconds and the load average; asserts nothing.

    .venv/bin/python bench/serve_abuse.py --catalog /tmp/cat --server old=/tmp/old/src --server new=src

Scenarios (each `--seconds` long, the normal client asking for a rule page and /api/stats in turn, with a
10 s timeout, 0.1 s apart):
- `slow`: 300 slowloris sockets (a request head never finished, one header line every 5 s) and 50 sockets
  that pipeline requests for `/data/search.js` (3 MB) and never read; an attacker whose socket the server
  closes connects again.
- `search`: 8 clients sending legal 1,000-character filter searches, each different.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import free_port, load, percentile

SLOWLORIS = 300
NON_READERS = 50
SEARCHERS = 8


def start(catalog: Path, port: int, src: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    proc = subprocess.Popen(
        [sys.executable, "-m", "ruleatlas.cli", "serve", "--catalog", str(catalog), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc


def expensive_query(seed: int) -> str:
    words = [f"{('value', 'field', 'logsource')[i % 3]}:{chr(97 + (i + seed) % 26)}" for i in range(400)]
    return " ".join(words)[:1000].rsplit(" ", 1)[0]


class Attack:
    def __init__(self, port: int, scenario: str) -> None:
        self.port = port
        self.scenario = scenario
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.reconnects = 0

    def connect(self, rcvbuf: int = 0) -> socket.socket | None:
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            return None
        return sock

    def slow(self) -> None:
        loris: list[socket.socket | None] = [None] * SLOWLORIS
        readers: list[socket.socket | None] = [None] * NON_READERS
        big = b"GET /data/search.js HTTP/1.1\r\nHost: x\r\n\r\n"
        line = 0
        while not self.stop.is_set():
            for i, sock in enumerate(loris):
                try:
                    if sock is None:
                        raise OSError
                    sock.send(b"X-%d: 1\r\n" % line)
                except OSError:
                    if sock is not None:
                        sock.close()
                        self.reconnects += 1
                    fresh = self.connect()
                    if fresh is not None:
                        with contextlib.suppress(OSError):
                            fresh.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    loris[i] = fresh
            for i, sock in enumerate(readers):
                try:
                    if sock is None:
                        raise OSError
                    sock.setblocking(False)
                    sock.send(big)  # one more pipelined request: fails once the server dropped us
                except BlockingIOError:
                    pass
                except OSError:
                    if sock is not None:
                        sock.close()
                        self.reconnects += 1
                    fresh = self.connect(rcvbuf=4096)
                    if fresh is not None:
                        with contextlib.suppress(OSError):
                            fresh.send(big * 20)
                    readers[i] = fresh
            line += 1
            self.stop.wait(5)
        for sock in loris + readers:
            if sock is not None:
                sock.close()

    def searcher(self, seed: int) -> None:
        n = seed
        while not self.stop.is_set():
            n += SEARCHERS
            path = "/api/search?" + urllib.parse.urlencode({"q": expensive_query(n)})
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn.request("GET", path)
                conn.getresponse().read()
            conn.close()

    def __enter__(self) -> Attack:
        targets = [self.slow] if self.scenario == "slow" else [self.searcher] * SEARCHERS
        for i, target in enumerate(targets):
            thread = threading.Thread(
                target=target, args=() if self.scenario == "slow" else (i,), daemon=True
            )
            thread.start()
            self.threads.append(thread)
        time.sleep(2)  # let the attackers connect
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)


def normal_client(port: int, seconds: float, rule_page: str) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        path = rule_page if n % 2 else "/api/stats"
        n += 1
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
        time.sleep(0.1)
    return latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument(
        "--server", action="append", default=[], help="NAME=SRC: a source folder to serve from"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scenario", action="append", choices=["slow", "search"], default=[])
    args = parser.parse_args()
    rule = next((args.catalog / "site" / "rules" / "sigma").iterdir()).name
    rule_page = f"/rules/sigma/{urllib.parse.quote(rule)}/"
    servers = [tuple(spec.split("=", 1)) for spec in args.server] or [("this", "")]
    for scenario in args.scenario or ["slow", "search"]:
        for name, src in servers:
            port = free_port()
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = usage.ru_utime + usage.ru_stime
            print(f"== {scenario}: {name} ({src or 'installed'}); load average {load()}", flush=True)
            proc = start(args.catalog, port, src)
            try:
                quiet, quiet_errors = normal_client(port, 3, rule_page)
                with Attack(port, scenario) as attack:
                    latencies, errors = normal_client(port, args.seconds, rule_page)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            print(
                f"  before the attack: {len(quiet)} answers, p50 {percentile(quiet, 50) * 1000:.1f} ms, "
                f"errors {quiet_errors}\n"
                f"  under attack: {len(latencies)} answers, errors/timeouts {errors}, "
                f"p50 {percentile(latencies, 50) * 1000:.1f} ms, "
                f"p95 {percentile(latencies, 95) * 1000:.1f} ms, "
                f"max {(max(latencies) if latencies else float('nan')) * 1000:.1f} ms; "
                f"attackers reconnected {attack.reconnects} times\n"
                f"  server CPU {usage.ru_utime + usage.ru_stime - cpu:.1f} s; load average {load()}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
