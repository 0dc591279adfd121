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

import re
from collections.abc import Callable, Sequence
from types import FunctionType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ruleatlas.engine.codegen import Emitter
from ruleatlas.engine.values import scalar_text

Fields = dict[str, object]
Cache = dict[object, object]
Path = tuple[str | int, ...]  # steps into nested values: keys, and 0-based list indexes

# `Data[1]`, `Data[1][2]`: a name with 1-based indexes (0 and leading zeros are no index: a plain key)
_INDEXED = re.compile(r"([^\[\]]+)((?:\[[1-9][0-9]*\])+)")
_INDEX = re.compile(r"\[([0-9]+)\]")

_UNSET = object()
_KEYWORD_TEXTS = object()  # cache key: every folded text of the event
_KEYWORD_TEXTS_RAW = object()


def lookup(fields: Fields, name: str, path: Path | None) -> object:
    """A field's value, None when absent; a dotted name also reaches into nested objects, and an indexed
    one (`Data[2]`) into a list."""
    value = fields.get(name)
    if value is None and path is not None:
        current: object = fields
        for key in path:
            if type(key) is int:
                current = _item(current, key)
                if current is _UNSET:
                    return None
            elif not isinstance(current, dict) or key not in current:
                return None
            else:
                current = current[key]
        return current
    return value


def present(fields: Fields, name: str, path: Path | None) -> bool:
    if name in fields:
        return True
    if path is None:
        return False
    current: object = fields
    for key in path:
        if type(key) is int:
            current = _item(current, key)
            if current is _UNSET:
                return False
        elif not isinstance(current, dict) or key not in current:
            return False
        else:
            current = current[key]
    return True


def _item(value: object, index: int) -> object:
    """Item `index` (0-based) of a list; a single value is a list of one (EVTX keeps a lone unnamed
    `<Data>` as a value, several as a list)."""
    if type(value) is list:
        return value[index] if index < len(value) else _UNSET
    if value is None or isinstance(value, dict):
        return _UNSET
    return value if index == 0 else _UNSET


def fold_value(value: object) -> object:
    kind = type(value)
    if kind is str:
        return value.casefold()  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return tuple(fold_value(item) for item in value)  # type: ignore[attr-defined]
    return value


def dotted_path(name: str) -> Path | None:
    """The steps of a dotted (`a.b`) or indexed (`Data[1]`, XPath's 1-based count) field name; None for a
    plain name. An event with the name itself as a key is read by that key first (lookup)."""
    if "." not in name and "[" not in name:
        return None
    steps: list[str | int] = []
    for part in name.split("."):
        found = _INDEXED.fullmatch(part)
        if found is None:
            steps.append(part)
            continue
        steps.append(found.group(1))
        steps.extend(int(index) - 1 for index in _INDEX.findall(found.group(2)))
    return tuple(steps)


def top_name(name: str) -> str:
    """The event key a dotted or indexed field name starts from (`a.b` -> `a`, `Data[1]` -> `Data`)."""
    path = dotted_path(name)
    return name if path is None else str(path[0])


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


def field_names(matcher: Matcher) -> list[tuple[str, Path | None]]:
    """The fields a matcher reads (with their dotted paths), in tree order."""
    found: list[tuple[str, Path | None]] = []
    stack = [matcher]
    while stack:
        node = stack.pop()
        if isinstance(node, AllOf | AnyOf):
            stack.extend(reversed(node.children))
        elif isinstance(node, NotOf):
            stack.append(node.child)
        elif isinstance(node, FieldMatcher):
            found.extend(node.fields_read())
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

    def fields_read(self) -> list[tuple[str, Path | None]]:
        return [(self.field, self.path)]

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


_MOVED_TO_COMPARISONS = frozenset(
    {"NumberEq", "BoolEq", "Compare", "IsNull", "Exists", "Regex", "Cidr", "ip_value", "FieldRef", "Keyword"}
)


def __getattr__(name: str) -> object:
    """The other members of the family live in comparisons.py; they stay reachable from here."""
    if name in _MOVED_TO_COMPARISONS:
        from ruleatlas.engine import comparisons

        return getattr(comparisons, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
