"""Sigma filter documents AND-ed onto their target rules (pySigma 1.5.1 sigma/filters.py semantics)."""

from __future__ import annotations

from match_support import parse_rules

from ruleatlas.engine import compile_rules

RULE_A = """title: Rar compression
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
name: rar_compression
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\rar.exe'
    condition: selection
level: low
"""

RULE_B = """title: Jump host login
id: df0841c0-9846-4e9f-ad8a-7df91571771b
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\mstsc.exe'
    condition: selection
level: low
"""

RULE_NET = """title: Network thing
id: 0e95725d-7320-415d-80f7-004da920fc11
name: network_thing
logsource:
    category: network_connection
    product: windows
detection:
    selection:
        DestinationPort: 3389
    condition: selection
level: low
"""


def filter_doc(
    rules: str, condition: str = "not selection", logsource: str = "category: process_creation"
) -> str:
    return f"""title: Filter admins
id: 11111111-2222-3333-4444-555555555555
logsource:
    {logsource}
    product: windows
filter:
    rules: {rules}
    selection:
        User|startswith: 'adm_'
    condition: {condition}
"""


def compile_docs(*texts: str) -> object:
    rules = []
    for index, text in enumerate(texts):
        rules.extend(parse_rules(text, f"rules/doc{index}.yml"))
    return compile_rules(rules)


RAR = {"Image": r"C:\rar.exe", "User": "bob"}
RAR_ADMIN = {"Image": r"C:\rar.exe", "User": "ADM_alice"}
MSTSC_ADMIN = {"Image": r"C:\mstsc.exe", "User": "adm_alice"}


def by_uid(compiled: object) -> dict[str, object]:
    return {r.uid: r for r in compiled.rules}  # type: ignore[attr-defined]


def test_filter_by_id_applies_only_to_that_rule() -> None:
    compiled = compile_docs(RULE_A, RULE_B, filter_doc("['6F3E2987-DB24-4C78-A860-B4F4095A7095']"))
    assert not compiled.problems  # type: ignore[attr-defined]
    rules = by_uid(compiled)
    rar, mstsc = rules["sigma/doc0"], rules["sigma/doc1"]
    assert rar.match(RAR) and not rar.match(RAR_ADMIN)  # type: ignore[attr-defined]
    assert rar.filters == ("sigma/doc2",) and mstsc.filters == ()  # type: ignore[attr-defined]
    assert mstsc.match(MSTSC_ADMIN)  # type: ignore[attr-defined]
    assert [f.uid for f in compiled.filters] == ["sigma/doc2"]  # type: ignore[attr-defined]


def test_filter_by_name_and_list_of_targets() -> None:
    compiled = compile_docs(
        RULE_A, RULE_B, filter_doc("[rar_compression, df0841c0-9846-4e9f-ad8a-7df91571771b]")
    )
    rules = by_uid(compiled)
    assert not rules["sigma/doc0"].match(RAR_ADMIN) and not rules["sigma/doc1"].match(MSTSC_ADMIN)  # type: ignore[attr-defined]


def test_filter_any_applies_to_every_rule_within_its_logsource() -> None:
    compiled = compile_docs(RULE_A, RULE_NET, filter_doc("any"))
    rules = by_uid(compiled)
    assert rules["sigma/doc0"].filters == ("sigma/doc2",)  # type: ignore[attr-defined]
    assert rules["sigma/doc1"].filters == ()  # type: ignore[attr-defined]
    assert rules["sigma/doc1"].match({"DestinationPort": 3389, "User": "adm_x"})  # type: ignore[attr-defined]


def test_filter_condition_is_anded_as_written() -> None:
    # pySigma rewrites the condition to `(rule) and (filter)`: a positive filter condition narrows the rule.
    compiled = compile_docs(RULE_A, filter_doc("rar_compression", condition="selection"))
    rar = by_uid(compiled)["sigma/doc0"]
    assert rar.match(RAR_ADMIN) and not rar.match(RAR)  # type: ignore[attr-defined]


def test_filter_with_outside_logsource_is_not_applied_and_says_why() -> None:
    compiled = compile_docs(RULE_NET, filter_doc("network_thing"))
    assert by_uid(compiled)["sigma/doc0"].filters == ()  # type: ignore[attr-defined]
    (problem,) = compiled.problems  # type: ignore[attr-defined]
    assert problem.severity == "warning" and problem.file == "rules/doc1.yml"
    assert "names rule 'network_thing'" in problem.message and "logsource" in problem.message


def test_filter_with_only_product_contains_any_category() -> None:
    compiled = compile_docs(RULE_NET, filter_doc("network_thing", logsource="definition: no category"))
    net = by_uid(compiled)["sigma/doc0"]
    assert net.filters == ("sigma/doc1",)  # type: ignore[attr-defined]
    assert not net.match({"DestinationPort": 3389, "User": "adm_x"})  # type: ignore[attr-defined]


def test_unknown_target_is_a_warning() -> None:
    compiled = compile_docs(RULE_A, filter_doc("[no_such_rule]"))
    (problem,) = compiled.problems  # type: ignore[attr-defined]
    assert "no_such_rule" in problem.message and "no compiled rule" in problem.message


def test_filter_and_rule_search_names_do_not_clash() -> None:
    """Both use `selection`; the filter's is its own (pySigma prefixes the filter's identifiers)."""
    compiled = compile_docs(RULE_A, filter_doc("rar_compression", condition="not 1 of sel*"))
    rar = by_uid(compiled)["sigma/doc0"]
    assert rar.match(RAR) and not rar.match(RAR_ADMIN)  # type: ignore[attr-defined]
    assert not rar.match({"Image": "x.exe", "User": "bob"})  # type: ignore[attr-defined]


def test_two_filters_on_one_rule() -> None:
    second = filter_doc("rar_compression").replace("adm_", "svc_").replace("11111111", "22222222")
    compiled = compile_docs(RULE_A, filter_doc("rar_compression"), second)
    rar = by_uid(compiled)["sigma/doc0"]
    assert rar.filters == ("sigma/doc1", "sigma/doc2")  # type: ignore[attr-defined]
    assert rar.match(RAR) and not rar.match(RAR_ADMIN)  # type: ignore[attr-defined]
    assert not rar.match({"Image": r"C:\rar.exe", "User": "svc_backup"})  # type: ignore[attr-defined]
