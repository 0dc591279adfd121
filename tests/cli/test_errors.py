"""Failures the command line meets in the field end in one clear line and the right exit code, never a
traceback: a damaged catalog (1), a closed output pipe (141, silently, as `scan` does), a port in use and an
unwritable output (2) (issue 20)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ruleatlas.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "catalog" / "sigma"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalog") / "out"
    assert main(["build", "--source", f"sigma={FIXTURE}", "--out", str(out), "--jobs", "1"]) == 1
    return out


def ruleatlas(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruleatlas.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\x07" * 4000, os.urandom(8192)])
@pytest.mark.parametrize(
    "command", [["stats"], ["show", "x"], ["problems"], ["coverage"], ["export", "--format", "csv"]]
)
def test_a_damaged_catalog_is_one_line_and_exit_1(
    tmp_path: Path, content: bytes, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "catalog.sqlite").write_bytes(content)
    assert main([*command, "--catalog", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "is not a readable RuleAtlas catalog" in err and "catalog.sqlite" in err


def test_serve_refuses_a_damaged_catalog_at_start(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "catalog.sqlite").write_bytes(b"not a database at all" * 100)
    done = ruleatlas("serve", "--catalog", str(tmp_path), "--port", "0")
    assert done.returncode == 1
    assert "is not a readable RuleAtlas catalog" in done.stderr and "Traceback" not in done.stderr


def test_a_closed_pipe_ends_quietly(catalog: Path) -> None:
    for command in (["export", "--format", "jsonl"], ["problems"], ["show", "net_tunnel_a"], ["stats"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "ruleatlas.cli", *command, "--catalog", str(catalog)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        process.stdout.close()  # the reader goes away before anything is written, as `| head -0` would
        err = process.communicate(timeout=120)[1].decode()
        assert "Traceback" not in err and "BrokenPipe" not in err, (command, err)
        assert err == "" and process.returncode == 141, (command, err)


def test_a_port_in_use_is_one_line_and_exit_2(catalog: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = ruleatlas("serve", "--catalog", str(catalog), "--port", str(port), "--workers", "1")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "already in use" in done.stderr


def test_an_unwritable_output_is_one_line_and_exit_2(
    catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for output, cause in (("/dev/full", "No space left on device"), (str(catalog), "Is a directory")):
        assert main(["export", "--catalog", str(catalog), "--format", "jsonl", "--output", output]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and cause in err and "Traceback" not in err


def test_build_into_a_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    assert main(["build", "--source", f"sigma={FIXTURE}", "--out", str(tmp_path / "f")]) == 2
    assert "not a folder" in capsys.readouterr().err
