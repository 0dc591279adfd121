"""`ruleatlas serve`: serve the catalog's pages and API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ruleatlas.cli.common import EXIT_OK, add_catalog_arg


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the catalog's pages and API")
    add_catalog_arg(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=0, help="server processes (default: one per core, up to 4)")


def run(args: argparse.Namespace) -> int:
    from ruleatlas.web.serve import ServeError, serve

    try:
        serve(args.catalog, host=args.host, port=args.port, workers=args.workers)
    except ServeError as exc:
        print(f"ruleatlas serve: {exc}", file=sys.stderr)
        return exc.code
    return EXIT_OK
