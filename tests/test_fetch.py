"""`ruleatlas fetch` against local stand-ins for the remote repository and download."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ruleatlas.fetch import FetchError, FetchRefused, RemoteSource, fetch


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


def git(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def test_fetch_never_deletes_a_folder_it_did_not_make(tmp_path: Path) -> None:
    make_repo(tmp_path / "upstream")
    private = tmp_path / "data" / "sigma" / "my-rules" / "private.yml"
    private.parent.mkdir(parents=True)
    private.write_text("title: private\n")
    for url in ((tmp_path / "upstream").as_uri(), (tmp_path / "offline").as_uri()):
        with pytest.raises(FetchRefused, match="exists and is not a git checkout"):
            fetch(tmp_path / "data", (RemoteSource("sigma", url, "git", "sigma"),))
        assert private.read_text() == "title: private\n"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["sigma"]


def test_failed_clone_leaves_nothing_behind(tmp_path: Path) -> None:
    remotes = (RemoteSource("sigma", (tmp_path / "offline").as_uri(), "git", "sigma"),)
    with pytest.raises(FetchError):
        fetch(tmp_path / "data", remotes)
    assert list((tmp_path / "data").iterdir()) == []


def test_update_keeps_a_full_clones_history(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    make_repo(upstream)
    for i in range(4):
        (upstream / "rules" / f"r{i}.yml").write_text(f"title: r{i}\n")
        git(upstream, "add", ".")
        git(upstream, "commit", "-qm", f"commit {i}")
    dest = tmp_path / "data"
    dest.mkdir()
    subprocess.run(["git", "clone", "-q", upstream.as_uri(), str(dest / "sigma")], check=True)
    (upstream / "rules" / "new.yml").write_text("title: new\n")
    git(upstream, "add", ".")
    git(upstream, "commit", "-qm", "new rule")
    fetch(dest, (RemoteSource("sigma", upstream.as_uri(), "git", "sigma"),))
    assert (dest / "sigma" / "rules" / "new.yml").is_file()
    assert git(dest / "sigma", "rev-parse", "--is-shallow-repository") == "false"
    assert git(dest / "sigma", "rev-list", "--count", "HEAD") == "6"


def test_offline_update_keeps_the_checkout(tmp_path: Path) -> None:
    make_repo(tmp_path / "upstream")
    dest = tmp_path / "data"
    fetch(dest, (RemoteSource("sigma", (tmp_path / "upstream").as_uri(), "git", "sigma"),))
    head = git(dest / "sigma", "rev-parse", "HEAD")
    git(dest / "sigma", "remote", "set-url", "origin", (tmp_path / "offline").as_uri())
    with pytest.raises(FetchError, match="sigma: git could not fetch"):
        fetch(dest, (RemoteSource("sigma", (tmp_path / "offline").as_uri(), "git", "sigma"),))
    assert git(dest / "sigma", "rev-parse", "HEAD") == head
    assert (dest / "sigma" / "rules" / "r.yml").read_text() == "title: fetched\n"
