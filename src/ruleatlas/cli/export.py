"""`ruleatlas export`: the rules a selection lists, with their indicators (jsonl, csv) or as a Navigator
layer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ruleatlas.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, add_catalog_arg, require_catalog

# The selection options: facet name -> what it selects (the facet names are store.browse.FACETS).
SELECTION_HELP = (
    ("vendor", "vendor"),
    ("product", "log source product"),
    ("logsource", "log source category or service"),
    ("status", "status"),
    ("level", "level"),
    ("tactic", "ATT&CK tactic (id, short name or name)"),
    ("technique", "ATT&CK technique (with its sub-techniques)"),
    ("kind", "rule kind"),
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="the rules a selection lists, with their indicators (jsonl, csv) or as a Navigator layer",
    )
    add_catalog_arg(p)
    p.add_argument("--format", choices=("jsonl", "csv", "navigator"), required=True)
    p.add_argument("--output", "-o", type=Path, help="write here instead of standard output")
    for name, what in SELECTION_HELP:
        p.add_argument(
            f"--{name}", action="append", default=[], help=f"only rules of this {what} (repeatable)"
        )
    p.add_argument("--retired", action="store_true", help="also deprecated and unsupported rules")


def run(args: argparse.Namespace) -> int:
    from ruleatlas.export import ExportError, export
    from ruleatlas.store import open_catalog
    from ruleatlas.store.browse import FACETS, RuleFilter

    require_catalog(args.catalog)
    selection = RuleFilter.from_lists(retired=args.retired, **{f: getattr(args, f) for f in FACETS})
    with open_catalog(args.catalog) as catalog:
        try:
            if args.output is None:
                n = export(catalog, selection, args.format, sys.stdout)
            else:
                with args.output.open("w", encoding="utf-8", newline="") as out:
                    n = export(catalog, selection, args.format, out)
        except ExportError as exc:
            print(f"ruleatlas export: {exc}", file=sys.stderr)
            return EXIT_USAGE
    print(f"ruleatlas export: {n} rules ({args.format})", file=sys.stderr)
    return EXIT_OK if n else EXIT_PROBLEMS
