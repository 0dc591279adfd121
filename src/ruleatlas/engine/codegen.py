"""One Python function per rule, generated from its matcher tree, so that a rule costs one call.

The matcher classes define the semantics and each knows how to write itself as a few statements
(`Matcher.emit`); this module puts those statements into `def match(f, c=None)` and compiles it. And/or
nodes become flat `if r:` / `if not r:` guards (short-circuit without deep nesting), a string comparison
becomes the str method call on the cached folded value, and everything else calls its matcher object.
The class tree stays the reference: `explain` (matched_fields) walks it, and tests compare both.

The generated source is debuggable: `ruleatlas scan --explain UID` prints it (`generated_source`), and
it is registered with `linecache` under its code's file name (`<compiled UID>`), so a traceback through a
generated function shows its lines.
"""

from __future__ import annotations

import linecache
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


def generated_source(matcher: Matcher) -> tuple[str, Emitter]:
    """The source of a matcher's function, and the emitter holding the objects it names."""
    emitter = Emitter()
    body = matcher.emit(emitter)
    source = "\n".join(
        ["def match(f, c=None):", "    if c is None:", "        c = {}", *indent(body), "    return r", ""]
    )
    return source, emitter


def build_function(matcher: Matcher, label: str = "rule") -> MatchFunction:
    """The generated function, or a call of the matcher tree if Python cannot compile the source (a
    condition nested beyond the parser's 100 indentation levels)."""
    source, emitter = generated_source(matcher)
    filename = f"<compiled {label}>"
    try:
        code = compile(source, filename, "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return _tree_function(matcher)
    # No modification time: linecache.checkcache keeps the entry (there is no file to compare with).
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(code, emitter.namespace)  # the source is ours: names and repr() literals only
    function = emitter.namespace["match"]
    assert callable(function)
    return function


def _tree_function(matcher: Matcher) -> MatchFunction:
    def match(fields: Fields, cache: Cache | None = None) -> bool:
        return matcher(fields, {} if cache is None else cache)

    return match
