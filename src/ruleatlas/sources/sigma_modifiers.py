"""Sigma value modifiers and value normalisation (wildcards and escapes).

`MODIFIERS` is keyed by the names of the specification's modifier appendix
(`sigma-appendix-modifiers.md`, v2.1) plus pySigma's long names of the regex flags. Each entry says what the
modifier does to a value (a role), which value types it takes, and the `Kind`, transform or flag it yields;
`apply_modifiers` is the only code that reads the table, and a test checks that both agree.

Where the specification is silent this follows pySigma 1.5 (`sigma/modifiers.py`, `sigma/types.py`):
the same type checks (e.g. `contains` needs a string, `gt` a number), `re`, `cidr` and `exists` only on
an unmodified value, base64 only without wildcards, and `neq` negating the whole value list. One deliberate
difference: `re` combined with `contains`/`startswith`/`endswith` is refused (pySigma pads the regex with
`.*`); a Sigma regex already matches anywhere, so the combination is a mistake worth reporting.

String values: `*` and `?` are wildcards; `\\*`, `\\?` and `\\\\` are escapes; any other backslash is a
literal character (spec "Escape Character"), and so is a trailing one. Wildcards at the ends become
contains/starts_with/ends_with; any other wildcard keeps `Kind.WILDCARD` with the pattern in Sigma syntax.
"""

from __future__ import annotations

import difflib
import re
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_network
from typing import TypeAlias

from ruleatlas.model import Expr, Kind, Not, Pred, Scalar, Wild, WildPart, parse_wildcard, wildcard_text

Part: TypeAlias = WildPart


class Role(StrEnum):
    LINK = "link"  # changes how the values of a list are joined
    NEGATE = "negate"  # negates the whole item
    WILDCARD = "wildcard"  # adds wildcards at the ends of a string
    CASE = "case"  # case-sensitive matching
    TYPE = "type"  # turns the value into another kind of comparison
    REGEX_FLAG = "regex_flag"
    TRANSFORM = "transform"  # a value transformation the engine applies (encodings, windash, expand, time)


class VType(StrEnum):
    """The type a value has while modifiers are applied (pySigma's SigmaType classes)."""

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    NULL = "null"
    REGEX = "regex"
    CIDR = "cidr"
    FIELDREF = "fieldref"
    EXISTS = "exists"
    COMPARE = "compare"
    TIMEPART = "timepart"


ANY_TYPE = frozenset(VType)
STRING = frozenset({VType.STRING})
NUMBER = frozenset({VType.NUMBER})


@dataclass(frozen=True, slots=True)
class Modifier:
    name: str
    role: Role
    section: str
    """The appendix section that defines it ("generic", "string", "regex", "encoding", "numeric", "time",
    "ip", "specific"; "pysigma" for pySigma's long regex flag names)."""
    accepts: frozenset[VType] = ANY_TYPE
    kind: Kind | None = None
    """For TYPE modifiers: the comparison the value becomes."""
    produces: VType | None = None
    """The value type afterwards (None: unchanged)."""
    transform: str = ""
    """For TRANSFORM modifiers: the name recorded in Pred.transforms (aliases normalised, e.g. wide)."""
    flag: str = ""
    """For REGEX_FLAG modifiers: the flag letter in Pred.regex_flags."""
    first: bool = False
    """Only valid on an unmodified value (re, cidr, exists)."""
    plain: bool = False
    """Refuses values that contain wildcards (base64, base64offset, fieldref)."""
    ends: tuple[bool, bool] = (False, False)
    """For WILDCARD modifiers: whether it adds a wildcard at the start and at the end."""


def _m(name: str, role: Role, section: str, **kw: object) -> Modifier:
    return Modifier(name, role, section, **kw)  # type: ignore[arg-type]


_WILDCARD_TARGETS = frozenset({VType.STRING, VType.FIELDREF})

