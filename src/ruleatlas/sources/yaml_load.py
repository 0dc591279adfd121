"""YAML loading that keeps node marks (lines, text slices) and refuses hostile input.

Sigma files are read with libyaml's composer (`yaml.CSafeLoader`): it yields the node graph with a mark on
every node, which gives each predicate its line and each search identifier its verbatim text. Values are
then built from the nodes by this module, not by PyYAML's constructor, so that

- mapping keys stay the text the author wrote (a field named `1` or `null` is still a field name),
- duplicate keys are reported instead of silently keeping the last one,
- a YAML alias bomb ("billion laughs") cannot blow up: aliases are allowed, but every document's node
  graph is measured *as expanded* (memoised, linear in the file) before anything walks it, and a document
  over `MAX_EXPANDED_NODES` or deeper than `MAX_DEPTH` is refused. Recursive aliases are refused too.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Files larger than this are refused unread: the biggest SigmaHQ rule is ~30 KB."""

MAX_EXPANDED_NODES = 200_000
"""Node budget per document, counting aliased nodes once per reference (the largest SigmaHQ rule has ~3k)."""

MAX_DEPTH = 64
"""Nesting budget per document; Sigma needs about 8, and deep graphs would exhaust Python's stack."""

TAG_STR = "tag:yaml.org,2002:str"
TAG_NULL = "tag:yaml.org,2002:null"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"
TAG_MERGE = "tag:yaml.org,2002:merge"

_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple(resolvers) + tuple(_BASE_LOADER.yaml_implicit_resolvers.get(None, ()))
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
    if first is not None
}


class _Loader(_BASE_LOADER):  # type: ignore[misc]
    """The safe loader with a leaner tag resolver (called from C for every scalar; same results)."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # no path resolvers are registered on the safe loader

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                for tag, regexp in _IMPLICIT.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return TAG_STR
        return "tag:yaml.org,2002:seq" if kind is SequenceNode else "tag:yaml.org,2002:map"


# Only the stateless scalar converters of SafeConstructor are used (they read node.value and nothing else).
_SCALARS = SafeConstructor()
_DOC_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)
_SURROGATE = re.compile("[\ud800-\udfff]")
# An anchor property (`&name`) starts a node: at a line start, or after whitespace or a flow indicator.
_ANCHOR = re.compile(r"(?:^|[\s\[{,:])&[^\s\[\]{},]", re.MULTILINE)


class YamlError(Exception):
    """The file cannot be used as YAML; `line` is 1-based where known."""

    def __init__(self, message: str, line: int | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint


@dataclass(slots=True)
class Document:
    """One non-empty YAML document of a file."""

    root: Node
    line: int
    """1-based line of the document's first node."""
    text: str
    """The document's verbatim text (the whole file for a single-document file)."""


@dataclass(slots=True)
class KeyProblem:
    """A mapping key the reader could not take as written (duplicate or non-scalar)."""

    message: str
    line: int
    hint: str = ""


@dataclass(slots=True)
class Items:
    """A mapping's entries in written order, keys as text, with the problems met while listing them."""

    entries: list[tuple[str, Node, Node]] = field(default_factory=list)
    problems: list[KeyProblem] = field(default_factory=list)

    def get(self, key: str) -> Node | None:
        """The value node of the last entry named `key` (YAML's last-one-wins), or None."""
        found = None
        for name, _key, value in self.entries:
            if name == key:
                found = value
        return found

    def key_node(self, key: str) -> Node | None:
        found = None
        for name, key_node, _value in self.entries:
            if name == key:
                found = key_node
        return found


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def check_text(text: str) -> None:
    """Refuse text that libyaml cannot take: too large, or not UTF-8 (decoded with surrogateescape)."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise YamlError(
            f"file too large ({size} bytes > {MAX_FILE_BYTES})",
            hint="a Sigma rule is a few KB; split the file or check that it is a rule",
        )
    if not text.isascii():
        bad = _SURROGATE.search(text)
        if bad is not None:
            line = text.count("\n", 0, bad.start()) + 1
            raise YamlError("file is not valid UTF-8", line=line, hint="save the file as UTF-8")


def compose_documents(text: str) -> list[Document]:
    """The file's non-empty documents with their marks, or YamlError with the line of the fault."""
    check_text(text)
    loader = _Loader(text)
    roots: list[Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, ScalarNode) and node.tag == TAG_NULL and node.value == ""):
                continue  # an empty document, e.g. after a trailing '---'
            roots.append(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise YamlError(f"malformed YAML: {what}{context}", line=line, hint=_yaml_hint(what)) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"malformed YAML: {exc}", line=_reader_line(text, exc)) from None
    finally:
        loader.dispose()
    return [Document(root, line_of(root), text) for root in roots] if len(roots) <= 1 else _split(text, roots)


