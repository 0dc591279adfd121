"""The `ruleatlas` command. Each subcommand is thin: parse arguments, call the module that does the work.

Exit codes: 0 done; 1 done but with problems in the input (or nothing found), a damaged catalog, or a build
that could not write a file (a full disk: the previous generation stays); 2 bad usage, settings or
environment (an `--out` folder that is not a catalog folder or is held by another build, an output that
cannot be written, a port in use); 130 interrupted; 141, silently, when the reader of the output went away
(`| head`), as `scan` and shell tools do. Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruleatlas import __version__
from ruleatlas.config import (
    CONFIG_FILE,
    SHARED_ENV,
    BuildConfig,
    ConfigError,
    SourceSpec,
    config_from_toml,
    load_toml,
    parse_source_arg,
    shared_defaults,
)
from ruleatlas.sources import SOURCES

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED = 0, 1, 2, 130, 141
DEFAULT_OUT = Path("catalog")


def _add_catalog_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", type=Path, default=DEFAULT_OUT, help="catalog folder (the build's --out)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ruleatlas", description="A detection-engineering atlas.")
    parser.add_argument("--version", action="version", version=f"ruleatlas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "fetch", help="download every rule source's repository and ATT&CK into a data folder (data/<source>)"
    )
    p.add_argument("--dest", type=Path, default=Path("data"))

    p = sub.add_parser("build", help="build the catalog and its static pages")
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="SOURCE=PATH",
        help=f"a rule source, e.g. sigma=../shared/corpus/sigma (repeatable); sources: {', '.join(SOURCES)}",
    )
    p.add_argument("--attack", type=Path, help="ATT&CK STIX bundle, or a folder holding one")
    p.add_argument("--telemetry", type=Path, help="telemetry definitions folder (providers/)")
    p.add_argument("--samples", type=Path, help="log samples for the telemetry pages (e.g. ../shared/logs)")
    p.add_argument(
        "--test-events",
        type=Path,
        help="a Panther analysis checkout whose rule tests give cloud and SaaS sample events "
        "(automatic with --shared: corpus/panther)",
    )
    p.add_argument("--out", type=Path, help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--config", type=Path, help=f"settings file (default: ./{CONFIG_FILE} if present)")
    p.add_argument("--shared", type=Path, help=f"a shared/ data folder; same as ${SHARED_ENV}")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    p.add_argument("--no-pages", action="store_true", help="write the catalog only")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("serve", help="serve the catalog's pages and API")
    _add_catalog_arg(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=0, help="server processes (default: one per core, up to 4)")

    p = sub.add_parser("show", help="print one rule's page")
    p.add_argument("uid", help="rule uid (sigma/<stem>), file stem, or rule id")
    _add_catalog_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stats", help="what the catalog holds")
    _add_catalog_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("problems", help="every file and rule problem the build found")
    _add_catalog_arg(p)
    p.add_argument("--json", action="store_true")
    _add_coverage_parser(sub)
    _add_readiness_parser(sub)
    _add_export_parser(sub)
    from ruleatlas.engine.scan_cli import add_scan_parser

    add_scan_parser(sub)
    return parser


def _add_coverage_parser(sub: Any) -> None:
    p = sub.add_parser("coverage", help="ATT&CK coverage of the detection rules, and the gaps")
    _add_catalog_arg(p)
    p.add_argument("--platform", help="an ATT&CK platform: windows, linux, macos, iaas, ...")
    p.add_argument("--format", choices=("table", "json", "navigator"), default="table")
    for name in ("vendor", "level", "status"):
        p.add_argument(
            f"--{name}", action="append", default=[], help=f"only rules of this {name} (repeatable)"
        )


def _add_readiness_parser(sub: Any) -> None:
    p = sub.add_parser("readiness", help="which rules can fire on the telemetry of some logs, and why not")
    _add_catalog_arg(p)
    p.add_argument("logs", nargs="+", type=Path, metavar="LOGS", help="EVTX/JSON/JSONL files or folders")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_export_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="the rules a selection lists, with their indicators (jsonl, csv) or as a Navigator layer",
    )
    _add_catalog_arg(p)
    p.add_argument("--format", choices=("jsonl", "csv", "navigator"), required=True)
    p.add_argument("--output", "-o", type=Path, help="write here instead of standard output")
    for name, what in (
        ("vendor", "vendor"),
        ("product", "log source product"),
        ("logsource", "log source category or service"),
        ("status", "status"),
        ("level", "level"),
        ("tactic", "ATT&CK tactic (id, short name or name)"),
        ("technique", "ATT&CK technique (with its sub-techniques)"),
        ("kind", "rule kind"),
    ):
        p.add_argument(
            f"--{name}", action="append", default=[], help=f"only rules of this {what} (repeatable)"
        )
    p.add_argument("--retired", action="store_true", help="also deprecated and unsupported rules")


def resolve_build_config(args: argparse.Namespace) -> BuildConfig:
    """Command-line options win over ruleatlas.toml, which wins over $RULEATLAS_SHARED and ./data."""
    config: BuildConfig | None = None
    config_path = args.config or (Path(CONFIG_FILE) if Path(CONFIG_FILE).is_file() else None)
    if config_path is not None:
        config = config_from_toml(config_path, load_toml(config_path))
    if config is None:
        config = BuildConfig(out=DEFAULT_OUT)
    shared = args.shared or (Path(os.environ[SHARED_ENV]) if os.environ.get(SHARED_ENV) else None)
    if not config.sources and not args.source:
        if shared is not None:
            config.sources, config.attack, config.telemetry = shared_defaults(shared)
        elif fetched := [
            SourceSpec(name, Path("data") / name) for name in SOURCES if (Path("data") / name).is_dir()
        ]:
            config.sources = fetched  # what `ruleatlas fetch` wrote: data/<source name>
            config.attack = config.attack or Path("data") / "attack"
    if args.source:
        config.sources = [parse_source_arg(s) for s in args.source]
    config.attack = args.attack or config.attack
    config.telemetry = args.telemetry or config.telemetry
    config.samples = args.samples or config.samples
    if config.samples is None and shared is not None and (shared / "logs").is_dir():
        config.samples = shared / "logs"
    config.test_events = args.test_events or config.test_events
    if config.test_events is None and shared is not None and (shared / "corpus" / "panther").is_dir():
        config.test_events = shared / "corpus" / "panther"
    config.out = args.out or config.out
    config.jobs = args.jobs or config.jobs
    config.pages = not args.no_pages
    if not config.sources:
        raise ConfigError(
            f"no rule sources: pass --source sigma=PATH, set {SHARED_ENV}=../shared, or run `ruleatlas fetch`"
        )
    for spec in config.sources:
        if not spec.path.is_dir():
            raise ConfigError(f"--source {spec.name}={spec.path}: not a folder")
    for name, path in (
        ("--attack", config.attack),
        ("--telemetry", config.telemetry),
        ("--samples", config.samples),
        ("--test-events", config.test_events),
    ):
        if path is not None and not path.exists():
            raise ConfigError(f"{name} {path}: no such file or folder")
    return config


def cmd_build(args: argparse.Namespace) -> int:
    from ruleatlas.build import build, print_summary

    config = resolve_build_config(args)
    try:
        summary = build(config)
    except KeyboardInterrupt:
        print(
            f"\nruleatlas build: interrupted; {config.out} still holds the previous catalog and site",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except OSError as exc:
        from ruleatlas.output.atomic import WriteError, is_disk_full

        if not (isinstance(exc, WriteError) or is_disk_full(exc)):
            raise
        kept = f"{config.out} still holds the previous catalog and site"
        print(f"ruleatlas build: {_os_error(exc)}; {kept}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print_summary(summary, sys.stdout)
    return EXIT_PROBLEMS if summary.errors else EXIT_OK


def cmd_fetch(args: argparse.Namespace) -> int:
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


def cmd_serve(args: argparse.Namespace) -> int:
    from ruleatlas.web.serve import ServeError, serve

    try:
        serve(args.catalog, host=args.host, port=args.port, workers=args.workers)
    except ServeError as exc:
        print(f"ruleatlas serve: {exc}", file=sys.stderr)
        return exc.code
    return EXIT_OK


class CatalogUnreadable(Exception):
    """The catalog file exists but is not a readable RuleAtlas catalog (exit 1: an input problem)."""


def _require_catalog(folder: Path) -> None:
    """Refuse at once, with the reason, a folder without a catalog or with a damaged one."""
    from ruleatlas.store import CATALOG_FILE

    path = folder / CATALOG_FILE
    if not path.is_file():
        raise ConfigError(f"no catalog in {folder}: run `ruleatlas build --out {folder}` first")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        rebuild = f"rebuild it with `ruleatlas build --out {folder}`"
        raise CatalogUnreadable(f"{path} is not a readable RuleAtlas catalog ({exc}); {rebuild}") from exc


def cmd_show(args: argparse.Namespace) -> int:
    from ruleatlas.store import open_catalog
    from ruleatlas.textpage import render_text

    _require_catalog(args.catalog)
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


def cmd_stats(args: argparse.Namespace) -> int:
    from ruleatlas.analysis.stats import kind_vs_status_text, problems_text
    from ruleatlas.store import open_catalog

    _require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        stats = catalog.stats()
        stats["sources"] = [
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
        stats["built_at"] = catalog.meta().get("built_at", "")
    if args.json:
        print(json.dumps(stats, indent=2))
        return EXIT_OK
    print(f"{stats['rules']} rules from {stats['files']} files (built {stats['built_at']})")
    print(f"  {problems_text(stats)} (`ruleatlas problems` lists them)")
    for name, n in stats["kind_vs_status"].items():
        print("  " + kind_vs_status_text(name, n))
    for title, key in (
        ("vendor", "per_vendor"),
        ("kind", "per_kind"),
        ("level", "per_level"),
        ("status", "per_status"),
    ):
        print(f"  per {title}: " + ", ".join(f"{k or '(none)'} {v}" for k, v in stats[key].items()))
    print("  per vendor and class:")
    for vendor, kinds in stats["per_vendor_kind"].items():
        files = stats["per_vendor_files"].get(vendor, {})
        print(
            f"    {vendor:<10} "
            + ", ".join(f"{k} {n}" for k, n in kinds.items())
            + f"; files {files.get('files', 0)}, {files.get('error_files', 0)} with no rule"
        )
    print("  per folder:")
    for name, f in sorted(stats["per_folder"].items()):
        print(
            f"    {name:<36} files {f['files']:>5}  rules {f['rules']:>5}  error files {f['error_files']:>3}"
        )
    return EXIT_OK


def cmd_problems(args: argparse.Namespace) -> int:
    from ruleatlas.store import open_catalog

    _require_catalog(args.catalog)
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


def cmd_coverage(args: argparse.Namespace) -> int:
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

    _require_catalog(args.catalog)
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
            parse_list(args.vendor), platform, parse_list(args.level), parse_list(args.status)
        )
        index = store_attack.coverage_index(catalog, attack, filters)
    if args.format == "navigator":
        print(json.dumps(navigator_layer(index), indent=2))
    elif args.format == "json":
        print(json.dumps(coverage_summary(index), indent=2))
    else:
        sys.stdout.write(render_coverage_table(coverage_summary(index)))
    return EXIT_OK


def cmd_readiness(args: argparse.Namespace) -> int:
    """Exit 0 when every input was read, 1 when some were reported and skipped (corrupt EVTX, bad lines)."""
    from ruleatlas.readiness import print_table, read_logs, readiness_report, write_readiness
    from ruleatlas.store import open_catalog
    from ruleatlas.telemetry import TelemetryCatalog

    _require_catalog(args.catalog)
    with open_catalog(args.catalog) as catalog:
        blob = catalog.blob("telemetry")
        telemetry = TelemetryCatalog.from_json(blob) if isinstance(blob, dict) else None
        logs = read_logs(args.logs, telemetry)
        report = readiness_report(catalog, logs, args.logs, telemetry)
    write_readiness(args.catalog, report)
    try:
        if args.json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            print_table(report, sys.stdout)
    except BrokenPipeError:  # `| head`: the reader has seen enough
        sys.stderr.close()
    return EXIT_PROBLEMS if report["logs"]["problems_total"] else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ruleatlas.export import ExportError, export
    from ruleatlas.store import open_catalog
    from ruleatlas.store.browse import FACETS, RuleFilter

    _require_catalog(args.catalog)
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


def _cmd_scan(args: argparse.Namespace) -> int:
    from ruleatlas.engine.scan_cli import cmd_scan

    return cmd_scan(args)


COMMANDS = {
    "fetch": cmd_fetch,
    "build": cmd_build,
    "serve": cmd_serve,
    "show": cmd_show,
    "stats": cmd_stats,
    "problems": cmd_problems,
    "scan": _cmd_scan,
    "coverage": cmd_coverage,
    "readiness": cmd_readiness,
    "export": cmd_export,
}


def _os_error(exc: OSError) -> str:
    """One line for an OSError: the file it names and the cause, without Python's decoration."""
    where = exc.filename if exc.filename is not None else ""
    if exc.strerror:
        return f"{where}: {exc.strerror}" if where else exc.strerror
    return str(exc)


def _quiet_broken_pipe() -> None:
    """The reader of our output went away (`| head`): point stdout at /dev/null so the interpreter's final
    flush does not complain about the pipe too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    from ruleatlas.output.generation import OutputError

    try:
        args = make_parser().parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the modules load
        print("\nruleatlas: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    name = f"ruleatlas {args.command}"
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, while we can still handle it
        return code
    except (ConfigError, OutputError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CatalogUnreadable as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_PIPE_CLOSED
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except sqlite3.Error as exc:
        catalog = getattr(args, "catalog", None)
        print(f"{name}: the catalog {catalog} cannot be read ({exc}); rebuild it", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:  # a missing path, no permission, a full disk, a port in use: the environment
        print(f"{name}: {_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
