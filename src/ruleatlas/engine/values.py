"""Value semantics of the Sigma engine: wildcard patterns, value transformations, event-value forms.

A rule value becomes a `Pattern` (literal text and wildcard tokens) before it becomes a matcher. The
transformations Sigma's modifiers name (base64, base64offset, utf16le/be/utf16/wide, windash, expand) map
one pattern to one or more patterns, following pySigma 1.5.1 `sigma/modifiers.py` except where the
specification v2.1 says otherwise (noted at each function). The time modifiers (minute … year) work on the
event side: `timestamp_part` reads the part from an event value.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from itertools import product
from typing import TypeAlias

from ruleatlas.model import Wild, WildPart, parse_wildcard

__all__ = ["Wild", "parse_wildcard"]  # the model's wildcard vocabulary, which every engine module reads here


Part: TypeAlias = WildPart
Pattern: TypeAlias = tuple[Part, ...]

# Windash characters: the specification's list (hyphen, slash, en dash, em dash, horizontal bar).
DASHES = ("-", "/", "\u2013", "\u2014", "\u2015")
# pySigma replaces a dash only where a parameter starts: after a non-word character (or the start of a
# string part) and before a word character. We use the same boundary, over all five characters.
_WINDASH_AT = re.compile("\\B[" + re.escape("".join(DASHES)) + "]\\b")
# Up to this many dash positions the variants are expanded into literals (5**3 = 125 strings); beyond it
# each position becomes a `Wild.DASH` token, matched by a character class.
WINDASH_EXPAND_LIMIT = 3

# pySigma's placeholder syntax: %name%, with \% a plain percent sign.
_PLACEHOLDER = re.compile(r"(?<!\\)%(?P<name>[^%]+)%")

TIME_PARTS = ("minute", "hour", "day", "week", "month", "year")


class TransformError(Exception):
    """A rule value that a transformation cannot handle; the message says why."""


class MissingPlaceholders(Exception):
    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(", ".join(names))
        self.names = tuple(names)


# ---------------------------------------------------------------------------------------------------------
# Patterns


def literal(text: str) -> Pattern:
    return (text,) if text else ()


def normalise(pattern: Sequence[Part]) -> Pattern:
    """Merge adjacent literal parts, collapse runs of `*`, drop empty literals."""
    out: list[Part] = []
    for part in pattern:
        if isinstance(part, str):
            if not part:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + part
                continue
        elif part is Wild.STAR and out and out[-1] is Wild.STAR:
            continue
        out.append(part)
    return tuple(out)


def is_literal(pattern: Pattern) -> bool:
    return all(isinstance(part, str) for part in pattern)


def literal_text(pattern: Pattern) -> str:
    return "".join(part for part in pattern if isinstance(part, str))


def wrap(pattern: Pattern, start: bool, end: bool) -> Pattern:
    """Put `*` before and/or after a pattern (contains, endswith, startswith)."""
    out = list(pattern)
    if start and (not out or out[0] is not Wild.STAR):
        out.insert(0, Wild.STAR)
    if end and (not out or out[-1] is not Wild.STAR):
        out.append(Wild.STAR)
    return normalise(out)


def escape_pattern(text: str) -> str:
    """The Sigma wildcard syntax for a plain text (so that parse_wildcard gives it back unchanged)."""
    return re.sub(r"([*?\\])", r"\\\1", text)


def fold_pattern(pattern: Pattern) -> Pattern:
    return tuple(part.casefold() if isinstance(part, str) else part for part in pattern)


def longest_literal(pattern: Pattern) -> str:
    """The longest literal run of a pattern: it must occur in any text the pattern matches."""
    return max((part for part in pattern if isinstance(part, str)), key=len, default="")


# ---------------------------------------------------------------------------------------------------------
# Value transformations (rule side)


def _literal_bytes(pattern: Pattern, is_bytes: bool, name: str) -> bytes:
    if not is_literal(pattern):
        raise TransformError(f"{name} of a value with wildcards is not possible (pySigma refuses it too)")
    text = literal_text(pattern)
    return text.encode("latin-1") if is_bytes else text.encode("utf-8")


def encode_base64(pattern: Pattern, is_bytes: bool) -> list[Pattern]:
    return [literal(base64.b64encode(_literal_bytes(pattern, is_bytes, "base64")).decode("ascii"))]


def encode_base64offset(pattern: Pattern, is_bytes: bool) -> list[Pattern]:
    """The three base64 forms of a value placed at byte offset 0, 1 and 2 of a longer encoded text.

    Same slicing as pySigma's SigmaBase64OffsetModifier: encode `i` spaces + value, drop the characters the
    spaces influence at the start and the characters the unknown following bytes influence at the end.
    """
    data = _literal_bytes(pattern, is_bytes, "base64offset")
    start_offsets = (0, 2, 3)
    end_offsets = (None, -3, -2)
    out: list[Pattern] = []
    for i in range(3):
        encoded = base64.b64encode(i * b" " + data).decode("ascii")
        out.append(literal(encoded[start_offsets[i] : end_offsets[(len(data) + i) % 3]]))
    return out


def _utf16(pattern: Pattern, codec: str, bom: bytes) -> Pattern:
    """Encode the literal parts; wildcards stay wildcards (as pySigma's wide modifier keeps them).

    The bytes are carried as a latin-1 string (one character per byte), which is also how an event value
    holding the decoded-as-latin-1 UTF-16 text looks. The byte-order mark of `utf16` is FF FE, as the
    specification says; pySigma 1.5.1 inserts U+FEFF as text, which becomes EF BB BF once base64-encoded.
    """
    out: list[Part] = [bom.decode("latin-1")] if bom else []
    for part in pattern:
        out.append(part.encode(codec).decode("latin-1") if isinstance(part, str) else part)
    return normalise(out)


def windash(pattern: Pattern) -> list[Pattern]:
    """Every dash at the start of a parameter in any of the five windash forms."""
    positions: list[tuple[int, int]] = []  # (part index, char index)
    for index, part in enumerate(pattern):
        if isinstance(part, str):
            positions.extend((index, m.start()) for m in _WINDASH_AT.finditer(part))
    if not positions:
        return [pattern]
    if len(positions) > WINDASH_EXPAND_LIMIT:
        return [_dash_tokens(pattern, positions)]
    variants: list[Pattern] = []
    for choice in product(DASHES, repeat=len(positions)):
        parts = [list(part) if isinstance(part, str) else part for part in pattern]
        for (pi, ci), dash in zip(positions, choice, strict=True):
            chars = parts[pi]
            assert isinstance(chars, list)
            chars[ci] = dash
        variants.append(tuple("".join(p) if isinstance(p, list) else p for p in parts))
    return variants


def _dash_tokens(pattern: Pattern, positions: list[tuple[int, int]]) -> Pattern:
    at = set(positions)
    out: list[Part] = []
    for index, part in enumerate(pattern):
        if not isinstance(part, str):
            out.append(part)
            continue
        for ci, ch in enumerate(part):
            out.append(Wild.DASH if (index, ci) in at else ch)
    return normalise(out)


def expand(pattern: Pattern, placeholders: Mapping[str, Sequence[str | int | float]]) -> list[Pattern]:
    """Replace every %name% by each configured value (OR-ed), as pySigma's value_placeholders does.

    Configured values are Sigma strings: their wildcards count. `\\%` is a plain percent sign. A name with
    no configured value raises MissingPlaceholders (the caller makes the predicate match nothing).
    """
    pieces: list[list[Pattern]] = []  # alternatives per piece, concatenated in order
    missing: list[str] = []
    for part in pattern:
        if not isinstance(part, str):
            pieces.append([(part,)])
            continue
        last = 0
        for m in _PLACEHOLDER.finditer(part):
            pieces.append([literal(part[last : m.start()].replace("\\%", "%"))])
            name = m["name"]
            values = placeholders.get(name)
            if values is None:
                missing.append(name)
            else:
                pieces.append([parse_wildcard(str(v)) for v in values])
            last = m.end()
        pieces.append([literal(part[last:].replace("\\%", "%"))])
    if missing:
        raise MissingPlaceholders(sorted(set(missing)))
    return [normalise([p for chunk in combo for p in chunk]) for combo in product(*pieces)]


def expand_text(text: str, placeholders: Mapping[str, Sequence[str | int | float]]) -> list[str]:
    """Placeholder expansion for a regular expression: configured values are inserted as regex text."""
    names = [m["name"] for m in _PLACEHOLDER.finditer(text)]
    missing = sorted({name for name in names if placeholders.get(name) is None})
    if missing:
        raise MissingPlaceholders(missing)
    pieces = _PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
    choices = [
        [piece] if index % 2 == 0 else [str(v) for v in placeholders[piece]]
        for index, piece in enumerate(pieces)
    ]
    return list(dict.fromkeys("".join(combo) for combo in product(*choices)))


# Transformation name (the specification's modifier word) -> (function, output holds UTF-16 bytes).
# The function takes (pattern, input holds bytes, placeholders) and returns the OR-ed output patterns.
TransformStep: TypeAlias = Callable[[Pattern, bool, Mapping[str, Sequence[str | int | float]]], list[Pattern]]
TRANSFORMS: dict[str, tuple[TransformStep, bool]] = {
    "base64": (lambda p, b, _: encode_base64(p, b), False),
    "base64offset": (lambda p, b, _: encode_base64offset(p, b), False),
    "utf16le": (lambda p, b, _: [_utf16(p, "utf-16le", b"")], True),
    "wide": (lambda p, b, _: [_utf16(p, "utf-16le", b"")], True),
    "utf16be": (lambda p, b, _: [_utf16(p, "utf-16be", b"")], True),
    "utf16": (lambda p, b, _: [_utf16(p, "utf-16le", b"\xff\xfe")], True),
    "windash": (lambda p, b, _: windash(p), False),
    "expand": (lambda p, b, ph: expand(p, ph), False),
}


def apply_transforms(
    pattern: Pattern,
    transforms: Sequence[str],
    placeholders: Mapping[str, Sequence[str | int | float]],
) -> list[Pattern]:
    """Apply the value transformations in order; each value may become several (OR-ed) values."""
    values = [pattern]
    is_bytes = False  # True once the literal parts hold UTF-16 bytes (one char per byte)
    for name in transforms:
        if name not in TRANSFORMS:
            raise TransformError(f"unknown value transformation '{name}'")
        step, makes_bytes = TRANSFORMS[name]
        values = [out for value in values for out in step(value, is_bytes, placeholders)]
        if name not in ("windash", "expand"):
            is_bytes = makes_bytes
    return list(dict.fromkeys(values))


# ---------------------------------------------------------------------------------------------------------
# Event values


_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str) -> int | float | None:
    """A decimal number written as text (ASCII digits, optional sign, fraction, exponent), else None."""
    if not text or len(text) > 64:
        return None
    if text.isdigit() and text.isascii():
        return int(text)
    if _NUMBER.fullmatch(text) is None:
        return None
    try:
        return int(text)
    except ValueError:
        number = float(text)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number


def as_number(value: object) -> int | float | None:
    """An event value as a number: ints and floats as they are, numeric text parsed, anything else None."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[return-value]
    if kind is str:
        return parse_number(value)  # type: ignore[arg-type]
    return None


def scalar_text(value: object) -> str | None:
    """The text form string matchers see for a scalar event value (None for null, lists and objects).

    The prefilter must build its event text from the same forms for required_literals to be sound.
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return None


def iter_texts(value: object) -> list[str]:
    """Every scalar text inside a value, recursing into lists and objects (for keyword searches)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        else:
            text = scalar_text(item)
            if text is not None:
                out.append(text)
    return out


_TIMESTAMP = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2}))?")


