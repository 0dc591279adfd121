"""What the vendor readers share (`sources.common`): levels, ATT&CK ids, spans, URLs, safe YAML mappings and
whole-tree reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.sources import elastic
from ruleatlas.sources.common import (
    attack_ids,
    facts,
    level,
    load_mapping,
    new_rule,
    read_tree,
    source_url,
    span_seconds,
    split_list,
)
from ruleatlas.sources.yaml_load import MAX_FILE_BYTES


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("Info", "informational"),
        ("Informational", "informational"),
        ("High", "high"),
        (" low ", "low"),
        ("CRITICAL", "critical"),
        ("urgent", ""),
        (None, ""),
        (3, ""),
    ],
)
def test_level_is_sigmas_scale_or_nothing(native: object, expected: str) -> None:
    assert level(native) == expected


def test_attack_ids_in_every_vendors_spelling() -> None:
    written = [
        "TA0005:T1562.008",
        "t1059/001",
        "command_and_control, t1043",
        "attackt1496",
        "https://attack.mitre.org/techniques/T1580/",
        "T1562.008",
        "T10599",
        "xT1000",
        None,
    ]
    assert attack_ids(written) == ("T1562.008", "T1059.001", "T1043", "T1496", "T1580")


@pytest.mark.parametrize(
    ("span", "seconds"),
    [
        ("9m", 540),
        ("1h", 3600),
        ("14d", 1209600),
        ("30s", 30),
        ("5min", 300),
        ("2 weeks", 1209600),
        ("now", None),
        ("", None),
    ],
)
def test_span_seconds(span: str, seconds: int | None) -> None:
    assert span_seconds(span) == seconds


def test_small_helpers() -> None:
    assert split_list("a, b\nc,,") == ("a", "b", "c")
    assert split_list(["x", None, ""]) == ("x",)
    assert facts(("A", ""), ("B", ["x", "y"]), ("C", 0), ("D", None)) == (("B", "x, y"), ("C", "0"))
    assert source_url("https://github.com/o/r/", "c0ffee", "Solutions/My Sol/Analytic Rules/a&b.yaml") == (
        "https://github.com/o/r/blob/c0ffee/Solutions/My%20Sol/Analytic%20Rules/a%26b.yaml"
    )
    assert source_url("", "c0ffee", "a.yml") == ""


def test_new_rule_hashes_companions_too() -> None:
    plain = new_rule("panther", "python", "A: 1\n", "rules/a.yml", "rules", repo_url="", commit="")
    with_py = new_rule(
        "panther",
        "python",
        "A: 1\n",
        "rules/a.yml",
        "rules",
        repo_url="",
        commit="",
        companions={"rules/a.py": "def rule(e): return True\n"},
    )
    assert plain.uid == with_py.uid == "panther/a"
    assert plain.content_hash != with_py.content_hash
    assert (plain.logic_parsed, plain.stages) == (False, [])


def test_load_mapping_reports_with_lines() -> None:
    doc, problems = load_mapping("name: a\nname: b\nlist: [1, 2]\n", "x.yml", "a rule")
    assert doc is not None and doc.get("name") == "b" and doc.line_of("list") == 3
    assert [(p.message.split(" (")[0], p.line, p.severity) for p in problems] == [
        ("duplicate key 'name'", 2, "warning")
    ]

    doc, problems = load_mapping("name: a\n  bad: indent\n", "x.yml", "a rule")
    assert doc is None and problems[0].line == 2 and problems[0].message.startswith("malformed YAML")

    doc, problems = load_mapping("- a\n- b\n", "x.yml", "a rule")
    assert doc is None and problems[0].message == "file is a list, not a mapping"

    doc, problems = load_mapping("", "x.yml", "a rule")
    assert doc is None and problems[0].message == "empty file: no YAML document"

    doc, problems = load_mapping("a: 1\n---\nb: 2\n", "x.yml", "a rule")
    assert doc is not None and doc.values == {"a": 1}
    assert [(p.line, p.severity) for p in problems] == [(3, "warning")]


def test_load_mapping_refuses_an_alias_bomb_and_object_tags() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
    )
    doc, problems = load_mapping(bomb, "bomb.yml", "a rule")
    assert doc is None and "aliases are expanded" in problems[0].message and problems[0].line is not None
    doc, problems = load_mapping("a: !!python/object/apply:os.system ['true']\n", "tag.yml", "a rule")
    assert doc is not None and doc.get("a") == ["true"]  # read as plain data: no object built, nothing run


def test_read_tree_reports_oversized_files_and_goes_on(tmp_path: Path, test_data: Path) -> None:
    rules_dir = tmp_path / "rules" / "windows"
    rules_dir.mkdir(parents=True)
    source = test_data / "elastic" / "rules" / "windows" / "execution_encoded_powershell.toml"
    (rules_dir / "good.toml").write_bytes(source.read_bytes())
    (rules_dir / "huge.toml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    result = read_tree(elastic, tmp_path)
    assert [r.uid for r in result.rules] == ["elastic/good"]
    assert [(p.file, p.message.split(" (")[0]) for p in result.errors] == [
        ("rules/windows/huge.toml", "file too large")
    ]
