"""Helpers for the crash-safety tests: three states of a small corpus (the fixture corpus, with tests/data's
ATT&CK bundle and provider definitions), a build command line, and a snapshot of what a catalog folder
serves (every page's bytes and the catalog's documents) to compare with a clean build."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

from ruleatlas.output.generation import current_generation
from ruleatlas.store import Catalog

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = DATA / "catalog" / "sigma"
ATTACK = DATA / "attack"
TELEMETRY = DATA / "telemetry" / "providers"
BUILT_LINE = re.compile(rb'<p class="muted build-info">Built [^<]*</p>')

NEW_RULE = """title: Whoami Started
id: 00000000-0000-4000-8000-0000000000ff
status: test
description: A rule added between builds.
author: RuleAtlas tests
date: 2024-01-01
tags:
    - attack.discovery
    - attack.t1033
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\whoami.exe'
        CommandLine|contains: '/all'
    condition: selection
level: medium
"""


def make_states(root: Path) -> dict[str, Path]:
    """A: the fixture corpus. B: A plus a new rule and a retitled one (the set of files changed: a full
    build). C: A with one rule's level and value changed (an incremental build)."""
    states = {name: root / f"state-{name}" for name in "ABC"}
    for path in states.values():
        shutil.copytree(FIXTURE, path)
    (states["B"] / "rules" / "windows" / "proc_whoami.yml").write_text(NEW_RULE, encoding="utf-8")
    edit(states["B"] / "rules" / "windows" / "proc_cmd_a.yml", "title: Cmd Started", "title: Cmd Run")
    edit(states["C"] / "rules" / "windows" / "net_tunnel_a.yml", "level: ", "level: critical\n#")
    edit(states["C"] / "rules" / "windows" / "proc_cmd_a.yml", "'foo'", "'bar'")
    return states


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def switch(source: Path, state: Path) -> None:
    """Make the live source folder hold `state` (the build's source path stays the same)."""
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(state, source)


def build_args(source: Path, out: Path, jobs: int = 1) -> list[str]:
    return [
        "build",
        "--source",
        f"sigma={source}",
        "--attack",
        str(ATTACK),
        "--telemetry",
        str(TELEMETRY),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
    ]


def build_command(source: Path, out: Path, jobs: int = 1) -> list[str]:
    return [sys.executable, "-m", "ruleatlas.cli", *build_args(source, out, jobs)]


def snapshot(out: Path) -> dict[str, str]:
    """path → digest of everything the folder serves now: every site file (the home page without its
    `Built …` line) and, as `catalog:*` entries, the catalog's meta, rule documents, problems and stats."""
    generation = current_generation(out)
    site = generation / "site"
    found: dict[str, str] = {}
    for path in sorted(site.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path == site / "index.html":
                data = BUILT_LINE.sub(b"", data)
            found[path.relative_to(site).as_posix()] = hashlib.sha256(data).hexdigest()
    catalog = Catalog(generation / "catalog.sqlite")
    try:
        meta = {k: v for k, v in catalog.meta().items() if k != "built_at"}
        found["catalog:meta"] = json.dumps(meta, sort_keys=True)
        found["catalog:stats"] = json.dumps(catalog.stats(), sort_keys=True)
        found["catalog:problems"] = json.dumps([repr(p) for p in catalog.problems()])
        for summary in catalog.summaries():
            doc = catalog.rule_document(summary["uid"])
            found[f"catalog:rule:{summary['uid']}"] = hashlib.sha256(
                json.dumps(doc, sort_keys=True).encode("utf-8", "surrogatepass")
            ).hexdigest()
    finally:
        catalog.close()
    return found


def differences(got: dict[str, str], want: dict[str, str]) -> list[str]:
    """What differs, named (missing, unexpected, changed), at most 20 names."""
    out = [f"missing {k}" for k in sorted(want.keys() - got.keys())]
    out += [f"unexpected {k}" for k in sorted(got.keys() - want.keys())]
    out += [f"differs {k}" for k in sorted(want.keys() & got.keys()) if got[k] != want[k]]
    return out[:20]
