"""Comparison matchers other than wildcard strings: numbers, booleans, null, exists, regex, cidr,
fieldref, keywords. Members of the family in matchers.py (same base, same value semantics)."""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ruleatlas.engine.matchers import (
    _KEYWORD_TEXTS,
    _KEYWORD_TEXTS_RAW,
    Cache,
    FieldMatcher,
    Fields,
    Matcher,
    Path,
    dotted_path,
    lookup,
    present,
)
from ruleatlas.engine.regex_guard import Search
from ruleatlas.engine.values import as_number, iter_texts, scalar_text, timestamp_part

if TYPE_CHECKING:
    from ruleatlas.engine.codegen import Emitter


class NumberEq(FieldMatcher):
    """Rule numbers (or-ed): equal to an event number, or to event text that reads as one of them."""

    __slots__ = ("numbers", "texts")
    cost = 1

    def __init__(self, field: str, numbers: Iterable[int | float]) -> None:
        super().__init__(field, False, self._test)
        self.numbers = frozenset(numbers)
        self.texts = frozenset(str(n) for n in self.numbers)

    def _test(self, text: str) -> bool:
        return text in self.texts or as_number(text) in self.numbers

    def test_scalar(self, value: object) -> bool:
        return (type(value) is int or type(value) is float) and value in self.numbers

    def emit(self, gen: Emitter) -> list[str]:
        key = repr(self.field)
        fetch = [f"v = f.get({key})"]
        if self.path is not None:
            fetch += ["if v is None:", f"    v = _lookup(f, {key}, {gen.name(self.path)})"]
        me = gen.name(self)
        return [
            *fetch,
            "if type(v) is int:",  # the usual case (EventID): one set lookup
            f"    r = v in {gen.name(self.numbers)}",
            "elif type(v) is str:",
            f"    r = {me}._test(v)",
            "else:",
            f"    r = v is not None and {me}.test_value(v)",
        ]


class BoolEq(FieldMatcher):
    """A rule boolean: event booleans, the text true/false, and 1/0 (as pySigma's SQL backends)."""

    __slots__ = ("boolean",)
    cost = 2

    def __init__(self, field: str, boolean: bool) -> None:
        text = "true" if boolean else "false"
        super().__init__(field, False, lambda s: s.casefold() == text)
        self.boolean = boolean

    def test_scalar(self, value: object) -> bool:
        if type(value) is bool:
            return value is self.boolean
        return type(value) is int and value == int(self.boolean)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


class Compare(FieldMatcher):
    """Numeric comparison (lt/le/gt/ge, and eq for time parts); non-numeric values never match.

    With `part` (minute, hour, day, week, month, year) the event value is a timestamp and the comparison
    is on that part of it.
    """

    __slots__ = ("number", "op", "part")
    cost = 3

    def __init__(self, field: str, op: str, number: int | float, part: str | None = None) -> None:
        super().__init__(field, False, self._test)
        self.op = _COMPARE[op]
        self.number = number
        self.part = part

    def _test(self, value: object) -> bool:
        got = as_number(value) if self.part is None else timestamp_part(value, self.part)
        return got is not None and self.op(got, self.number)

    def test_scalar(self, value: object) -> bool:
        return self._test(value)


class IsNull(FieldMatcher):
    """Sigma `null`: the field has no value: absent, null, or empty text.

    Empty text counts because that is how an empty EVTX element reads (`<Data Name="StartModule"/>`), and
    SigmaHQ writes `null` for exactly those elements: the SIEM ingesters its rules target (Winlogbeat,
    NXLog, Splunk) drop empty values, so there the field is absent. `''` stays narrower: the field is present
    and empty (docs/engine-contract.md, "null and empty values").
    """

    __slots__ = ()
    cost = 1

    def __init__(self, field: str) -> None:
        super().__init__(field, False, lambda s: False)

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        value = lookup(fields, self.field, self.path)
        return value is None or value == ""

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        if self(fields, cache):
            out[self.field] = lookup(fields, self.field, self.path)
            return True
        return False


class Exists(FieldMatcher):
    """`|exists`: the field is present (even when null or empty), or absent for `false`."""

    __slots__ = ("want",)
    cost = 1

    def __init__(self, field: str, want: bool) -> None:
        super().__init__(field, False, lambda s: True)
        self.want = want

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        return present(fields, self.field, self.path) is self.want

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        if self(fields, cache):
            out[self.field] = lookup(fields, self.field, self.path)
            return True
        return False


class Regex(FieldMatcher):
    """`|re`: a search (not a full match) on the unfolded text; flags carry case-insensitivity."""

    __slots__ = ("guarded", "pattern")

    def __init__(self, field: str, search: Search, pattern: str, guarded: bool) -> None:
        super().__init__(field, False, search)
        self.pattern = pattern
        self.guarded = guarded

    @property
    def cost(self) -> int:  # type: ignore[override]
        return 40 if self.guarded else 10


