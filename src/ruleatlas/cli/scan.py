"""`ruleatlas scan`: the options and the run live in engine.scan_cli, beside the engine they drive; this
module only registers them, so the scan machinery loads when `scan` runs, not for other commands."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    from ruleatlas.engine.scan_cli import add_scan_parser

    add_scan_parser(sub)


def run(args: argparse.Namespace) -> int:
    from ruleatlas.engine.scan_cli import cmd_scan

    return cmd_scan(args)