def _split(text: str, roots: list[Node]) -> list[Document]:
    """Cut a multi-document file at its column-0 `---`/`...` markers (YAML forbids them inside content)."""
    starts = [m.start() for m in _DOC_MARKER.finditer(text)]
    docs = []
    for root in roots:
        index = int(root.start_mark.index)
        at = bisect_right(starts, index)  # markers before the document's first node: starts[:at]
        start, end = 0, len(text)
        if at:
            eol = text.find("\n", starts[at - 1])
            after = len(text) if eol < 0 else eol + 1
            start = after if after <= index else starts[at - 1]  # content on the marker line: keep the line
        if at < len(starts):
            end = starts[at]
        docs.append(Document(root, line_of(root), text[start:end]))
    return docs


def _yaml_hint(problem: str) -> str:
    if "tab" in problem:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote the value, or check the indentation of the line above"
    if "nesting depth" in problem:
        return "the document is nested too deeply to be a Sigma rule"
    if "found character '@'" in problem or "'`'" in problem:
        return "quote values that start with @ or `"
    if "alias" in problem:
        return "define the anchor (&name) before using *name"
    return "check indentation and quoting around this line"


def _reader_line(text: str, exc: Exception) -> int | None:
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        return text.count("\n", 0, position) + 1
    return None


def may_have_aliases(text: str) -> bool:
    """False when the text defines no anchor, so no alias can occur (an undefined alias fails to compose)."""
    return "&" in text and _ANCHOR.search(text) is not None


def check_budget(root: Node) -> None:
    """Measure the document as expanded (aliases counted per use); refuse bombs, recursion and deep nesting.

    Without aliases a document is a tree no larger than its text and libyaml already caps nesting, so
    callers may skip this when `may_have_aliases` is False (and catch RecursionError for deep trees).
    """
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            size, depth = 1, 1
            for child in _children(node):
                size += sizes[id(child)]
                depth = max(depth, depths[id(child)] + 1)
            if size > MAX_EXPANDED_NODES:
                raise YamlError(
                    f"YAML document too large once aliases are expanded (over {MAX_EXPANDED_NODES} nodes)",
                    line=line_of(node),
                    hint="this looks like an alias bomb (billion laughs); Sigma rules need no aliases",
                )
            if depth > MAX_DEPTH:
                raise YamlError(
                    f"YAML document nested too deeply (over {MAX_DEPTH} levels)",
                    line=line_of(node),
                    hint="a Sigma rule needs only a few levels of nesting",
                )
            sizes[key], depths[key] = size, depth
            continue
        if key in sizes:
            continue
        if key in active:
            raise YamlError(
                "recursive YAML alias",
                line=line_of(node),
                hint="an alias (*name) may not refer to its own parent",
            )
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise YamlError(
                    "recursive YAML alias",
                    line=line_of(child),
                    hint="an alias (*name) may not refer to its own parent",
                )
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def scalar_value(node: ScalarNode) -> Any:
    """A scalar as YAML 1.1 (PyYAML's safe schema) types it; timestamps stay the text written (ISO)."""
    tag = node.tag
    if tag == TAG_STR:
        return node.value
    if tag == TAG_NULL:
        return None
    if tag == TAG_BOOL:
        return _SCALARS.construct_yaml_bool(node)
    if tag == TAG_INT:
        return _SCALARS.construct_yaml_int(node)
    if tag == TAG_FLOAT:
        number = _SCALARS.construct_yaml_float(node)
        return number if math.isfinite(number) else node.value
    return node.value  # timestamps, binary and application tags: the text as written


