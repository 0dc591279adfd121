"""The pages step of a rebuild after one rule changed: its wall and CPU seconds (this process and its
finished workers), and with --profile the cProfile top items of that step alone, timed in CPU seconds (the
machine is shared: wall time says little). Asserts nothing.

Works in the kept folder of bench/rebuild.py (build it cold once, then run this as often as wanted):

    .venv/bin/python bench/rebuild.py --work /tmp/rebuild --only sigma cold
    .venv/bin/python bench/pages_rebuild.py --work /tmp/rebuild --only sigma level
    .venv/bin/python bench/pages_rebuild.py --work /tmp/rebuild --only sigma tag --profile 40

Edits (each run undoes the previous run's edit of the same kind, so runs alternate): `level` flips the
rule's level, `title` changes its title, `tag` swaps its ATT&CK technique, `add` copies the rule under a new
name (or removes the copy: a file added or removed makes the build a full one, as the plan decides),
`none` rebuilds with nothing changed. A change to the web code makes the next build render every page
again (the templates key): run `none` once after one.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import ruleatlas.build as build_module
from bench_support import EDITED, cpu_seconds, only_sources
from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec, shared_defaults

ROOT = Path(__file__).resolve().parents[1]
COPY = "rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel_copy.yml"


def edit(corpus: Path, what: str) -> str:
    """Make the edit `what` (undoing it when it was made last time); returns what was done."""
    rule = corpus / EDITED
    text = rule.read_text(encoding="utf-8")
    swaps = {
        "level": ("level: high", "level: critical"),
        "title": ("title: Communication To LocaltoNet", "title: Traffic To LocaltoNet"),
        "tag": ("attack.t1102", "attack.t1219"),
    }
    if what in swaps:
        old, new = swaps[what]
        if old not in text:
            old, new = new, old
        assert old in text, f"{EDITED} has neither {old!r} nor {new!r}"
        rule.write_text(text.replace(old, new), encoding="utf-8")
        return f"{old!r} -> {new!r}"
    if what == "add":
        copy = corpus / COPY
        if copy.exists():
            copy.unlink()
            return f"removed {COPY}"
        lines = [line for line in text.splitlines() if not line.startswith("id:")]
        copy.write_text("\n".join(lines).replace("title: ", "title: Copy of ", 1) + "\n", encoding="utf-8")
        return f"added {COPY}"
    return "nothing changed"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("level", "title", "tag", "add", "none"))
    parser.add_argument("--work", type=Path, required=True, help="bench/rebuild.py's kept folder")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("RULEATLAS_SHARED", ROOT.parent / "shared"))
    )
    parser.add_argument("--only", default="", help="comma-separated source names (as the cold build's)")
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, help="print this many cProfile items")
    args = parser.parse_args()
    shared = args.shared.resolve()
    sources, attack, telemetry = shared_defaults(shared)
    sources = only_sources(sources, args.only)
    corpus = args.work / "sigma"
    sources = [SourceSpec("sigma", corpus) if s.name == "sigma" else s for s in sources]
    config = BuildConfig(
        out=args.work / "out",
        sources=sources,
        attack=attack,
        telemetry=telemetry,
        samples=shared / "logs" if (shared / "logs").is_dir() else None,
        jobs=args.jobs,
    )
    done = edit(corpus, args.what)
    profile = cProfile.Profile(time.process_time) if args.profile else None
    measured: dict[str, float] = {}
    write_pages = build_module.write_pages  # type: ignore[attr-defined]

    def timed_pages(*a: Any, **k: Any) -> None:
        start, cpu = time.perf_counter(), cpu_seconds()
        if profile is not None:
            profile.enable()
        try:
            write_pages(*a, **k)
        finally:
            if profile is not None:
                profile.disable()
            measured["wall"], measured["cpu"] = time.perf_counter() - start, cpu_seconds() - cpu

    build_module.write_pages = timed_pages  # type: ignore[attr-defined]
    start, cpu = time.perf_counter(), cpu_seconds()
    summary = build(config, log=open(os.devnull, "w"))  # noqa: SIM115
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(f"edit: {done}")
    print(
        f"{args.what}: {summary.mode} build {wall:.2f} s wall, {cpu:.2f} s CPU; pages step "
        f"{measured.get('wall', 0):.2f} s wall, {measured.get('cpu', 0):.2f} s CPU; rule pages written "
        f"{summary.pages_written} (load average {os.getloadavg()[0]:.1f})"
    )
    print("  steps (wall): " + ", ".join(f"{k} {v:.2f}s" for k, v in summary.timings.items()))
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
