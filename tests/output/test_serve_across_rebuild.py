"""Readers see one generation at a time: a client loop over pages and API answers across a full rebuild
gets no 404 for anything that exists before and after (issue 19, "Serving while a rebuild lands")."""

from __future__ import annotations

import contextlib
import http.client
import io
import subprocess
import sys
import threading
import time
from pathlib import Path

from test_crash import many_rules

from ruleatlas.cli import main
from ruleatlas.web.serve import make_server

NEW_RULE = (
    "title: Added Later\nid: 00000000-0000-4000-8000-00000000ffff\nstatus: test\n"
    "logsource:\n    category: process_creation\n    product: windows\n"
    "detection:\n    selection:\n        CommandLine|contains: 'added-later'\n"
    "    condition: selection\nlevel: high\n"
)


def urls_of(site: Path) -> list[str]:
    """Every page of the site (folders holding an index.html), the field and indicator pages first."""
    pages = [
        "/" + p.parent.relative_to(site).as_posix() + "/"
        for p in site.rglob("index.html")
        if p.parent != site
    ]
    pages.sort(key=lambda u: (not u.startswith(("/fields/", "/indicators/")), u))
    return ["/", *pages]


def test_no_404_for_pages_that_exist_before_and_after_a_rebuild(tmp_path: Path) -> None:
    source, out = many_rules(tmp_path / "sigma", 300), tmp_path / "out"
    build = ["build", "--source", f"sigma={source}", "--out", str(out), "--jobs", "1"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(build) == 0
    paths = urls_of(out / "site")
    paths += [f"/api/rules/sigma/proc_many_{i:03}" for i in range(0, 300, 7)]
    server = make_server(out, "127.0.0.1", 0, quiet=True)
    host, port = server.server_address[:2]
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    stop = threading.Event()
    failures: list[tuple[str, int]] = []
    answered = [0, 0]  # during the rebuild, in all

    def client(offset: int, rebuilding: threading.Event) -> None:
        connection = http.client.HTTPConnection(str(host), port, timeout=30)
        i = offset
        while not stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures.append((path, response.status))
            answered[1] += 1
            if rebuilding.is_set():
                answered[0] += 1
        connection.close()

    rebuilding = threading.Event()
    clients = [threading.Thread(target=client, args=(k * 97, rebuilding)) for k in range(2)]
    try:
        for thread in clients:
            thread.start()
        time.sleep(0.3)
        (source / "rules" / "windows" / "proc_added_later.yml").write_text(NEW_RULE, encoding="utf-8")
        rebuilding.set()  # a new file: a full build, every page written again
        done = subprocess.run([sys.executable, "-m", "ruleatlas.cli", *build], capture_output=True, text=True)
        rebuilding.clear()
        assert done.returncode == 0, done.stderr
        assert "full build" in done.stdout
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        server.shutdown()
        server.server_close()
    print(f"{answered[1]} answers, {answered[0]} during the rebuild, {len(failures)} not 200")
    assert answered[0] > 50, f"only {answered[0]} answers during the rebuild"
    assert failures == [], f"{len(failures)} of {answered[1]} requests failed, e.g. {failures[:5]}"
    assert (out / "site" / "rules" / "sigma" / "proc_added_later" / "index.html").is_file()
