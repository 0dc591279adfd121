"""One Python function per rule, generated from its matcher tree, so that a rule costs one call.

The matcher classes define the semantics and each knows how to write itself as a few statements
(`Matcher.emit`); this module puts those statements into `def match(f, c=None)` and compiles it. And/or
nodes become flat `if r:` / `if not r:` guards (short-circuit without deep nesting), a string comparison
becomes the str method call on the cached folded value, and everything else calls its matcher object.
The class tree stays the reference: `explain` (matched_fields) walks it, and tests compare both.
"""

from __future__ import annotations

from collections.abc import Callable

from ruleatlas.engine.matchers import _UNSET, Cache, Fields, Matcher, Path, fold_value, lookup

MatchFunction = Callable[..., bool]
"""match(fields, cache=None) -> bool"""


def _fill(fields: Fields, cache: Cache, name: str, path: Path | None) -> object:
    value = cache[name] = fold_value(lookup(fields, name, path))
    return value


class Emitter:
    """Collects the objects the generated code refers to, under short names."""

    def __init__(self) -> None:
        self.namespace: dict[str, object] = {"U": _UNSET, "_fill": _fill, "_lookup": lookup}
        self._names: dict[int, str] = {}

    def name(self, obj: object) -> str:
        known = self._names.get(id(obj))
        if known is None:
            known = self._names[id(obj)] = f"k{len(self._names)}"
            self.namespace[known] = obj
        return known


def indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def build_function(matcher: Matcher, label: str = "rule") -> MatchFunction:
    """The generated function, or a call of the matcher tree if Python cannot compile the source (a
    condition nested beyond the parser's 100 indentation levels)."""
    emitter = Emitter()
    body = matcher.emit(emitter)
    source = "\n".join(
        ["def match(f, c=None):", "    if c is None:", "        c = {}", *indent(body), "    return r", ""]
    )
    try:
        code = compile(source, f"<compiled {label}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return _tree_function(matcher)
    exec(code, emitter.namespace)  # the source is ours: names and repr() literals only
    function = emitter.namespace["match"]
    assert callable(function)
    return function


def _tree_function(matcher: Matcher) -> MatchFunction:
    def match(fields: Fields, cache: Cache | None = None) -> bool:
        return matcher(fields, {} if cache is None else cache)

    return match