class Cidr(FieldMatcher):
    """`|cidr`: the value is an IP address inside one of the networks (IPv4-mapped IPv6 counts as IPv4).

    Networks are kept as (version, network bits, mask) integers; dotted IPv4 text is parsed without the
    ipaddress module (which stays the judge of everything else, IPv6 included).
    """

    __slots__ = ("networks", "ranges")
    cost = 5

    def __init__(self, field: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        super().__init__(field, False, self._test)
        self.networks = tuple(dict.fromkeys(networks))
        self.ranges = tuple((n.version, int(n.network_address), int(n.netmask)) for n in self.networks)

    def _test(self, text: str) -> bool:
        found = ip_value(text)
        if found is None:
            return False
        version, value = found
        for net_version, bits, mask in self.ranges:  # noqa: SIM110 - faster than any(<genexpr>)
            if net_version == version and value & mask == bits:
                return True
        return False

    def test_scalar(self, value: object) -> bool:
        return False  # a number is not an IP address text


def ip_value(text: str) -> tuple[int, int] | None:
    """(4 or 6, the address as an int) for IP address text, else None. IPv4-mapped IPv6 gives 4."""
    parts = text.split(".")
    if len(parts) == 4 and ":" not in text:
        value = 0
        for part in parts:
            # as ipaddress: 1-3 ASCII digits, no leading zero, at most 255
            if not (part.isascii() and part.isdigit()) or len(part) > 3 or (part[0] == "0" and len(part) > 1):
                return None
            octet = int(part)
            if octet > 255:
                return None
            value = value << 8 | octet
        return 4, value
    try:
        address = ipaddress.ip_address(text.strip("[] "))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return 4, int(address.ipv4_mapped)
    return address.version, int(address)


class FieldRef(FieldMatcher):
    """`|fieldref`: this field's value compared with another field's value of the same event.

    Both fields must be present and non-null. `mode` is eq, contains, startswith or endswith; the
    comparison folds case unless `cased`; lists on either side match when any pair matches.
    """

    __slots__ = ("mode", "other", "other_path")
    cost = 4

    _MODES: ClassVar[dict[str, Callable[[str, str], bool]]] = {
        "eq": operator.eq,
        "contains": lambda a, b: b in a,
        "startswith": str.startswith,
        "endswith": str.endswith,
    }

    def __init__(self, field: str, other: str, mode: str, fold: bool) -> None:
        super().__init__(field, fold, lambda s: False)
        self.other = other
        self.other_path = dotted_path(other)
        self.mode = self._MODES[mode]

    def _texts(self, value: object) -> list[str]:
        items = value if type(value) is list or type(value) is tuple else (value,)
        out = []
        for item in items:
            text = scalar_text(item)
            if text is not None:
                out.append(text.casefold() if self.fold else text)
        return out

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        mine = lookup(fields, self.field, self.path)
        theirs = lookup(fields, self.other, self.other_path)
        if mine is None or theirs is None:
            return False
        compare = self.mode
        if type(mine) is str and type(theirs) is str:  # the usual case: what `_texts` gives for two texts
            return compare(mine.casefold(), theirs.casefold()) if self.fold else compare(mine, theirs)
        wanted = self._texts(theirs)
        return any(compare(a, b) for a in self._texts(mine) for b in wanted)

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        if self(fields, cache):
            out[self.field] = lookup(fields, self.field, self.path)
            out[self.other] = lookup(fields, self.other, self.other_path)
            return True
        return False

    def fields_read(self) -> list[tuple[str, Path | None]]:
        return [(self.field, self.path), (self.other, self.other_path)]


class Keyword(Matcher):
    """A keyword search (no field): any text anywhere in the event (recursively) passes `test`."""

    __slots__ = ("fold", "patterns", "test")
    cost = 8

    def __init__(self, fold: bool, test: Callable[[str], object], patterns: tuple[object, ...] = ()) -> None:
        self.fold = fold
        self.test = test
        self.patterns = patterns

    def _texts(self, fields: Fields, cache: Cache) -> tuple[str, ...]:
        key = _KEYWORD_TEXTS if self.fold else _KEYWORD_TEXTS_RAW
        texts = cache.get(key)
        if texts is None:
            raw = iter_texts(fields)
            texts = cache[key] = tuple(t.casefold() for t in raw) if self.fold else tuple(raw)
        return texts  # type: ignore[return-value]

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        test = self.test
        return any(test(text) for text in self._texts(fields, cache))

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        hit = False
        for name, value in fields.items():
            texts = iter_texts(value)
            if any(self.test(t.casefold() if self.fold else t) for t in texts):
                out[name] = value
                hit = True
        return hit
