"""values.py: wildcard parsing, encodings, windash, expand, time parts, numbers — checked against pySigma."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sigma.modifiers import (
    SigmaBase64Modifier,
    SigmaBase64OffsetModifier,
    SigmaUTF16BEModifier,
    SigmaWideModifier,
    SigmaWindowsDashModifier,
    modifier_mapping,
)
from sigma.types import SigmaExpansion, SigmaString, SpecialChars

from ruleatlas.engine import compile as compile_module
from ruleatlas.engine.values import (
    DASHES,
    TIME_PARTS,
    TRANSFORMS,
    MissingPlaceholders,
    TransformError,
    Wild,
    apply_transforms,
    expand,
    expand_text,
    literal,
    parse_number,
    parse_wildcard,
    scalar_text,
    timestamp_part,
    windash,
)


def _pysigma_parts(s: SigmaString) -> tuple[object, ...]:
    out: list[object] = []
    for part in s.s:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(Wild.STAR)
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(Wild.ONE)
        else:
            out.append(part)
    return tuple(out)


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "a*b",
        "a?b",
        r"a\*b",
        r"a\?b",
        r"a\\*b",
        r"a\\\*b",
        r"C:\Windows\System32",
        "C:\\Windows\\",
        "foo\\",
        r"\\server\share",
        r"\\\\double",
        "**",
        "*x*",
        "",
        r"\%name%",
    ],
)
def test_parse_wildcard_agrees_with_pysigma(text: str) -> None:
    assert parse_wildcard(text) == _pysigma_parts(SigmaString(text))


def test_parse_wildcard_agrees_with_pysigma_on_every_short_combination() -> None:
    for length in range(1, 5):
        for chars in itertools.product("a*?\\", repeat=length):
            text = "".join(chars)
            assert parse_wildcard(text) == _pysigma_parts(SigmaString(text)), text


@pytest.mark.parametrize("value", ["http://", "cmd", "a", "ab", "abcd", "Invoke-Expression", "0123456789"])
def test_base64offset_is_pysigmas(value: str) -> None:
    mod = SigmaBase64OffsetModifier.__new__(SigmaBase64OffsetModifier)
    expected = [str(v) for v in mod.modify(SigmaString(value)).values]
    got = ["".join(p) for p in apply_transforms(literal(value), ["base64offset"], {})]  # type: ignore[arg-type]
    assert got == list(dict.fromkeys(expected))


@pytest.mark.parametrize("value", ["ping", "cmd.exe /c", "Invoke-WebRequest"])
def test_wide_then_base64offset_is_pysigmas(value: str) -> None:
    wide = SigmaWideModifier.__new__(SigmaWideModifier).modify(SigmaString(value))
    mod = SigmaBase64OffsetModifier.__new__(SigmaBase64OffsetModifier)
    expected = [str(v) for v in mod.modify(wide).values]
    for name in ("wide", "utf16le"):
        got = ["".join(p) for p in apply_transforms(literal(value), [name, "base64offset"], {})]  # type: ignore[arg-type]
        assert got == list(dict.fromkeys(expected))


def test_utf16be_then_base64_is_pysigmas() -> None:
    be = SigmaUTF16BEModifier.__new__(SigmaUTF16BEModifier).modify(SigmaString("cmd"))
    expected = str(SigmaBase64Modifier.__new__(SigmaBase64Modifier).modify(be))
    assert apply_transforms(literal("cmd"), ["utf16be", "base64"], {}) == [(expected,)]


def test_utf16_uses_the_ff_fe_byte_order_mark_of_the_specification() -> None:
    # pySigma 1.5.1 inserts U+FEFF as text (EF BB BF once base64-encoded); the spec says FF FE.
    assert apply_transforms(literal("cmd"), ["utf16", "base64"], {}) == [("//5jAG0AZAA=",)]
    assert apply_transforms(literal("cmd"), ["utf16"], {}) == [("\xff\xfec\x00m\x00d\x00",)]


def test_utf16_keeps_wildcards_and_encodes_non_ascii() -> None:
    assert apply_transforms(parse_wildcard("a*b"), ["utf16le"], {}) == [("a\x00", Wild.STAR, "b\x00")]
    assert apply_transforms(literal("é"), ["utf16le"], {}) == [("\xe9\x00",)]


def test_base64_refuses_wildcards_with_a_reason() -> None:
    with pytest.raises(TransformError, match="wildcards"):
        apply_transforms(parse_wildcard("a*b"), ["base64"], {})


@pytest.mark.parametrize("value", [" -enc ", "-nop", "/c", "a-b", "x -y -z", "-a-b", "--long", " /x-y "])
def test_windash_agrees_with_pysigma_for_hyphen_and_slash(value: str) -> None:
    mod = SigmaWindowsDashModifier.__new__(SigmaWindowsDashModifier)
    result = mod.modify(SigmaString(value))
    expected = {str(v) for v in result.values} if isinstance(result, SigmaExpansion) else {str(result)}
    got = {"".join(p) for p in windash(literal(value))}  # type: ignore[arg-type]
    assert got == expected


def test_windash_also_swaps_the_other_dashes_the_spec_lists() -> None:
    got = {"".join(p) for p in windash(literal(" \u2014enc "))}  # type: ignore[arg-type]
    assert got == {f" {d}enc " for d in DASHES}


def test_windash_with_many_positions_uses_a_class_token() -> None:
    (pattern,) = windash(literal(" -a -b -c -d "))
    assert pattern.count(Wild.DASH) == 4


def test_expand_placeholders() -> None:
    assert expand(literal("%A%-%B%"), {"A": ["x", "y"], "B": ["1*"]}) == [
        ("x-1", Wild.STAR),
        ("y-1", Wild.STAR),
    ]
    assert expand(literal("\\%A%B%"), {"B": ["z"]}) == [("%Az",)]
    with pytest.raises(MissingPlaceholders) as missing:
        expand(literal("%A% and %C%"), {"A": ["x"]})
    assert missing.value.names == ("C",)
    assert expand_text("^%A%$", {"A": ["a.b", "c"]}) == ["^a.b$", "^c$"]


@pytest.mark.parametrize(
    ("value", "part", "expected"),
    [
        ("2024-12-30T03:07:59.1234567Z", "hour", 3),
        ("2024-12-30T03:07:59.1234567Z", "minute", 7),
        ("2024-12-30T03:07:59Z", "day", 30),
        ("2024-12-30T03:07:59Z", "month", 12),
        ("2024-12-30T03:07:59Z", "year", 2024),
        ("2024-12-30T03:07:59Z", "week", 1),
        ("2024-12-29", "week", 52),
        ("2024-12-29", "hour", None),
        ("2024-02-30", "week", None),
        ("not a date", "year", None),
        (dt.datetime(2023, 5, 6, 7, 8, tzinfo=dt.UTC), "minute", 8),
        (1704146400, "hour", 22),
        (1704146400000, "hour", 22),
        (True, "hour", None),
    ],
)
def test_timestamp_part(value: object, part: str, expected: int | None) -> None:
    assert timestamp_part(value, part) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("4.5", 4.5),
        ("1e3", 1000),
        ("042", 42),
        ("", None),
        ("0x10", None),
        ("nan", None),
        ("4_2", None),
        (" 42", None),
        ("٤٢", None),
        ("1.0", 1),
    ],
)
def test_parse_number(text: str, expected: object) -> None:
    assert parse_number(text) == expected
    assert type(parse_number(text)) is type(expected)


def test_scalar_text() -> None:
    assert [scalar_text(v) for v in ("x", 5, 2.5, True, False, None, [1], {"a": 1})] == [
        "x",
        "5",
        "2.5",
        "true",
        "false",
        None,
        None,
        None,
    ]


def test_transform_table_covers_pysigmas_value_modifiers() -> None:
    """House rule 4: every pySigma modifier that transforms values has an entry in our tables."""
    handled = set(TRANSFORMS) | set(TIME_PARTS) | {"utf16le"}
    type_or_flag = {
        "all",
        "neq",
        "cased",
        "cidr",
        "contains",
        "startswith",
        "endswith",
        "exists",
        "fieldref",
        "gt",
        "gte",
        "lt",
        "lte",
        "re",
        "i",
        "m",
        "s",
        "ignorecase",
        "multiline",
        "dotall",
    }
    for name in modifier_mapping:
        assert name in handled or name in type_or_flag, name
    assert set(TRANSFORMS) == compile_module.VALUE_TRANSFORMS
    # utf16le is the spec's name (pySigma calls it wide) and both reach the same encoder
    assert TRANSFORMS["utf16le"][1] and TRANSFORMS["wide"][1]