def timestamp_part(value: object, part: str) -> int | None:
    """The minute/hour/day/week/month/year of a timestamp event value, as written (no timezone change).

    Accepts ISO 8601 text (date, optional time; anything after the minutes is ignored), datetime objects
    and Unix epoch numbers (seconds; milliseconds when above 1e11), read as UTC. `week` is the ISO week.
    """
    year = month = day = hour = minute = 0
    if isinstance(value, dt.datetime):
        year, month, day, hour, minute = value.year, value.month, value.day, value.hour, value.minute
    elif type(value) is int or type(value) is float:
        seconds = float(value)
        if abs(seconds) > 1e11:
            seconds /= 1000.0
        try:
            stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
        year, month, day, hour, minute = stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute
    elif type(value) is str:
        m = _TIMESTAMP.match(value)
        if m is None:
            return None
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if m[4] is None:
            if part in ("hour", "minute"):
                return None
        else:
            hour, minute = int(m[4]), int(m[5])
            if hour > 23 or minute > 59:
                return None
    else:
        return None
    if part == "year":
        return year
    if part == "month":
        return month if 1 <= month <= 12 else None
    if part == "day":
        return day if 1 <= day <= 31 else None
    if part == "hour":
        return hour
    if part == "minute":
        return minute
    if part == "week":
        try:
            return dt.date(year, month, day).isocalendar()[1]
        except ValueError:
            return None
    raise TransformError(f"unknown time part '{part}'")
