"""Build settings: from the command line, a `ruleatlas.toml`, or the RULEATLAS_SHARED data folder."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ruleatlas.sources import SHARED_FOLDERS, SOURCES, UPSTREAM_REPOS

CONFIG_FILE = "ruleatlas.toml"
SHARED_ENV = "RULEATLAS_SHARED"


class ConfigError(Exception):
    """A setting that cannot be used: names the setting and what is wrong with it."""


@dataclass(slots=True)
class SourceSpec:
    """One rule source: its name (a key of `sources.SOURCES`: `sigma`, `hayabusa`, `elastic`...), folder."""

    name: str
    path: Path
    repo: str = ""
    commit: str = ""

    @property
    def vendor(self) -> str:
        """The vendor label its rules are counted under (Hayabusa's and Suzaku's rules are `sigma`)."""
        return SOURCES[self.name][0]


@dataclass(slots=True)
class BuildConfig:
    out: Path
    sources: list[SourceSpec] = field(default_factory=list)
    attack: Path | None = None
    telemetry: Path | None = None
    samples: Path | None = None  # log samples for the telemetry pages (example events, values seen)
    test_events: Path | None = None  # a Panther analysis checkout: its rule tests are cloud/SaaS samples
    jobs: int = 0
    pages: bool = True
    deploy_as: bool = True  # convert Sigma rules with pySigma's backends (cached; minutes of CPU when cold)


def source_spec(name: str, path: Path, where: str) -> SourceSpec:
    """A source by name, checked against the registry; `where` names the setting in the error."""
    key = name.strip().lower()
    if key not in SOURCES:
        raise ConfigError(f"{where}: unknown source {name!r} (known: {', '.join(SOURCES)})")
    return SourceSpec(key, path)


def parse_source_arg(text: str) -> SourceSpec:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ConfigError(f"--source {text!r}: expected SOURCE=PATH, e.g. sigma=../shared/corpus/sigma")
    return source_spec(name, Path(path).expanduser(), f"--source {text}")


def shared_defaults(shared: Path) -> tuple[list[SourceSpec], Path, Path]:
    """Every source whose corpus folder is present in a `shared/` data folder, with ATT&CK and telemetry."""
    corpus = shared / "corpus"
    specs = [
        SourceSpec(name, corpus / folder)
        for name, folder in SHARED_FOLDERS.items()
        if (corpus / folder).is_dir()
    ]
    if not specs:
        folders = ", ".join(f"corpus/{f}" for f in SHARED_FOLDERS.values())
        raise ConfigError(f"{SHARED_ENV}={shared}: no rule folder there (looked for {folders})")
    return specs, shared / "attack", shared / "providers"


def load_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def config_from_toml(path: Path, data: dict[str, object]) -> BuildConfig:
    """`[build] out, attack, telemetry, samples, test_events, jobs, deploy_as` and `[sources] name = "path"`;
    paths relative to the file."""
    base = path.parent
    build = data.get("build", {})
    sources = data.get("sources", {})
    if not isinstance(build, dict) or not isinstance(sources, dict):
        raise ConfigError(f"{path}: [build] and [sources] must be tables")

    def as_path(key: str) -> Path | None:
        value = build.get(key)
        return None if value is None else (base / str(value)).resolve()

    return BuildConfig(
        out=as_path("out") or base / "catalog",
        sources=[
            source_spec(str(name), (base / str(p)).resolve(), f"{path} [sources]")
            for name, p in sources.items()
        ],
        attack=as_path("attack"),
        telemetry=as_path("telemetry"),
        samples=as_path("samples"),
        test_events=as_path("test_events"),
        jobs=int(build.get("jobs", 0)),
        deploy_as=bool(build.get("deploy_as", True)),
    )


def describe_source(spec: SourceSpec) -> SourceSpec:
    """Fill in the repository URL and commit: from git, else from a SOURCE.md, else the upstream default."""
    repo, commit = spec.repo, spec.commit
    if (spec.path / ".git").exists():
        commit = commit or _git(spec.path, "rev-parse", "HEAD")
        repo = repo or _normalise_remote(_git(spec.path, "config", "--get", "remote.origin.url"))
    source_md = spec.path / "SOURCE.md"
    if (not repo or not commit) and source_md.is_file():
        text = source_md.read_text(encoding="utf-8", errors="replace")
        if not repo and (m := re.search(r"Repository:\s*(https?://\S+)", text)):
            repo = m.group(1).rstrip(".,)")
        if not commit and (m := re.search(r"commit:\s*`([0-9a-f]{7,40})`", text, re.IGNORECASE)):
            commit = m.group(1)
    return SourceSpec(spec.name, spec.path, repo or UPSTREAM_REPOS.get(spec.name, ""), commit)


def _git(path: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _normalise_remote(url: str) -> str:
    if url.startswith("git@github.com:"):
        url = "https://github.com/" + url.removeprefix("git@github.com:")
    return url.removesuffix(".git")


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
