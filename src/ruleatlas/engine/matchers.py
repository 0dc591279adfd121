"""Compiled matchers: a small base with one tiny member per kind of comparison.

A matcher is called as `matcher(fields, cache) -> bool`. `fields` is an event's field dict; `cache` is a
dict shared by every matcher (and every rule) that looks at the same event, where case-folded field
values are kept so that a field is folded once per event, not once per predicate. Start a new cache for
each event.

Value semantics (Sigma specification v2.1, pySigma where it is silent):
- A field that is absent or null fails every comparison except `IsNull` and `Exists(False)`; `Not` of a
  comparison on an absent field is therefore true (as pySigma's `not` and SQL backends with COALESCE).
- An event value that is a list matches when any element matches.
- Numbers and booleans in events are compared as their text form (`values.scalar_text`) by string
  matchers; rule numbers compare numerically with event numbers and with numeric event text.
- Case-insensitive matching folds both sides with `str.casefold` (full Unicode folding).
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Sequence
from types import FunctionType
from typing import TYPE_CHECKING, Any, ClassVar

from ruleatlas.engine.regex_guard import Search

if TYPE_CHECKING:
    from ruleatlas.engine.codegen import Emitter
from ruleatlas.engine.values import as_number, iter_texts, scalar_text, timestamp_part

Fields = dict[str, object]
Cache = dict[object, object]

_UNSET = object()
_KEYWORD_TEXTS = object()  # cache key: every folded text of the event
_KEYWORD_TEXTS_RAW = object()


def lookup(fields: Fields, name: str, path: tuple[str, ...] | None) -> object:
    """A field's value, None when absent; a dotted name also reaches into nested objects."""
    value = fields.get(name)
    if value is None and path is not None:
        current: object = fields
        for key in path:
            if not isinstance(current, dict) or key not in current:
                return None
            current = current[key]
        return current
    return value


def present(fields: Fields, name: str, path: tuple[str, ...] | None) -> bool:
    if name in fields:
        return True
    if path is None:
        return False
    current: object = fields
    for key in path:
        if not isinstance(current, dict) or key not in current:
            return False
        current = current[key]
    return True


def fold_value(value: object) -> object:
    kind = type(value)
    if kind is str:
        return value.casefold()  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return tuple(fold_value(item) for item in value)  # type: ignore[attr-defined]
    return value


def dotted_path(name: str) -> tuple[str, ...] | None:
    return tuple(name.split(".")) if "." in name else None


class Matcher:
    """Base of all matchers. `cost` orders the children of and/or nodes (cheap first)."""

    __slots__ = ()
    cost: int = 1

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        raise NotImplementedError

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        """Like __call__, and records in `out` the fields of the comparisons that held."""
        return self(fields, cache)

    def emit(self, gen: Emitter) -> list[str]:
        """Statements that set `r` to this matcher's answer for fields `f` and cache `c` (codegen.py)."""
        return [f"r = {gen.name(self)}(f, c)"]


# ---------------------------------------------------------------------------------------------------------
# Logic


class Const(Matcher):
    __slots__ = ("value",)
    cost = 0

    def __init__(self, value: bool) -> None:
        self.value = value

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        return self.value

    def emit(self, gen: Emitter) -> list[str]:
        return [f"r = {self.value!r}"]


class AllOf(Matcher):
    __slots__ = ("children", "cost")

    def __init__(self, children: Sequence[Matcher]) -> None:
        self.children = tuple(sorted(children, key=lambda m: m.cost))
        self.cost = sum(child.cost for child in self.children)

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        for child in self.children:  # noqa: SIM110 - a plain loop is faster than all(<genexpr>)
            if not child(fields, cache):
                return False
        return True

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        found: dict[str, object] = {}
        for child in self.children:
            if not child.explain(fields, cache, found):
                return False
        out.update(found)
        return True

    def emit(self, gen: Emitter) -> list[str]:
        return _chain(self.children, "if r:", gen)


class AnyOf(Matcher):
    __slots__ = ("children", "cost")

    def __init__(self, children: Sequence[Matcher]) -> None:
        self.children = tuple(sorted(children, key=lambda m: m.cost))
        self.cost = sum(child.cost for child in self.children)

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        for child in self.children:  # noqa: SIM110 - a plain loop is faster than any(<genexpr>)
            if child(fields, cache):
                return True
        return False

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        hit = False
        for child in self.children:
            hit = child.explain(fields, cache, out) or hit
        return hit

    def emit(self, gen: Emitter) -> list[str]:
        return _chain(self.children, "if not r:", gen)


