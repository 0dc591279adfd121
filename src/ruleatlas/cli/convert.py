"""`ruleatlas convert`: a Sigma rule in a SIEM's language, by pySigma's own backends (what a rule page's
"Deploy as" shows). The rule is a catalog rule (uid, file stem or rule id; its build's conversions are
printed as they were stored) or a Sigma rule file (converted now)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ruleatlas.analysis.deploy import TARGET_NAMES
from ruleatlas.analysis.document import DeployDoc
from ruleatlas.cli.common import EXIT_OK, EXIT_PROBLEMS, add_catalog_arg, require_catalog

ALL = "all"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help="a Sigma rule in Splunk, Elastic, Kusto or YARA-L, by pySigma's backends",
        description="Print a Sigma rule converted by pySigma's backends, with the pipeline each used. "
        "Exit 0: every asked conversion succeeded; 1: a backend refused (its message is printed) or no "
        "such rule.",
    )
    p.add_argument("rule", help="a catalog rule (uid, file stem or rule id) or a Sigma rule file")
    p.add_argument("--to", choices=(*TARGET_NAMES, ALL), default=ALL, help="the target (default: all)")
    add_catalog_arg(p)


def run(args: argparse.Namespace) -> int:
    from ruleatlas.analysis.deploy import Conversion, Converter, target

    wanted = TARGET_NAMES if args.to == ALL else (args.to,)
    path = Path(args.rule)
    if path.is_file() and path.suffix in (".yml", ".yaml"):
        converter = Converter([target(name) for name in wanted])
        conversions = converter.convert(path.read_text(encoding="utf-8", errors="surrogateescape"))
    else:
        stored = _from_catalog(args)
        if stored is None:
            return EXIT_PROBLEMS
        conversions = [Conversion.from_json(c) for c in stored if c["target"] in wanted]
    sys.stdout.write(conversions_text(conversions, header=len(wanted) > 1))
    return EXIT_OK if conversions and all(not c.error for c in conversions) else EXIT_PROBLEMS


def _from_catalog(args: argparse.Namespace) -> list[DeployDoc] | None:
    from ruleatlas.analysis.deploy import Converter
    from ruleatlas.store import open_catalog

    require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        uids = catalog.find_uids(args.rule)
        if len(uids) != 1 and args.rule not in uids:
            what = "no rule" if not uids else "several rules: " + ", ".join(uids)
            print(f"ruleatlas convert: {args.rule!r} names {what} in {args.catalog}", file=sys.stderr)
            return None
        doc = catalog.rule_document(args.rule if args.rule in uids else uids[0])
    assert doc is not None
    if doc.get("language") != "sigma":
        print(f"ruleatlas convert: {doc['uid']} is a {doc.get('language')} rule, not Sigma", file=sys.stderr)
        return None
    deploy: list[DeployDoc] = doc.get("deploy") or []
    if not deploy:  # a catalog built without conversions: convert its stored text now
        deploy = [c.to_json() for c in Converter().convert(str(doc.get("body", "")))]
    return deploy


def conversions_text(conversions: list[Any], *, header: bool) -> str:
    """Each conversion as the page shows it: the query, or the backend's refusal; with several targets,
    each under a comment line naming the target and pipeline."""
    parts = []
    for c in conversions:
        lines = [f"# {c.label} (pipeline: {c.pipeline})"] if header else []
        lines.append(c.query if not c.error else f"# refused by the backend: {c.error}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n" if parts else ""