def items(node: MappingNode) -> Items:
    """A mapping's entries in written order; `<<` merge keys expanded; duplicates and odd keys reported."""
    pairs = node.value
    fast: list[tuple[str, Node, Node]] = [
        (k.value, k, v) for k, v in pairs if type(k) is ScalarNode and k.tag != TAG_MERGE
    ]
    if len(fast) == len(pairs) and len({name for name, _k, _v in fast}) == len(fast):
        return Items(fast)  # the usual mapping: plain keys, no duplicates, no merge keys
    out = Items()
    seen: dict[str, int] = {}
    merged: list[tuple[str, Node, Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag == TAG_MERGE:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if isinstance(source, MappingNode):
                    merged.extend(items(source).entries)
                else:
                    out.problems.append(KeyProblem("a '<<' merge key must name a mapping", line_of(key_node)))
            continue
        if not isinstance(key_node, ScalarNode):
            out.problems.append(
                KeyProblem(
                    "mapping key is not a plain value", line_of(key_node), hint="keys must be field names"
                )
            )
            continue
        name = key_node.value
        if name in seen:
            out.problems.append(
                KeyProblem(
                    f"duplicate key '{name}' (first at line {seen[name]})",
                    line_of(key_node),
                    hint="YAML keeps only the last one: merge the values or use another selection",
                )
            )
        else:
            seen[name] = line_of(key_node)
        out.entries.append((name, key_node, value_node))
    for name, key_node, value_node in merged:  # explicit keys win over merged ones
        if name not in seen:
            seen[name] = line_of(key_node)
            out.entries.append((name, key_node, value_node))
    return out


def to_python(node: Node) -> Any:
    """Plain Python data for metadata (keys as text, last duplicate wins). Call check_budget first."""
    if isinstance(node, ScalarNode):
        return scalar_value(node)
    if isinstance(node, SequenceNode):
        return [to_python(child) for child in node.value]
    if isinstance(node, MappingNode):
        return {name: to_python(value) for name, _key, value in items(node).entries}
    return None


def last_leaf_end(node: Node) -> int:
    """Index just after the last character of `node`'s content.

    A block collection's end mark points at the next token (often the next key's line), so descend to the
    last leaf instead; flow collections and scalars end where they say.
    """
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return int(node.end_mark.index)


def slice_text(text: str, first: Node, last: Node) -> str:
    """The text from `first`'s start to the end of `last`'s content, to the end of that line (keeping a
    trailing comment), dedented so that `first` starts at column 0."""
    start = int(first.start_mark.index)
    end = last_leaf_end(last)
    block = not _in_flow(text, start)
    if block:
        eol = text.find("\n", end)
        end = len(text) if eol < 0 else eol
    chunk = text[start:end].rstrip()
    column = int(first.start_mark.column)
    if column == 0 or not block or "\n" not in chunk:
        return chunk
    pad = " " * column
    lines = chunk.split("\n")
    return "\n".join(
        [lines[0]] + [line[column:] if line.startswith(pad) else line.lstrip(" ") for line in lines[1:]]
    )


def _in_flow(text: str, index: int) -> bool:
    # A key written inside `{...}` follows a '{' or ',' on its line; a block key follows only indentation
    # (and the '- ' of a sequence entry).
    line_start = text.rfind("\n", 0, index) + 1
    return text[line_start:index].strip(" -") != ""
