"""`ruleatlas coverage`: ATT&CK coverage of the detection rules, and the gaps."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ruleatlas.cli.common import EXIT_OK, EXIT_PROBLEMS, add_catalog_arg, require_catalog
from ruleatlas.config import ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("coverage", help="ATT&CK coverage of the detection rules, and the gaps")
    add_catalog_arg(p)
    p.add_argument("--platform", help="an ATT&CK platform: windows, linux, macos, iaas, ...")
    p.add_argument("--format", choices=("table", "json", "navigator"), default="table")
    p.add_argument(
        "--validated", action="store_true", help="only rules some log sample fires (validated by a sample)"
    )
    for name in ("vendor", "level", "status"):
        p.add_argument(
            f"--{name}", action="append", default=[], help=f"only rules of this {name} (repeatable)"
        )


def run(args: argparse.Namespace) -> int:
    from ruleatlas.analysis.coverage import (
        AttackFilters,
        data_platforms,
        navigator_layer,
        parse_list,
        resolve_platform,
    )
    from ruleatlas.analysis.coverage_matrix import coverage_summary
    from ruleatlas.store import attack as store_attack
    from ruleatlas.store import open_catalog
    from ruleatlas.textcoverage import render_coverage_table
    from ruleatlas.web import attack_answers

    require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        if attack is None:
            print(
                f"ruleatlas coverage: {args.catalog} was built without ATT&CK data (build with --attack)",
                file=sys.stderr,
            )
            return EXIT_PROBLEMS
        platform = resolve_platform(args.platform, attack) if args.platform else ""
        if platform is None:
            known = ", ".join(data_platforms(attack))
            raise ConfigError(f"--platform {args.platform}: not an ATT&CK platform of this data ({known})")
        filters = AttackFilters(
            parse_list(args.vendor),
            platform,
            parse_list(args.level),
            parse_list(args.status),
            validated=args.validated,
        )
        index = attack_answers.coverage_index(catalog, attack, filters)
    if args.format == "navigator":
        print(json.dumps(navigator_layer(index), indent=2))
    elif args.format == "json":
        print(json.dumps(coverage_summary(index), indent=2))
    else:
        sys.stdout.write(render_coverage_table(coverage_summary(index)))
    return EXIT_OK
