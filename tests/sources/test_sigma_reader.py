"""The Sigma reader behind the `SourceReader` protocol: the same output as `parse_sigma_file`, and
Hayabusa's and Suzaku's checkouts read from their rule folders (their `config/` YAML is not rules)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ruleatlas.sources import SHARED_FOLDERS, SOURCES, sigma
from ruleatlas.sources.common import read_tree

RULE = """\
title: Whoami
id: 5ae4fc9f-0000-4000-8000-000000000099
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\\\whoami.exe'
    condition: selection
level: low
"""


def test_protocol_wraps_parse_sigma_file() -> None:
    assert sigma.VENDOR == "sigma"
    via_protocol = sigma.parse_file(
        RULE,
        "rules/windows/whoami.yml",
        "rules",
        repo_url="https://github.com/SigmaHQ/sigma",
        commit="c0",
        companions={},
    )
    direct = sigma.parse_sigma_file(
        RULE,
        "rules/windows/whoami.yml",
        "rules",
        vendor="sigma",
        repo_url="https://github.com/SigmaHQ/sigma",
        commit="c0",
    )
    assert via_protocol == direct and via_protocol[0][0].uid == "sigma/whoami"


def test_list_files_is_list_sigma_files(tmp_path: Path) -> None:
    (tmp_path / "rules" / "windows").mkdir(parents=True)
    (tmp_path / "rules" / "windows" / "whoami.yml").write_text(RULE)
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "config.yml").write_text("a: 1\n")
    assert [(f.rel_path, f.folder, f.companions) for f in sigma.list_files(tmp_path)] == [
        ("rules/windows/whoami.yml", "rules", ())
    ]


def test_every_source_names_a_reader_with_the_protocol() -> None:

    for source, (vendor, module_name) in SOURCES.items():
        reader = importlib.import_module(module_name)
        assert vendor == reader.VENDOR, source
        assert callable(reader.list_files) and callable(reader.parse_file), source
        assert source in SHARED_FOLDERS


@pytest.mark.corpus
@pytest.mark.parametrize(("name", "files", "rules"), [("hayabusa", 193, 196), ("suzaku", 818, 825)])
def test_hayabusa_and_suzaku_checkouts(shared_dir: Path, name: str, files: int, rules: int) -> None:
    root = shared_dir / "corpus" / SHARED_FOLDERS[name]
    result = read_tree(sigma, root)
    yml = [p for p in (root / name).rglob("*.yml")] + [p for p in (root / name).rglob("*.yaml")]
    assert result.files == len(yml) == files  # config/*.yaml is left out
    assert result.files_per_folder == {name: files}
    assert len(result.rules) == rules and result.errors == []  # Suzaku: 5 files hold a correlation too
    assert len({r.uid for r in result.rules}) == rules
    errors = [p for r in result.rules for p in r.problems if p.severity == "error"]
    # Hayabusa: Sigma 1.x forms the specification dropped (legacy aggregations) and one rule with no
    # condition
    assert len(errors) == (5 if name == "hayabusa" else 0)
