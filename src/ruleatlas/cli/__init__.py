"""The `ruleatlas` command. Each subcommand is a thin module of this package: it adds its options and, when
run, calls the module that does the work.

Exit codes: 0 done; 1 done but with problems in the input (or nothing found), a damaged catalog, or a build
that could not write a file (a full disk: the previous generation stays); 2 bad usage, settings or
environment (an `--out` folder that is not a catalog folder or is held by another build, an output that
cannot be written, a port in use); 130 interrupted; 141, silently, when the reader of the output went away
(`| head`), as `scan` and shell tools do. Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ruleatlas import __version__
from ruleatlas.cli import build, catalog, convert, coverage, export, fetch, readiness, scan, serve
from ruleatlas.cli.build import resolve_build_config
from ruleatlas.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_PIPE_CLOSED,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    CatalogUnreadable,
    os_error,
    quiet_broken_pipe,
)
from ruleatlas.config import ConfigError

__all__ = ["COMMANDS", "main", "make_parser", "resolve_build_config"]

Command = Callable[[argparse.Namespace], int]

# name -> (add its options to the subparsers, run it); in the order `--help` lists them.
COMMANDS: dict[str, tuple[Callable[[Any], None], Command]] = {
    "fetch": (fetch.add_parser, fetch.run),
    "build": (build.add_parser, build.run),
    "serve": (serve.add_parser, serve.run),
    "show": (catalog.add_show_parser, catalog.run_show),
    "stats": (catalog.add_stats_parser, catalog.run_stats),
    "problems": (catalog.add_problems_parser, catalog.run_problems),
    "coverage": (coverage.add_parser, coverage.run),
    "readiness": (readiness.add_parser, readiness.run),
    "export": (export.add_parser, export.run),
    "scan": (scan.add_parser, scan.run),
    "convert": (convert.add_parser, convert.run),
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ruleatlas", description="A detection-engineering atlas.")
    parser.add_argument("--version", action="version", version=f"ruleatlas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser, _run in COMMANDS.values():
        add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ruleatlas.output.generation import OutputError

    try:
        args = make_parser().parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the modules load
        print("\nruleatlas: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    name = f"ruleatlas {args.command}"
    try:
        code = COMMANDS[args.command][1](args)
        sys.stdout.flush()  # a closed pipe shows here, while we can still handle it
        return code
    except (ConfigError, OutputError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CatalogUnreadable as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except BrokenPipeError:
        quiet_broken_pipe()
        return EXIT_PIPE_CLOSED
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except sqlite3.Error as exc:
        catalog = getattr(args, "catalog", None)
        print(f"{name}: the catalog {catalog} cannot be read ({exc}); rebuild it", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:  # a missing path, no permission, a full disk, a port in use: the environment
        print(f"{name}: {os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
