"""Generated matcher code is debuggable (#17 §3): `scan --explain UID` prints a rule's generated function,
and a traceback through a generated function shows its source lines (linecache)."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from ruleatlas.cli import main
from ruleatlas.engine.compile import compile_rules
from ruleatlas.sources.sigma import read_sigma_tree

RULES = Path(__file__).resolve().parents[1] / "data" / "browse" / "sigma"
UID = "sigma/proc_creation_win_powershell_encoded"


class Unreadable(dict[str, object]):
    def get(self, key: str, default: object = None) -> object:
        raise RuntimeError(f"cannot read {key}")


def test_explain_prints_the_generated_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--rules", str(RULES), "--explain", "proc_creation_win_powershell_encoded"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {UID}: Suspicious PowerShell Encoded Command")
    assert "def match(f, c=None):" in out and "v = _fill(f, c, 'Image', None)" in out
    assert "#   k0 = ('\\\\powershell.exe',)" in out  # the objects its names stand for


def test_explain_names_an_unknown_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--rules", str(RULES), "--explain", "no_such_rule"]) == 1
    assert "no detection rule with that uid or id" in capsys.readouterr().err


def test_scan_without_logs_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--rules", str(RULES)]) == 2
    assert "no LOGS" in capsys.readouterr().err


def test_tracebacks_show_generated_lines() -> None:
    rule = next(r for r in read_sigma_tree(RULES).rules if r.uid == UID)
    compiled = compile_rules([rule]).rules[0]
    with pytest.raises(RuntimeError) as raised:
        compiled.match(Unreadable())
    text = "".join(traceback.format_exception(raised.value))
    assert f'File "<compiled {UID}>", line 6, in match' in text
    assert "v = _fill(f, c, 'Image', None)" in text  # the line itself, from linecache
