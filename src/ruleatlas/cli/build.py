"""`ruleatlas build`: settings from the command line, ruleatlas.toml and $RULEATLAS_SHARED, then the build."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ruleatlas.cli.common import DEFAULT_OUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, os_error
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


def add_parser(sub: Any) -> None:
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
    p.add_argument(
        "--no-deploy-as",
        action="store_true",
        help="skip converting Sigma rules with pySigma's backends (the rule pages' Deploy as)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


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
    if args.no_deploy_as:
        config.deploy_as = False
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


def run(args: argparse.Namespace) -> int:
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
        print(f"ruleatlas build: {os_error(exc)}; {kept}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print_summary(summary, sys.stdout)
    return EXIT_PROBLEMS if summary.errors else EXIT_OK
