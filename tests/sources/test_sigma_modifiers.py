"""Sigma value modifiers: the table, each modifier's kind/transforms/flags, wildcards and escapes."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ruleatlas.model import All, Any, Kind, Not, Pred, Rule, Wild
from ruleatlas.model import wildcard_text as to_pattern
from ruleatlas.sources.sigma_modifiers import (
    MODIFIERS,
    ModifierError,
    Role,
    VType,
    build_pred,
    classify,
    parse_key,
    parse_wildcards,
)


def pred(key: str, value: object) -> Pred:
    return build_pred(parse_key(key), value, key)  # type: ignore[arg-type]


# --- the table ---------------------------------------------------------------------------------------


def test_table_holds_every_modifier_of_the_spec_appendix(shared_dir: Path) -> None:
    text = (shared_dir / "corpus/sigma-specification/specification/sigma-appendix-modifiers.md").read_text()
    body = text.split("### Generic Modifiers", 1)[1].split("## History", 1)[0]
    spec_names = set(re.findall(r"^\s*- `([a-z0-9]+)`:", body, re.MULTILINE))
    assert {
        "contains",
        "windash",
        "re",
        "i",
        "base64offset",
        "wide",
        "gte",
        "year",
        "cidr",
        "fieldref",
    } <= spec_names
    assert spec_names <= set(MODIFIERS)
    # Only pySigma's long names of the regex flags are extra, and they say so.
    extra = set(MODIFIERS) - spec_names
    assert extra == {"ignorecase", "multiline", "dotall"}
    assert {MODIFIERS[name].section for name in extra} == {"pysigma"}


_SAMPLES: dict[VType, object] = {VType.STRING: "abc", VType.NUMBER: 5, VType.BOOL: True}
_PREFIX = {VType.REGEX: "|re", VType.FIELDREF: "|fieldref"}


@pytest.mark.parametrize("name", sorted(MODIFIERS))
def test_code_applies_each_table_entry_as_the_table_says(name: str) -> None:
    modifier = MODIFIERS[name]
    if modifier.role in (Role.LINK, Role.NEGATE):
        spec = parse_key(f"Field|{name}")
        assert spec.modifiers == ()
        assert spec.match_all is (modifier.role is Role.LINK)
        assert spec.negate is (modifier.role is Role.NEGATE)
        return
    vtype = next(
        t
        for t in (VType.STRING, VType.NUMBER, VType.BOOL, VType.REGEX, VType.FIELDREF)
        if t in modifier.accepts
    )
    value = "10.0.0.0/8" if name == "cidr" else _SAMPLES.get(vtype, "abc")
    got = pred(f"Field{_PREFIX.get(vtype, '')}|{name}", value)
    if modifier.kind is not None:
        assert got.kind is modifier.kind
    if modifier.transform:
        assert got.transforms == (modifier.transform,)
    if modifier.flag:
        assert got.regex_flags == modifier.flag
    if modifier.role is Role.CASE:
        assert got.cased is True
    if modifier.role is Role.WILDCARD and vtype is VType.STRING:
        assert got.kind in (Kind.CONTAINS, Kind.STARTS_WITH, Kind.ENDS_WITH)


# --- each modifier -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "kind", "expected"),
    [
        ("F", "x", Kind.EQ, "x"),
        ("F|contains", "x", Kind.CONTAINS, "x"),
        ("F|startswith", "x", Kind.STARTS_WITH, "x"),
        ("F|endswith", "x", Kind.ENDS_WITH, "x"),
        ("F|exists", True, Kind.EXISTS, True),
        ("F|exists", False, Kind.EXISTS, False),
        ("F|neq", "x", Kind.NEQ, "x"),
        ("F|re", "^a.*b$", Kind.REGEX, "^a.*b$"),
        ("F|cidr", "10.0.0.0/8", Kind.CIDR, "10.0.0.0/8"),
        ("F|cidr", "fe80::/10", Kind.CIDR, "fe80::/10"),
        ("F|lt", 5, Kind.LT, 5),
        ("F|lte", 5, Kind.LE, 5),
        ("F|gt", 5.5, Kind.GT, 5.5),
        ("F|gte", 5, Kind.GE, 5),
        ("F|fieldref", "ParentImage", Kind.FIELDREF, "ParentImage"),
    ],
)
def test_modifier_gives_kind_and_value(key: str, value: object, kind: Kind, expected: object) -> None:
    got = pred(key, value)
    if key.endswith("neq"):
        from ruleatlas.sources.sigma_modifiers import negate

        got = negate(got)  # type: ignore[assignment]
    assert (got.kind, got.value) == (kind, expected)
    assert got.native == key


@pytest.mark.parametrize(
    ("key", "transforms"),
    [
        ("F|base64", ("base64",)),
        ("F|base64offset|contains", ("base64offset",)),
        ("F|utf16le|base64offset|contains", ("utf16le", "base64offset")),
        ("F|wide|base64offset|contains", ("utf16le", "base64offset")),
        ("F|utf16be|base64", ("utf16be", "base64")),
        ("F|utf16|base64", ("utf16", "base64")),
        ("F|windash|contains", ("windash",)),
        ("F|contains|windash", ("windash",)),
        ("F|expand", ("expand",)),
        ("F|base64|base64", ("base64", "base64")),
    ],
)
def test_encoding_and_specific_modifiers_are_transforms_in_written_order(
    key: str, transforms: tuple[str, ...]
) -> None:
    got = pred(key, "abc")
    assert got.transforms == transforms
    assert got.value == "abc"
    assert got.kind is (Kind.CONTAINS if "contains" in key else Kind.EQ)


@pytest.mark.parametrize("unit", ["minute", "hour", "day", "week", "month", "year"])
def test_time_modifiers_compare_a_number_with_a_date_part(unit: str) -> None:
    got = pred(f"Time|{unit}", 3)
    assert (got.kind, got.value, got.transforms) == (Kind.EQ, 3, (unit,))


@pytest.mark.parametrize(
    ("key", "flags"),
    [("F|re|i", "i"), ("F|re|m|s", "ms"), ("F|re|ignorecase|multiline|dotall", "ims"), ("F|re|i|i", "i")],
)
def test_regex_flags(key: str, flags: str) -> None:
    got = pred(key, "a.b")
    assert (got.kind, got.regex_flags, got.value) == (Kind.REGEX, flags, "a.b")


def test_regex_value_keeps_backslashes_as_written() -> None:
    assert pred("F|re", r"C:\\Windows\\.*\.exe").value == r"C:\\Windows\\.*\.exe"


def test_cased_sets_the_flag_and_keeps_the_kind() -> None:
    got = pred("F|cased|contains", "Foo")
    assert (got.kind, got.value, got.cased) == (Kind.CONTAINS, "Foo", True)
    assert pred("F", "Foo").cased is False


@pytest.mark.parametrize(
    ("key", "transforms"),
    [
        ("F|fieldref|startswith", ("startswith",)),
        ("F|fieldref|endswith", ("endswith",)),
        ("F|fieldref|contains", ("contains",)),
    ],
)
def test_fieldref_with_position_modifiers_keeps_them_in_transforms(
    key: str, transforms: tuple[str, ...]
) -> None:
    got = pred(key, "OtherField")
    assert (got.kind, got.value, got.transforms) == (Kind.FIELDREF, "OtherField", transforms)


@pytest.mark.parametrize(
    ("key", "value", "message", "hint"),
    [
        ("F|conatins", "x", "unknown modifier 'conatins' in 'F|conatins'", "did you mean 'contains'?"),
        (
            "F|re|contains",
            "x",
            "modifier 'contains' does not apply to a regular expression",
            "already matches anywhere",
        ),
        ("F|contains|re", "x", "modifier 're' must come first", "F|re|"),
        (
            "F|cidr",
            "10.0.0.1/8",
            "invalid CIDR network '10.0.0.1/8'",
            "the network of that range is 10.0.0.0/8",
        ),
        ("F|cidr", "not-an-ip", "invalid CIDR network 'not-an-ip'", "e.g. 10.0.0.0/8"),
        ("F|gt", "5", "modifier 'gt' does not apply to a string", "without quotes"),
        (
            "F|contains",
            5,
            "modifier 'contains' does not apply to a number",
            "quote the number to make it a string: '5'",
        ),
        ("F|re", "(unclosed", "invalid regular expression '(unclosed'", "balance the brackets"),
        ("F|base64", "a*b", "modifier 'base64' does not take wildcards", "after |base64"),
        ("F|fieldref", "Other*", "modifier 'fieldref' does not take wildcards", ""),
        ("F|i", "x", "modifier 'i' does not apply to a string", "write '|re|i'"),
        ("F|exists", "yes please", "modifier 'exists' does not apply to a string", "exists: true"),
        ("|exists", True, "modifier 'exists' needs a field", "FieldName|exists"),
        ("F|cased", 1, "modifier 'cased' does not apply to a number", ""),
        ("F||contains", "x", "empty modifier in 'F||contains'", "remove the doubled"),
        ("F|hour", "3", "modifier 'hour' does not apply to a string", ""),
    ],
)
def test_invalid_modifiers_and_combinations(key: str, value: object, message: str, hint: str) -> None:
    with pytest.raises(ModifierError) as caught:
        pred(key, value)
    assert message in caught.value.message
    assert hint in caught.value.hint


def test_unknown_modifier_without_a_near_name_lists_the_valid_ones() -> None:
    with pytest.raises(ModifierError) as caught:
        parse_key("F|zzzzzz")
    assert caught.value.hint.startswith("valid modifiers: all, base64, base64offset, cased")


# --- wildcards and escapes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "kind", "expected"),
    [
        ("F", "*x*", Kind.CONTAINS, "x"),
        ("F", "x*", Kind.STARTS_WITH, "x"),
        ("F", "*x", Kind.ENDS_WITH, "x"),
        ("F", r"*\x.exe", Kind.ENDS_WITH, r"\x.exe"),
        ("F|endswith", r"\x.exe", Kind.ENDS_WITH, r"\x.exe"),
        ("F", "**x", Kind.ENDS_WITH, "x"),
        ("F", r"a\*b", Kind.EQ, "a*b"),  # escaped wildcard: a literal star
        ("F", r"a\?b", Kind.EQ, "a?b"),
        ("F", r"a\\b", Kind.EQ, r"a\b"),  # escaped backslash
        ("F", r"C:\Windows\x.exe", Kind.EQ, r"C:\Windows\x.exe"),  # any other backslash is literal
        ("F", r"a\\\\b", Kind.EQ, r"a\\b"),  # four backslashes are two
        ("F", "a\\", Kind.EQ, "a\\"),  # a trailing backslash is literal
        ("F|contains", "foo\\", Kind.CONTAINS, "foo\\"),  # ... also with contains
        ("F|contains", r"\\*", Kind.CONTAINS, "\\"),  # an escaped backslash, then a wildcard
        ("F", r"\\*x", Kind.WILDCARD, r"\\*x"),
        ("F", r"\\\*x", Kind.EQ, r"\*x"),  # three backslashes: a backslash and a literal star
        ("F", "pro?.exe", Kind.WILDCARD, "pro?.exe"),
        ("F", "?x", Kind.WILDCARD, "?x"),
        ("F", "a*b", Kind.WILDCARD, "a*b"),
        ("F|contains", "a*b", Kind.WILDCARD, "*a*b*"),  # as pySigma: wildcards added at the ends
        ("F|startswith", "a*b", Kind.WILDCARD, "a*b*"),
        ("F|contains", "*a*", Kind.CONTAINS, "a"),
        ("F", "*", Kind.WILDCARD, "*"),
        ("F|contains", "", Kind.WILDCARD, "*"),
        ("F", "*a\\*b*", Kind.CONTAINS, "a*b"),
        ("F", "", Kind.EQ, ""),
    ],
)
def test_wildcards_and_escapes(key: str, value: str, kind: Kind, expected: str) -> None:
    got = pred(key, value)
    assert (got.kind, got.value) == (kind, expected)


def test_null_and_empty_string() -> None:
    assert (pred("F", None).kind, pred("F", None).value) == (Kind.EQ, None)
    assert (pred("F", "").kind, pred("F", "").value) == (Kind.EQ, "")


def test_numbers_and_booleans_keep_their_yaml_type() -> None:
    assert pred("EventID", 4688).value == 4688
    assert pred("Ratio", 0.5).value == 0.5
    assert pred("Enabled", True).value is True


def test_wildcard_pattern_round_trips() -> None:
    rng = random.Random(7)
    alphabet = ["a", "\\", "*", "?", Wild.STAR, Wild.ONE]
    for _ in range(3000):
        parts: list[str | Wild] = []
        for item in (rng.choice(alphabet) for _ in range(rng.randint(1, 8))):
            if isinstance(item, str) and parts and isinstance(parts[-1], str):
                parts[-1] += item
            elif not (item is Wild.STAR and parts and parts[-1] is Wild.STAR):
                parts.append(item)
        assert parse_wildcards(to_pattern(parts)) == parts, parts


def test_classify_only_makes_plain_kinds_from_end_wildcards() -> None:
    assert classify([Wild.STAR, "x", Wild.STAR]) == (Kind.CONTAINS, "x")
    assert classify([Wild.ONE, "x", Wild.STAR]) == (Kind.WILDCARD, "?x*")
    assert classify(["a*b"]) == (Kind.EQ, "a*b")


# --- items in a rule (lists, all, neq) -----------------------------------------------------------------


def test_value_list_is_any_and_all_makes_it_all(detect: Callable[..., Rule]) -> None:
    rule = detect(
        """
        selection:
            A: [x, y]
            B|all|contains: [x, y]
        """
    )
    expr = rule.stages[1].expr
    assert isinstance(expr, All)
    any_a, all_b = expr.items
    assert isinstance(any_a, Any) and [p.value for p in any_a.items] == ["x", "y"]  # type: ignore[union-attr]
    assert isinstance(all_b, All) and {p.kind for p in all_b.items} == {Kind.CONTAINS}  # type: ignore[union-attr]


def test_neq_negates_the_whole_list(detect: Callable[..., Rule]) -> None:
    rule = detect(
        """
        selection:
            A|neq: [x, y*]
        """
    )
    expr = rule.stages[1].expr
    # not (A = x or A starts with y) == (A != x) and not (A starts with y)
    assert expr == All(
        (
            Pred("A", Kind.NEQ, "x", native="A|neq"),
            Not(Pred("A", Kind.STARTS_WITH, "y", native="A|neq")),
        )
    )
