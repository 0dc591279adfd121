"""The catalog folder a build writes: only an empty folder or one a RuleAtlas build made, one build at a
time, a failed write (a full disk) leaves the previous generation, and files of others are never deleted
(issues 19 and 20)."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from pathlib import Path

import pytest
from build_support import build_args, differences, make_states, snapshot

from ruleatlas.cli import main
from ruleatlas.output import atomic
from ruleatlas.output.generation import MARKER, Output, current_generation


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_refuses_a_folder_it_did_not_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    states = make_states(tmp_path)
    out = tmp_path / "userdir"
    for rel in ("site/fields/mine/index.html", "site/indicators/list.txt", "site/telemetry/myprov/data.txt"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(f"mine: {rel}\n")
    (out / "cache").mkdir()
    (out / "cache" / "telemetry.json").write_text("{}")
    db = sqlite3.connect(out / "catalog.sqlite")
    db.execute("CREATE TABLE mydata (x)")
    db.commit()
    db.close()
    before = tree(out)
    code, err = run(build_args(states["A"], out), capsys)
    assert code == 2
    assert "not made by a RuleAtlas build" in err and str(out) in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert tree(out) == before


def test_refuses_a_file_as_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    states = make_states(tmp_path)
    (tmp_path / "file").write_text("mine\n")
    code, err = run(build_args(states["A"], tmp_path / "file"), capsys)
    assert code == 2 and "not a folder" in err
    assert (tmp_path / "file").read_text() == "mine\n"


def test_builds_into_an_empty_folder_and_keeps_others_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    states = make_states(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    assert run(build_args(states["A"], out), capsys)[0] == 1  # the fixture holds a broken file
    assert (out / MARKER).is_file()
    (out / "notes.txt").write_text("mine\n")
    (out / "mine").mkdir()
    (out / "mine" / "a.txt").write_text("mine too\n")
    for state in "BCA":  # full and incremental builds
        assert run(build_args(states[state], out), capsys)[0] == 1
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "mine" / "a.txt").read_text() == "mine too\n"


def test_a_second_build_into_the_same_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    states = make_states(tmp_path)
    out = tmp_path / "out"
    assert run(build_args(states["A"], out), capsys)[0] == 1
    before = snapshot(out)
    with Output.open(out):  # another build holds the folder
        code, err = run(build_args(states["B"], out), capsys)
    assert code == 2
    assert "another build is writing" in err and f"pid {os.getpid()}" in err
    assert snapshot(out) == before
    assert run(build_args(states["B"], out), capsys)[0] == 1  # free again


def test_a_full_disk_fails_the_build_and_keeps_the_previous_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    states = make_states(tmp_path)
    out = tmp_path / "out"
    assert run(build_args(states["A"], out), capsys)[0] == 1
    before = snapshot(out)
    write_all = atomic._write_all
    writes = {"n": 0}

    def full_disk(fd: int, data: bytes) -> None:
        writes["n"] += 1
        if writes["n"] >= 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_all(fd, data)

    monkeypatch.setattr(atomic, "_write_all", full_disk)
    for state in "CB":  # an incremental and a full build
        writes["n"] = 0
        code, err = run(build_args(states[state], out), capsys)
        assert code == 1
        assert "No space left on device" in err and "still holds the previous catalog" in err
        assert "Traceback" not in err
        last = err.strip().splitlines()[-1]
        assert last.startswith("ruleatlas build: cannot write ") and "No space left on device" in last
        assert snapshot(out) == before
        site = current_generation(out) / "site"
        assert not [p for p in site.rglob("*") if p.is_file() and p.stat().st_size == 0]
        assert not list(site.rglob("*.tmp"))
    monkeypatch.setattr(atomic, "_write_all", write_all)
    assert run(build_args(states["B"], out), capsys)[0] == 1
    assert run(build_args(states["B"], tmp_path / "clean"), capsys)[0] == 1
    assert differences(snapshot(out), snapshot(tmp_path / "clean")) == []


def test_write_bytes_replaces_never_rewrites(tmp_path: Path) -> None:
    """A hard link of the old file (the other generation's copy) keeps the old content."""
    page = tmp_path / "index.html"
    page.write_text("old")
    os.link(page, tmp_path / "other-generation.html")
    atomic.write_text(page, "new")
    assert page.read_text() == "new"
    assert (tmp_path / "other-generation.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "other-generation.html"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "index.html"
    page.write_text("old")

    def full_disk(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_write_all", full_disk)
    with pytest.raises(atomic.WriteError, match=r"cannot write .*index.html: No space left on device"):
        atomic.write_text(page, "new")
    assert page.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_current_generation_of_a_plain_folder_is_the_folder(tmp_path: Path) -> None:
    assert current_generation(tmp_path) == tmp_path
    with contextlib.suppress(FileExistsError):
        (tmp_path / "generations" / "a").mkdir(parents=True)
    os.symlink("generations/a", tmp_path / "current")
    assert current_generation(tmp_path) == tmp_path / "generations" / "a"
