"""`ruleatlas serve` refuses what it cannot serve with one line and the right exit code, no traceback
(issue 20: a corrupt catalog was answered 500 on every API route, a port in use printed a traceback; both
exited 1)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from ruleatlas.cli import main as cli_main


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a readable RuleAtlas catalog"),
        (b"random bytes, not a database " * 100, "not a readable RuleAtlas catalog"),
        (None, "not a readable RuleAtlas catalog"),  # a real SQLite file cut in half
    ],
)
def test_a_corrupt_catalog_is_refused_at_start(
    browse_catalog: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    reason: str,
) -> None:
    shutil.copytree(browse_catalog / "site", tmp_path / "site")
    real = (browse_catalog / "catalog.sqlite").read_bytes()
    (tmp_path / "catalog.sqlite").write_bytes(real[: len(real) // 2] if content is None else content)
    code = cli_main(["serve", "--catalog", str(tmp_path), "--port", "0"])
    line = one_line(capsys.readouterr().err)
    assert code == 1
    assert line.startswith("ruleatlas serve: ") and reason in line and str(tmp_path) in line


def test_a_foreign_database_is_refused(
    tmp_path: Path, browse_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    shutil.copytree(browse_catalog / "site", tmp_path / "site")
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    db.execute("CREATE TABLE mydata (x)")
    db.commit()
    db.close()
    assert cli_main(["serve", "--catalog", str(tmp_path), "--port", "0"]) == 1
    assert "no such table" in one_line(capsys.readouterr().err)


def test_a_missing_catalog_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site").mkdir()
    assert cli_main(["serve", "--catalog", str(tmp_path), "--port", "0"]) == 2  # as for every command
    assert "run `ruleatlas build" in one_line(capsys.readouterr().err)


def test_a_port_in_use_is_one_line_and_exit_2(
    browse_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = cli_main(["serve", "--catalog", str(browse_catalog), "--port", str(port)])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert (
        line
        == f"ruleatlas serve: port {port} on 127.0.0.1 is already in use: stop that server or pick --port"
    )