MODIFIERS: dict[str, Modifier] = {
    m.name: m
    for m in (
        # Generic modifiers
        _m("all", Role.LINK, "generic"),
        _m("startswith", Role.WILDCARD, "generic", accepts=_WILDCARD_TARGETS, ends=(False, True)),
        _m("endswith", Role.WILDCARD, "generic", accepts=_WILDCARD_TARGETS, ends=(True, False)),
        _m("contains", Role.WILDCARD, "generic", accepts=_WILDCARD_TARGETS, ends=(True, True)),
        _m(
            "exists",
            Role.TYPE,
            "generic",
            accepts=frozenset({VType.BOOL}),
            kind=Kind.EXISTS,
            produces=VType.EXISTS,
            first=True,
        ),
        _m("cased", Role.CASE, "generic", accepts=STRING),
        _m("neq", Role.NEGATE, "generic"),
        # String modifiers
        _m("windash", Role.TRANSFORM, "string", accepts=STRING, transform="windash"),
        _m("re", Role.TYPE, "regex", accepts=STRING, kind=Kind.REGEX, produces=VType.REGEX, first=True),
        _m("i", Role.REGEX_FLAG, "regex", accepts=frozenset({VType.REGEX}), flag="i"),
        _m("m", Role.REGEX_FLAG, "regex", accepts=frozenset({VType.REGEX}), flag="m"),
        _m("s", Role.REGEX_FLAG, "regex", accepts=frozenset({VType.REGEX}), flag="s"),
        _m("ignorecase", Role.REGEX_FLAG, "pysigma", accepts=frozenset({VType.REGEX}), flag="i"),
        _m("multiline", Role.REGEX_FLAG, "pysigma", accepts=frozenset({VType.REGEX}), flag="m"),
        _m("dotall", Role.REGEX_FLAG, "pysigma", accepts=frozenset({VType.REGEX}), flag="s"),
        _m("base64", Role.TRANSFORM, "encoding", accepts=STRING, transform="base64", plain=True),
        _m("base64offset", Role.TRANSFORM, "encoding", accepts=STRING, transform="base64offset", plain=True),
        _m("utf16le", Role.TRANSFORM, "encoding", accepts=STRING, transform="utf16le"),
        _m("utf16be", Role.TRANSFORM, "encoding", accepts=STRING, transform="utf16be"),
        _m("utf16", Role.TRANSFORM, "encoding", accepts=STRING, transform="utf16"),
        _m("wide", Role.TRANSFORM, "encoding", accepts=STRING, transform="utf16le"),
        # Numeric modifiers (neq is listed under generic above: pySigma negates any value type)
        _m("lt", Role.TYPE, "numeric", accepts=NUMBER, kind=Kind.LT, produces=VType.COMPARE),
        _m("lte", Role.TYPE, "numeric", accepts=NUMBER, kind=Kind.LE, produces=VType.COMPARE),
        _m("gt", Role.TYPE, "numeric", accepts=NUMBER, kind=Kind.GT, produces=VType.COMPARE),
        _m("gte", Role.TYPE, "numeric", accepts=NUMBER, kind=Kind.GE, produces=VType.COMPARE),
        # Time modifiers: the event's date is reduced to a number and compared with the (numeric) value
        *(
            _m(unit, Role.TRANSFORM, "time", accepts=NUMBER, transform=unit, produces=VType.TIMEPART)
            for unit in ("minute", "hour", "day", "week", "month", "year")
        ),
        # IP modifiers
        _m("cidr", Role.TYPE, "ip", accepts=STRING, kind=Kind.CIDR, produces=VType.CIDR, first=True),
        # Specific modifiers
        _m(
            "expand",
            Role.TRANSFORM,
            "specific",
            accepts=frozenset({VType.STRING, VType.REGEX}),
            transform="expand",
        ),
        _m(
            "fieldref",
            Role.TYPE,
            "specific",
            accepts=STRING,
            kind=Kind.FIELDREF,
            produces=VType.FIELDREF,
            plain=True,
        ),
    )
}

_TYPE_WORDS = {
    VType.STRING: "a string",
    VType.NUMBER: "a number",
    VType.BOOL: "a boolean",
    VType.NULL: "null",
    VType.REGEX: "a regular expression (after |re)",
    VType.CIDR: "a network (after |cidr)",
    VType.FIELDREF: "a field reference (after |fieldref)",
    VType.EXISTS: "an existence check (after |exists)",
    VType.COMPARE: "a numeric comparison",
    VType.TIMEPART: "a date part (after a time modifier)",
}


