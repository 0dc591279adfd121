"""`ruleatlas show`, `stats` and `problems`: read what a built catalog holds."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ruleatlas.cli.common import EXIT_OK, EXIT_PROBLEMS, add_catalog_arg, require_catalog


def add_show_parser(sub: Any) -> None:
    p = sub.add_parser("show", help="print one rule's page")
    p.add_argument("uid", help="rule uid (sigma/<stem>), file stem, or rule id")
    add_catalog_arg(p)
    p.add_argument("--json", action="store_true")


def add_stats_parser(sub: Any) -> None:
    p = sub.add_parser("stats", help="what the catalog holds")
    add_catalog_arg(p)
    p.add_argument("--json", action="store_true")


def add_problems_parser(sub: Any) -> None:
    p = sub.add_parser("problems", help="every file and rule problem the build found")
    add_catalog_arg(p)
    p.add_argument("--json", action="store_true")


def run_show(args: argparse.Namespace) -> int:
    from ruleatlas.store import open_catalog
    from ruleatlas.textpage import render_text

    require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        uids = catalog.find_uids(args.uid)
        if not uids:
            print(f"ruleatlas show: no rule {args.uid!r} in {args.catalog}", file=sys.stderr)
            return EXIT_PROBLEMS
        if len(uids) > 1 and args.uid not in uids:
            print(f"ruleatlas show: {args.uid!r} names several rules: {', '.join(uids)}", file=sys.stderr)
            return EXIT_PROBLEMS
        doc = catalog.rule_document(args.uid if args.uid in uids else uids[0])
    assert doc is not None
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_text(doc))
    return EXIT_OK


def run_stats(args: argparse.Namespace) -> int:
    from ruleatlas.analysis.stats import kind_vs_status_text, problems_text
    from ruleatlas.store import open_catalog

    require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        stats = catalog.stats()
        sources = [
            {
                "source": s.source,
                "vendor": s.vendor,
                "path": s.path,
                "repo": s.repo,
                "commit": s.commit,
                "files": s.files,
                "rules": s.rules,
                "errors": s.errors,
            }
            for s in catalog.sources()
        ]
        built_at = catalog.meta().get("built_at", "")
    if args.json:
        print(json.dumps({**stats, "sources": sources, "built_at": built_at}, indent=2))
        return EXIT_OK
    print(f"{stats['rules']} rules from {stats['files']} files (built {built_at})")
    print(f"  {problems_text(stats)} (`ruleatlas problems` lists them)")
    for name, n in stats["kind_vs_status"].items():
        print("  " + kind_vs_status_text(name, n))
    for title, counts in (
        ("vendor", stats["per_vendor"]),
        ("kind", stats["per_kind"]),
        ("level", stats["per_level"]),
        ("status", stats["per_status"]),
    ):
        print(f"  per {title}: " + ", ".join(f"{k or '(none)'} {v}" for k, v in counts.items()))
    print("  per vendor and class:")
    for vendor, kinds in stats["per_vendor_kind"].items():
        files = stats["per_vendor_files"].get(vendor, {"files": 0, "error_files": 0})
        print(
            f"    {vendor:<10} "
            + ", ".join(f"{k} {n}" for k, n in kinds.items())
            + f"; files {files['files']}, {files['error_files']} with no rule"
        )
    print("  per folder:")
    for name, f in sorted(stats["per_folder"].items()):
        print(
            f"    {name:<36} files {f['files']:>5}  rules {f['rules']:>5}  error files {f['error_files']:>3}"
        )
    return EXIT_OK


def run_problems(args: argparse.Namespace) -> int:
    from ruleatlas.store import open_catalog

    require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        problems = catalog.problems()
    rows: list[dict[str, Any]] = [
        {
            "source": p.source,
            "vendor": p.vendor,
            "file": p.file,
            "uid": p.uid,
            "line": p.line,
            "severity": p.severity,
            "message": p.message,
            "hint": p.hint,
        }
        for p in problems
    ]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for r in rows:
            file = r["file"] or f"(source {r['source']})"  # a problem of a whole source names no file
            where = f"{file}:{r['line']}" if r["line"] else file
            hint = f" (hint: {r['hint']})" if r["hint"] else ""
            print(f"{r['severity']}: {where}: {r['message']}{hint}")
        print(f"{len(rows)} problems")
    return EXIT_OK
