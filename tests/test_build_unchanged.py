"""A rebuild in which nothing changed leaves the published generation as it is (build/unchanged.py), and
reports what the build that made it reported; a change to anything else a build reads (here a log sample
the fires-on pass scans) is still built."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.output.generation import TREES, current_generation

FIXTURE = Path(__file__).resolve().parent / "data" / "catalog" / "sigma"
EVENT = {"EventID": 3, "Channel": "Microsoft-Windows-Sysmon/Operational", "DestinationHostname": "x.example"}


def _published(out: Path) -> tuple[str, str, int]:
    generation = current_generation(out)
    state = (generation / "generation.json").read_text(encoding="utf-8")
    return os.readlink(out / "current"), state, (generation / "catalog.sqlite").stat().st_ino


def _assert_idle_level(out: Path) -> None:
    """After a full build the idle generation is the current one's mirror (the same files, hard links),
    recorded as the generation before it with an empty change journal: the next build syncs by that."""
    current = current_generation(out)
    idle = next(p for p in (out / "generations").iterdir() if p.name in TREES and p != current)
    state = json.loads((current / "generation.json").read_text(encoding="utf-8"))
    idle_state = json.loads((idle / "generation.json").read_text(encoding="utf-8"))
    assert (idle_state["generation"], state["journal"]) == (state["generation"] - 1, True)
    assert (current / "changes").read_text(encoding="utf-8") == ""
    pages = sorted(p.relative_to(current) for p in (current / "site").rglob("*") if p.is_file())
    assert pages and all((idle / p).stat().st_ino == (current / p).stat().st_ino for p in pages)
    assert sorted(p.relative_to(idle) for p in (idle / "site").rglob("*") if p.is_file()) == pages


def test_nothing_changed_keeps_the_published_generation(tmp_path: Path) -> None:
    corpus = tmp_path / "sigma"
    shutil.copytree(FIXTURE, corpus)
    samples = tmp_path / "logs"
    samples.mkdir()
    (samples / "one.json").write_text(json.dumps(EVENT) + "\n", encoding="utf-8")
    config = BuildConfig(out=tmp_path / "out", sources=[SourceSpec("sigma", corpus)], samples=samples, jobs=1)
    first = build(config)
    before = _published(config.out)
    _assert_idle_level(config.out)
    again = build(config)
    assert again.unchanged and not first.unchanged
    assert _published(config.out) == before
    assert (again.mode, again.files_parsed, again.pages_written) == ("incremental", 0, 0)
    assert (again.rules, again.problems, again.errors, again.per_folder) == (
        first.rules,
        first.problems,
        first.errors,
        first.per_folder,
    )
    assert again.pages_kept == first.rules
    # A new sample is an input of the fires-on pass: the build runs and publishes a new generation.
    (samples / "two.json").write_text(json.dumps({**EVENT, "EventID": 22}) + "\n", encoding="utf-8")
    sampled = build(config)
    assert not sampled.unchanged and sampled.mode == "incremental"
    assert _published(config.out)[0] != before[0]
    assert build(config).unchanged
    # A rule edited after a full build: the generation step syncs the idle mirror by the empty journal.
    config.pages = True
    rule = corpus / "rules" / "windows" / "net_tunnel_b.yml"
    rule.write_text(rule.read_text(encoding="utf-8").replace("'*.LOCALTO.NET'", "'*.example.org'"))
    full = build(config, force_full=True)
    assert full.mode == "full"
    _assert_idle_level(config.out)
    rule.write_text(rule.read_text(encoding="utf-8").replace("'*.example.org'", "'*.example.net'"))
    edited = build(config)
    assert (edited.mode, edited.files_parsed, edited.unchanged) == ("incremental", 1, False)
    page = current_generation(config.out) / "site" / "rules" / "sigma" / "net_tunnel_b" / "index.html"
    assert "example.net" in page.read_text(encoding="utf-8")
