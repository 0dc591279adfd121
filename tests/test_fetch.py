"""`ruleatlas fetch` against local stand-ins for the remote repository and download."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ruleatlas.fetch import FetchError, RemoteSource, fetch


def make_repo(path: Path) -> None:
    path.mkdir()
    (path / "rules").mkdir()
    (path / "rules" / "r.yml").write_text("title: fetched\n")
    for cmd in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", "-C", str(path), *cmd], check=True, capture_output=True)


def test_fetch_clones_and_downloads(tmp_path: Path) -> None:
    make_repo(tmp_path / "upstream")
    bundle = tmp_path / "bundle.json"
    bundle.write_text('{"type": "bundle", "objects": []}')
    remotes = (
        RemoteSource("sigma", (tmp_path / "upstream").as_uri(), "git", "sigma"),
        RemoteSource("attack", bundle.as_uri(), "file", "attack/enterprise-attack.json"),
    )
    dest = tmp_path / "data"
    fetch(dest, remotes)
    assert (dest / "sigma" / "rules" / "r.yml").read_text() == "title: fetched\n"
    assert (dest / "attack" / "enterprise-attack.json").read_text().startswith('{"type": "bundle"')
    # A second fetch updates in place.
    fetch(dest, remotes)
    assert (dest / "sigma" / ".git").is_dir()


def test_fetch_failure_names_the_source(tmp_path: Path) -> None:
    remotes = (RemoteSource("attack", (tmp_path / "missing.json").as_uri(), "file", "attack/x.json"),)
    with pytest.raises(FetchError, match="attack: could not download"):
        fetch(tmp_path / "data", remotes)
    assert not (tmp_path / "data" / "attack" / "x.json.part").exists()
    remotes = (RemoteSource("sigma", (tmp_path / "nothing").as_uri(), "git", "sigma"),)
    with pytest.raises(FetchError, match="sigma: git could not fetch"):
        fetch(tmp_path / "data", remotes)