class ModifierError(Exception):
    """A key or value the modifiers cannot take; `hint` says what would be valid."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """A detection key `Field|mod1|mod2` split and checked."""

    field: str | None
    modifiers: tuple[Modifier, ...]
    """Value modifiers in written order (all and neq are taken out into the flags below)."""
    match_all: bool = False
    negate: bool = False


def nearest_modifiers(name: str) -> list[str]:
    return difflib.get_close_matches(name.lower(), list(MODIFIERS), n=3, cutoff=0.5)


def parse_key(key: str) -> ItemSpec:
    """Split `Field|mod|mod` and look the modifiers up; ModifierError for an unknown one."""
    if "|" not in key:
        return ItemSpec(key or None, ())
    field_name, *names = key.split("|")
    modifiers = []
    match_all = negate = False
    for name in names:
        modifier = MODIFIERS.get(name)
        if modifier is None:
            near = nearest_modifiers(name)
            hint = f"did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            if not name:
                raise ModifierError(f"empty modifier in '{key}'", "remove the doubled or trailing '|'")
            raise ModifierError(f"unknown modifier '{name}' in '{key}'", hint or _valid_list())
        if modifier.role is Role.LINK:
            match_all = True
        elif modifier.role is Role.NEGATE:
            negate = True
        else:
            modifiers.append(modifier)
    return ItemSpec(field_name or None, tuple(modifiers), match_all, negate)


def _valid_list() -> str:
    return "valid modifiers: " + ", ".join(sorted(MODIFIERS))


def value_type(value: object) -> VType:
    if value is None:
        return VType.NULL
    if isinstance(value, bool):
        return VType.BOOL
    if isinstance(value, int | float):
        return VType.NUMBER
    return VType.STRING


def build_pred(spec: ItemSpec, value: Scalar, native: str) -> Pred:
    """One predicate for one value of an item, all its value modifiers applied (not `neq`: see negate)."""
    vtype = value_type(value)
    if not spec.modifiers:  # the common case: a plain value
        if isinstance(value, str):
            kind, text = classify(parse_wildcards(value))
            return Pred(spec.field, kind, text, native=native)
        return Pred(spec.field, Kind.EQ, value, native=native)

    if len(spec.modifiers) == 1 and isinstance(value, str) and value and not _SPECIAL.search(value):
        only = spec.modifiers[0]  # the common `Field|contains: text` (no wildcard or backslash in text)
        if only.role is Role.WILDCARD:
            return Pred(spec.field, _END_KINDS[only.ends], value, native=native)

    parts = parse_wildcards(value) if isinstance(value, str) else None
    type_kind: Kind | None = None
    cased = False
    transforms: list[str] = []
    flags = ""
    for position, modifier in enumerate(spec.modifiers):
        if vtype not in modifier.accepts:
            raise ModifierError(
                f"modifier '{modifier.name}' does not apply to {_TYPE_WORDS[vtype]} (value {value!r})",
                _accepts_hint(modifier, vtype, value),
            )
        if modifier.first and position > 0:
            raise ModifierError(
                f"modifier '{modifier.name}' must come first: it only applies to an unmodified value",
                f"write '{spec.field or ''}|{modifier.name}|...' or drop the modifiers before it",
            )
        if modifier.plain and parts is not None and any(isinstance(p, Wild) for p in parts):
            raise ModifierError(
                f"modifier '{modifier.name}' does not take wildcards (value {value!r})",
                f"put |contains/|startswith/|endswith after |{modifier.name}, or escape the wildcard with \\",
            )
        role = modifier.role
        if role is Role.WILDCARD:
            if vtype is VType.FIELDREF:  # pySigma: the reference is matched as prefix/suffix/substring
                transforms.append(modifier.name)
            else:
                parts = add_wildcards(parts or [], *modifier.ends)
        elif role is Role.CASE:
            cased = True
        elif role is Role.REGEX_FLAG:
            if modifier.flag not in flags:
                flags += modifier.flag
        elif role is Role.TRANSFORM:
            transforms.append(modifier.transform)  # in written order; repeats matter (base64 twice)
        elif role is Role.TYPE:
            type_kind = modifier.kind
            if modifier.name == "exists" and spec.field is None:
                raise ModifierError("modifier 'exists' needs a field", "write 'FieldName|exists: true'")
        if modifier.produces is not None:
            vtype = modifier.produces

    done = tuple(transforms)
    if vtype is VType.REGEX and isinstance(value, str):
        _check_regex(value, flags)
        return Pred(spec.field, Kind.REGEX, value, cased, done, flags, native)
    if vtype is VType.CIDR and isinstance(value, str):
        _check_cidr(value)
        return Pred(spec.field, Kind.CIDR, value, cased, done, flags, native)
    if vtype is VType.FIELDREF:
        return Pred(spec.field, Kind.FIELDREF, plain_text(parts or []), cased, done, flags, native)
    if type_kind is not None:  # exists, lt/le/gt/ge: the value as written
        return Pred(spec.field, type_kind, value, cased, done, flags, native)
    if parts is not None:
        kind, text = classify(parts)
        return Pred(spec.field, kind, text, cased, done, flags, native)
    return Pred(spec.field, Kind.EQ, value, cased, done, flags, native)


def negate(pred: Pred) -> Expr:
    """`neq` on one value: an equality becomes Kind.NEQ, any other comparison is wrapped in Not."""
    if pred.kind is Kind.EQ:
        return Pred(
            pred.field, Kind.NEQ, pred.value, pred.cased, pred.transforms, pred.regex_flags, pred.native
        )
    return Not(pred)


def _accepts_hint(modifier: Modifier, vtype: VType, value: Scalar) -> str:
    if modifier.role is Role.REGEX_FLAG:
        return f"'{modifier.name}' is a flag of |re: write '|re|{modifier.name}'"
    if modifier.role is Role.WILDCARD and vtype is VType.REGEX:
        return "a Sigma regex already matches anywhere in the value: drop the modifier (anchor with ^ or $)"
    if vtype is VType.NUMBER and VType.STRING in modifier.accepts:
        return f"quote the number to make it a string: '{value}'"
    if VType.NUMBER in modifier.accepts and vtype is VType.STRING:
        return "write the number without quotes"
    if modifier.name == "exists":
        return "write 'Field|exists: true' or 'Field|exists: false'"
    words = " or ".join(_TYPE_WORDS[t] for t in sorted(modifier.accepts))
    return f"'{modifier.name}' takes {words}"


def _check_regex(value: str, flags: str) -> None:
    py_flags = (re.IGNORECASE if "i" in flags else 0) | (re.MULTILINE if "m" in flags else 0)
    py_flags |= re.DOTALL if "s" in flags else 0
    try:
        re.compile(value, py_flags)
    except re.error as exc:
        raise ModifierError(
            f"invalid regular expression {value!r}: {exc}",
            "Sigma regexes are PCRE-like: escape special characters (\\. \\( \\[) and balance the brackets",
        ) from None


def _check_cidr(value: str) -> None:
    try:
        ip_network(value)
    except ValueError as exc:
        hint = "write a network address with a prefix length, e.g. 10.0.0.0/8 or fe80::/10"
        if "host bits set" in str(exc):
            with suppress(ValueError):
                hint = f"the network of that range is {ip_network(value, strict=False)}"
        raise ModifierError(f"invalid CIDR network {value!r}: {exc}", hint) from None


# --- wildcards and escapes -------------------------------------------------------------------------

_SPECIAL = re.compile(r"[*?\\]")
_END_KINDS = {(True, True): Kind.CONTAINS, (False, True): Kind.STARTS_WITH, (True, False): Kind.ENDS_WITH}


def parse_wildcards(text: str) -> list[Part]:
    """A Sigma string as literal text and wildcards (the model's `parse_wildcard`, pySigma's semantics), with
    runs of `*` made one: `**x` matches what `*x` matches, and normalises like it."""
    parts: list[Part] = []
    for part in parse_wildcard(text):
        if not (part is Wild.STAR and parts and parts[-1] is Wild.STAR):
            parts.append(part)
    return parts


def add_wildcards(parts: list[Part], start: bool, end: bool) -> list[Part]:
    """contains/startswith/endswith: add `*` at the ends unless one is there (as pySigma does)."""
    out = list(parts)
    if start and not (out and out[0] is Wild.STAR):
        out.insert(0, Wild.STAR)
    if end and not (out and out[-1] is Wild.STAR):
        out.append(Wild.STAR)
    return out


def classify(parts: list[Part]) -> tuple[Kind, str]:
    """The kind and value of a parsed string: wildcards at the ends become contains/starts/ends_with."""
    count = len(parts)
    if count == 0:
        return Kind.EQ, ""
    if count == 1 and isinstance(parts[0], str):
        return Kind.EQ, parts[0]
    first, last = parts[0], parts[-1]
    if count == 2:
        if first is Wild.STAR and isinstance(last, str):
            return Kind.ENDS_WITH, last
        if last is Wild.STAR and isinstance(first, str):
            return Kind.STARTS_WITH, first
    elif count == 3 and first is Wild.STAR and last is Wild.STAR and isinstance(parts[1], str):
        return Kind.CONTAINS, parts[1]
    return Kind.WILDCARD, wildcard_text(parts)


def plain_text(parts: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else p.value for p in parts)
