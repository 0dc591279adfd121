"""Build settings: from the command line, a `ruleatlas.toml`, or the RULEATLAS_SHARED data folder."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "ruleatlas.toml"
SHARED_ENV = "RULEATLAS_SHARED"

# Where each vendor's rules live upstream; used for source links when a checkout does not say.
DEFAULT_REPOS = {"sigma": "https://github.com/SigmaHQ/sigma"}


class ConfigError(Exception):
    """A setting that cannot be used: names the setting and what is wrong with it."""


@dataclass(slots=True)
class SourceSpec:
    vendor: str
    path: Path
    repo: str = ""
    commit: str = ""


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


def parse_source_arg(text: str) -> SourceSpec:
    vendor, sep, path = text.partition("=")
    if not sep or not vendor or not path:
        raise ConfigError(f"--source {text!r}: expected VENDOR=PATH, e.g. sigma=../shared/corpus/sigma")
    return SourceSpec(vendor=vendor.strip().lower(), path=Path(path).expanduser())


def shared_defaults(shared: Path) -> tuple[list[SourceSpec], Path, Path]:
    """The sources, ATT&CK and telemetry folders inside a `shared/` data folder."""
    if not (shared / "corpus" / "sigma").is_dir():
        raise ConfigError(f"{SHARED_ENV}={shared}: no corpus/sigma folder there")
    return [SourceSpec("sigma", shared / "corpus" / "sigma")], shared / "attack", shared / "providers"


def load_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def config_from_toml(path: Path, data: dict[str, object]) -> BuildConfig:
    """`[build] out, attack, telemetry, samples, test_events, jobs` and `[sources] vendor = "path"`; paths
    relative to the file."""
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
        sources=[SourceSpec(str(v).lower(), (base / str(p)).resolve()) for v, p in sources.items()],
        attack=as_path("attack"),
        telemetry=as_path("telemetry"),
        samples=as_path("samples"),
        test_events=as_path("test_events"),
        jobs=int(build.get("jobs", 0)),
    )


def describe_source(spec: SourceSpec) -> SourceSpec:
    """Fill in the repository URL and commit: from git, else from a SOURCE.md, else the vendor default."""
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
    return SourceSpec(spec.vendor, spec.path, repo or DEFAULT_REPOS.get(spec.vendor, ""), commit)


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
