"""`ruleatlas fetch`: download the default sources (SigmaHQ rules, MITRE ATT&CK) into a data folder.

A shallow git clone for rule repositories and a plain download for the ATT&CK bundle. The URLs are data,
so tests point them at local repositories and files.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")


@dataclass(slots=True, frozen=True)
class RemoteSource:
    name: str
    url: str
    how: str  # "git" or "file"
    target: str


DEFAULT_REMOTES = (
    RemoteSource("sigma", "https://github.com/SigmaHQ/sigma.git", "git", "sigma"),
    RemoteSource(
        "attack",
        "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack.json",
        "file",
        "attack/enterprise-attack.json",
    ),
)


class FetchError(Exception):
    pass


def fetch(
    dest: Path, remotes: tuple[RemoteSource, ...] = DEFAULT_REMOTES, *, timeout: float = 300
) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for remote in remotes:
        target = dest / remote.target
        if remote.how == "git":
            _git_fetch(remote, target, timeout)
        else:
            _file_fetch(remote, target, timeout)
        written.append(target)
    return written


def _git_fetch(remote: RemoteSource, target: Path, timeout: float) -> None:
    if (target / ".git").is_dir():
        cmds = [["git", "-C", str(target), "pull", "--ff-only", "--depth", "1"]]
    else:
        if target.exists():
            shutil.rmtree(target)
        cmds = [["git", "clone", "--depth", "1", remote.url, str(target)]]
    for cmd in cmds:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FetchError(f"{remote.name}: {' '.join(cmd)} failed: {exc}") from exc
        if done.returncode != 0:
            raise FetchError(f"{remote.name}: git could not fetch {remote.url}: {done.stderr.strip()[-400:]}")


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
