"""`ruleatlas fetch`: download every rule source (`sources.UPSTREAM_REPOS`) and ATT&CK into a data folder.

A shallow git clone for each rule repository, into `<dest>/<source name>` (where the build looks), and a
plain download for the ATT&CK bundle. The URLs are data, so tests point them at local repositories and
files. One source that cannot be fetched does not stop the others.

Fetch never deletes what it did not make: a clone is made in a temporary folder beside the target and
renamed into place only when it succeeded (offline, nothing changes); an existing checkout is updated with
`git pull --ff-only`, shallow only if it already was (a full clone keeps its history); a target that exists
but is not a git checkout (an unpacked release with your own rules in it) is left alone and reported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ruleatlas.sources import UPSTREAM_REPOS

DEFAULT_DATA_DIR = Path("data")


@dataclass(slots=True, frozen=True)
class RemoteSource:
    name: str
    url: str
    how: str  # "git" or "file"
    target: str


DEFAULT_REMOTES = (
    *(RemoteSource(name, f"{url}.git", "git", name) for name, url in UPSTREAM_REPOS.items()),
    RemoteSource(
        "attack",
        "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack.json",
        "file",
        "attack/enterprise-attack.json",
    ),
)


class FetchError(Exception):
    """A source could not be fetched (offline, a bad URL): what was there before is unchanged.

    Raised after every remote was tried: `written` holds what was fetched, `failures` one message per remote
    that failed."""

    def __init__(self, message: str, written: list[Path] | None = None, failures: list[str] | None = None):
        super().__init__(message)
        self.written = written or []
        self.failures = failures or [message]


class FetchRefused(FetchError):
    """Fetching would replace a folder fetch did not make."""


def fetch(
    dest: Path, remotes: tuple[RemoteSource, ...] = DEFAULT_REMOTES, *, timeout: float = 300
) -> list[Path]:
    """Fetch every remote; raise one FetchError naming each remote that failed, after trying them all."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures: list[str] = []
    for remote in remotes:
        target = dest / remote.target
        try:
            if remote.how == "git":
                _git_fetch(remote, target, timeout)
            else:
                _file_fetch(remote, target, timeout)
        except FetchRefused:
            raise  # replacing a folder fetch did not make is a usage error, not a network failure
        except FetchError as exc:
            failures.append(str(exc))
            continue
        written.append(target)
    if failures:
        raise FetchError("; ".join(failures), written, failures)
    return written


def _git_fetch(remote: RemoteSource, target: Path, timeout: float) -> None:
    if (target / ".git").exists():
        # --depth on a full clone would make it shallow (its history prunable): only a shallow one stays so
        here = ["-C", str(target)]
        shallow = _git(remote, [*here, "rev-parse", "--is-shallow-repository"], timeout) == "true"
        _git(remote, [*here, "pull", "--ff-only", *(["--depth", "1"] if shallow else [])], timeout)
        return
    if target.exists() or target.is_symlink():
        raise FetchRefused(
            f"{remote.name}: {target} exists and is not a git checkout; fetch leaves it as it is "
            "(move it away, or fetch into another --dest)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.fetch-{os.getpid()}")
    try:
        _git(remote, ["clone", "--depth", "1", remote.url, str(tmp)], timeout)
        tmp.rename(target)
    finally:
        if tmp.exists():  # our own unfinished clone
            shutil.rmtree(tmp)


def _git(remote: RemoteSource, args: list[str], timeout: float) -> str:
    cmd = ["git", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"{remote.name}: {' '.join(cmd)} failed: {exc}") from exc
    if done.returncode != 0:
        raise FetchError(f"{remote.name}: git could not fetch {remote.url}: {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def _file_fetch(remote: RemoteSource, target: Path, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout) as response, tmp.open("wb") as fh:
            shutil.copyfileobj(response, fh)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise FetchError(f"{remote.name}: could not download {remote.url}: {exc}") from exc
    tmp.replace(target)
