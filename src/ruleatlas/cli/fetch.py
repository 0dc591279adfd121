"""`ruleatlas fetch`: download every rule source's repository and ATT&CK into a data folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ruleatlas.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from ruleatlas.config import SHARED_ENV


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "fetch", help="download every rule source's repository and ATT&CK into a data folder (data/<source>)"
    )
    p.add_argument("--dest", type=Path, default=Path("data"))


def run(args: argparse.Namespace) -> int:
    from ruleatlas.fetch import FetchError, FetchRefused, fetch

    try:
        written = fetch(args.dest)
    except FetchRefused as exc:
        print(f"ruleatlas fetch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FetchError as exc:
        for path in exc.written:
            print(f"fetched {path}")
        for failure in exc.failures:
            print(f"ruleatlas fetch: {failure}", file=sys.stderr)
        print(f"without internet, point the build at a local copy: {SHARED_ENV}=../shared", file=sys.stderr)
        return EXIT_PROBLEMS
    for path in written:
        print(f"fetched {path}")
    return EXIT_OK