def _chain(children: Sequence[Matcher], guard: str, gen: Emitter) -> list[str]:
    """Children one after another, each run only while the answer is still open (flat, not nested)."""
    lines = children[0].emit(gen)
    for child in children[1:]:
        lines.append(guard)
        lines.extend("    " + line for line in child.emit(gen))
    return lines


class NotOf(Matcher):
    __slots__ = ("child", "cost")

    def __init__(self, child: Matcher) -> None:
        self.child = child
        self.cost = child.cost

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        return not self.child(fields, cache)

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        if self.child(fields, cache):
            return False
        for name, path in field_names(self.child):  # what the negated comparisons looked at
            out[name] = lookup(fields, name, path)
        return True

    def emit(self, gen: Emitter) -> list[str]:
        return [*self.child.emit(gen), "r = not r"]


def field_names(matcher: Matcher) -> list[tuple[str, tuple[str, ...] | None]]:
    """The fields a matcher reads (with their dotted paths), in tree order."""
    found: list[tuple[str, tuple[str, ...] | None]] = []
    stack = [matcher]
    while stack:
        node = stack.pop()
        if isinstance(node, AllOf | AnyOf):
            stack.extend(reversed(node.children))
        elif isinstance(node, NotOf):
            stack.append(node.child)
        elif isinstance(node, FieldRef):
            found.extend([(node.field, node.path), (node.other, node.other_path)])
        elif isinstance(node, FieldMatcher):
            found.append((node.field, node.path))
    return found


# ---------------------------------------------------------------------------------------------------------
# Field comparisons


class FieldMatcher(Matcher):
    """Reads one field (folded when `fold`) and tests each of its values; members supply `test`."""

    __slots__ = ("field", "fold", "path", "test")

    def __init__(self, field: str, fold: bool, test: Callable[[str], object]) -> None:
        self.field = field
        self.path = dotted_path(field)
        self.fold = fold
        self.test = test

    def value(self, fields: Fields, cache: Cache) -> object:
        if self.fold:
            value = cache.get(self.field, _UNSET)
            if value is _UNSET:
                value = cache[self.field] = fold_value(lookup(fields, self.field, self.path))
            return value
        return lookup(fields, self.field, self.path)

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        if self.fold:
            value = cache.get(self.field, _UNSET)
            if value is _UNSET:
                value = cache[self.field] = fold_value(lookup(fields, self.field, self.path))
        else:
            value = fields.get(self.field)
            if value is None and self.path is not None:
                value = lookup(fields, self.field, self.path)
        if type(value) is str:
            return bool(self.test(value))
        if value is None:
            return False
        return self.test_value(value)

    def test_value(self, value: object) -> bool:
        if type(value) is tuple or type(value) is list:
            return any(self.test_value(item) for item in value)
        if type(value) is str:
            return bool(self.test(value))
        return self.test_scalar(value)

    def test_scalar(self, value: object) -> bool:
        text = scalar_text(value)
        if text is None:
            return False
        return bool(self.test(text.casefold() if self.fold else text))

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        if self(fields, cache):
            out[self.field] = lookup(fields, self.field, self.path)
            return True
        return False

    def emit(self, gen: Emitter) -> list[str]:
        if type(self).__call__ is not FieldMatcher.__call__:  # members with their own __call__
            return super().emit(gen)
        key = repr(self.field)
        path = gen.name(self.path) if self.path is not None else "None"
        if self.fold:
            fetch = [f"v = c.get({key}, U)", "if v is U:", f"    v = _fill(f, c, {key}, {path})"]
        else:
            fetch = [f"v = f.get({key})"]
            if self.path is not None:
                fetch += ["if v is None:", f"    v = _lookup(f, {key}, {path})"]
        return [
            *fetch,
            "if type(v) is str:",
            *("    " + line for line in self.emit_str(gen)),
            "else:",
            f"    r = v is not None and {gen.name(self)}.test_value(v)",
        ]

    def emit_str(self, gen: Emitter) -> list[str]:
        """Statements that set `r` for a str value `v` (already folded when `fold`)."""
        return [f"r = bool({gen.name(self.test)}(v))"]


