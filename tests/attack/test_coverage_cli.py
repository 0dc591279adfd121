"""`ruleatlas coverage`: the table, JSON, platform resolution and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ruleatlas.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["coverage", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_table(attack_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--catalog", str(attack_catalog))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "ATT&CK 18.1 coverage: 9 detection rules counted"
    assert lines[1] == "left out: 1 deprecated, 1 hunting-only, 1 unsupported rules that name techniques"
    row = next(line for line in lines if line.startswith("TA0011 Command and Control"))
    assert row.split()[4:] == ["3", "3", "100%", "1", "0", "4"]
    assert "Gaps: 4 techniques and sub-techniques with no rule" in lines
    assert "    T1090.001  Internal Proxy" in lines
    assert "  T1086      PowerShell (revoked, 1 rules): counted under T1059.001" in lines


def test_json_with_platform_and_filters(attack_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--catalog", str(attack_catalog), "--platform", "linux", "--format", "json")
    assert code == 0
    summary = json.loads(out)
    assert summary["filters"] == {
        "vendor": [],
        "platform": "Linux",
        "level": [],
        "status": [],
        "validated": False,
    }
    assert summary["rules_counted"] == 1
    assert {t["id"]: t["rules"] for t in summary["techniques"]}["T1572"] == 1
    assert "T1059.001" not in {t["id"] for t in summary["techniques"]}  # Windows only
    code, out, _ = run(capsys, "--catalog", str(attack_catalog), "--format", "json", "--level", "high,medium")
    assert json.loads(out)["filters"]["level"] == ["high", "medium"]


def test_unknown_platform_is_a_usage_error(attack_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--catalog", str(attack_catalog), "--platform", "plan9")
    assert code == 2 and out == ""
    assert err.startswith("ruleatlas coverage: --platform plan9: not an ATT&CK platform of this data (")
    assert "Windows" in err


def test_catalog_without_attack_data(
    catalog_without_attack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--catalog", str(catalog_without_attack))
    assert code == 1 and out == ""
    assert "was built without ATT&CK data (build with --attack)" in err


def test_missing_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--catalog", str(tmp_path / "nowhere"))
    assert code == 2 and "no catalog in" in err