class StringMatcher(FieldMatcher):
    """Wildcard-pattern matchers (eq, contains, startswith, endswith, wildcard), merged per field.

    `patterns` are kept (already folded when `fold`) so that or-ed comparisons of one field merge into
    one matcher; `numbers` are rule strings that read as numbers, equal to numeric event values.
    """

    __slots__ = ("data", "numbers", "patterns")

    def __init__(
        self,
        field: str,
        fold: bool,
        test: Callable[[str], object],
        patterns: tuple[object, ...],
        numbers: frozenset[int | float] = frozenset(),
        data: object = None,
    ) -> None:
        super().__init__(field, fold, test)
        self.patterns = patterns
        self.numbers = numbers
        self.data = data  # the values `test` uses (set or tuple), for inlined code

    def test_scalar(self, value: object) -> bool:
        if self.numbers and (type(value) is int or type(value) is float) and value in self.numbers:
            return True
        return super().test_scalar(value)


class Exact(StringMatcher):
    __slots__ = ()
    cost = 1

    def emit_str(self, gen: Emitter) -> list[str]:
        return [f"r = v in {gen.name(self.data)}"]


class Prefix(StringMatcher):
    __slots__ = ()
    cost = 2

    def emit_str(self, gen: Emitter) -> list[str]:
        return [f"r = v.startswith({gen.name(self.data)})"]


class Suffix(StringMatcher):
    __slots__ = ()
    cost = 2

    def emit_str(self, gen: Emitter) -> list[str]:
        return [f"r = v.endswith({gen.name(self.data)})"]


class Contains(StringMatcher):
    __slots__ = ()
    cost = 3

    def emit_str(self, gen: Emitter) -> list[str]:
        needles = self.data
        assert isinstance(needles, tuple)
        if len(needles) == 1:
            return [f"r = {gen.name(needles[0])} in v"]
        if not isinstance(self.test, FunctionType):  # a NeedleSet (strings.py) for many needles
            return [f"r = {gen.name(self.test)}(v)"]
        return [
            "r = False",
            f"for n in {gen.name(needles)}:",
            "    if n in v:",
            "        r = True",
            "        break",
        ]


class Glob(StringMatcher):
    __slots__ = ()
    cost = 6


class Mixed(StringMatcher):
    __slots__ = ()
    cost = 6


class ContainsAll(StringMatcher):
    """`|contains|all` on one field: every needle must occur (in any element, for a list value)."""

    __slots__ = ("needles",)
    cost = 4

    def __init__(
        self, field: str, fold: bool, needles: tuple[str, ...], patterns: tuple[object, ...]
    ) -> None:
        super().__init__(field, fold, lambda s: all(n in s for n in needles), patterns, data=needles)
        self.needles = needles

    def emit_str(self, gen: Emitter) -> list[str]:
        return [
            "r = True",
            f"for n in {gen.name(self.needles)}:",
            "    if n not in v:",
            "        r = False",
            "        break",
        ]

    def test_value(self, value: object) -> bool:
        if type(value) is tuple or type(value) is list:
            texts = [t for t in (self._text(item) for item in value) if t is not None]
            return all(any(n in t for t in texts) for n in self.needles)
        return super().test_value(value)

    def _text(self, item: object) -> str | None:
        if type(item) is str:
            return item
        text = scalar_text(item)
        return None if text is None else (text.casefold() if self.fold else text)


class NumberEq(FieldMatcher):
    """A rule number: equal to an event number, or to event text that reads as that number."""

    __slots__ = ("number",)
    cost = 2

    def __init__(self, field: str, number: int | float) -> None:
        text = str(number)
        super().__init__(field, False, lambda s: s == text or as_number(s) == number)
        self.number = number

    def test_scalar(self, value: object) -> bool:
        return (type(value) is int or type(value) is float) and value == self.number


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
    """Sigma `null`: the field is absent or null (pySigma's is-null)."""

    __slots__ = ()
    cost = 1

    def __init__(self, field: str) -> None:
        super().__init__(field, False, lambda s: False)

    def __call__(self, fields: Fields, cache: Cache) -> bool:
        return lookup(fields, self.field, self.path) is None

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        if self(fields, cache):
            out[self.field] = None
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
        wanted = self._texts(theirs)
        return any(compare(a, b) for a in self._texts(mine) for b in wanted)

    def explain(self, fields: Fields, cache: Cache, out: dict[str, object]) -> bool:
        if self(fields, cache):
            out[self.field] = lookup(fields, self.field, self.path)
            out[self.other] = lookup(fields, self.other, self.other_path)
            return True
        return False


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
