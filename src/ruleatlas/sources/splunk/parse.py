"""An SPL search as stages: macros expanded, split into pipe commands, each command its own stage.

Why a tokenizer for the command split and a grammar only for expressions: SPL has some 150 commands, each
with its own argument syntax (`tstats` options, `lookup ... OUTPUT`, `rex field=`), and only three of them
carry the boolean logic that becomes predicates (`search`, `where`, `tstats ... where`). A grammar of every
command would be large and would fail a whole rule on an unusual `rex` option; the split at top-level pipes
(outside quotes, `[subsearch]` brackets and backquoted macros) is a few lines, and each command's few
arguments are read with small patterns. The expression languages themselves are LALR grammars (`spl.lark`).

Stage ops: search/where → FILTER; `tstats`/`mstats` → SOURCE (the data model) + FILTER (its `where`) +
AGGREGATE (its aggregates and `by`); `from`/`datamodel`/`inputlookup` → SOURCE; `eval`/`rex`/`spath` →
EXTEND; `stats`/`eventstats`/`streamstats`/`chart`/`timechart`/`top`/`rare` → AGGREGATE; `lookup`/`join`/
`append`/`union` → JOIN; `regex` → FILTER with a regex predicate; `table`/`fields` → PROJECT; anything else
→ TRANSFORM. `defines` lists the columns a stage computes (aggregates, eval targets, lookup outputs, rex
groups), so a later predicate on them is that stage's logic, not an indicator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lark.exceptions import LarkError

from ruleatlas.model import Expr, Kind, Not, Pred, Stage, StageOp
from ruleatlas.sources.grammar import grammar_file, lark_parser
from ruleatlas.sources.splunk.expressions import Builder, Names, unquote
from ruleatlas.sources.splunk.macros import expand
from ruleatlas.sources.splunk.spl import command_spans
from ruleatlas.sources.splunk.support import Macro

GRAMMAR = grammar_file(__file__, "spl.lark", ("search_start", "eval_start"))
# Commands whose expression is the rule's logic: a rule is parsed when every one of these parsed.
LOGIC_COMMANDS = frozenset({"search", "where", "tstats", "mstats", "regex"})
AGGREGATES = frozenset({"stats", "eventstats", "streamstats", "chart", "timechart", "top", "rare", "sistats"})
SOURCES = frozenset({"from", "datamodel", "inputlookup", "inputcsv", "rest", "metadata", "makeresults"})
EXTENDS = frozenset({"eval", "rex", "spath", "iplocation", "xmlkv", "extract", "kvform", "strcat"})
JOINS = frozenset({"lookup", "join", "append", "appendcols", "union", "inputlookup_append"})
PROJECTS = frozenset({"table", "fields"})

_AS = re.compile(r"\s+as\s+", re.IGNORECASE)
_AGGREGATE = re.compile(r"([A-Za-z_]\w*)(?:\(([^()]*)\))?(?:\s+as\s+(\"[^\"]+\"|[^\s,]+))?", re.IGNORECASE)
_OPTION = re.compile(r"^[A-Za-z_]\w*=")
_REX_GROUP = re.compile(r"\(\?P?<([A-Za-z_]\w*)>")
_EVAL_TARGET = re.compile(r"^\s*(\"[^\"]+\"|'[^']+'|[^\s=]+)\s*=(?!=)")
_DROP = re.compile(r"^`drop_dm_object_name\(\s*\"?([^`\")]+?)\"?\s*\)`$")
_MACRO_ONLY = re.compile(r"^`[^`]*`$")
_COMMENT = re.compile(r"```.*?```", re.DOTALL)
_DATAMODEL = re.compile(r"datamodel\s*[=:]\s*\"?([\w.]+)\"?", re.IGNORECASE)


class SplError(Exception):
    """A command whose expression does not parse: the Lark error and where the command starts."""

    def __init__(self, error: Exception, offset: int, command: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.offset = offset  # character offset of the command in the search
        self.command = command


@dataclass(slots=True)
class Parsed:
    stages: list[Stage] = field(default_factory=list)
    output_fields: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    empty_filters: list[str] = field(default_factory=list)


def parse_search(text: str, names: Names) -> Expr | None:
    tree = lark_parser(GRAMMAR, "search_start").parse(text)
    return Builder(text, names).search(tree)


def parse_eval(text: str, names: Names) -> Expr:
    tree = lark_parser(GRAMMAR, "eval_start").parse(text)
    return Builder(text, names).eval(tree)


def top_words(text: str) -> list[tuple[str, int]]:
    """Whitespace-separated words outside quotes and parentheses, with their offsets."""
    words: list[tuple[str, int]] = []
    depth = 0
    quote = False
    start = -1
    for index, char in enumerate(text):
        if quote:
            if char == '"' and text[index - 1] != "\\":
                quote = False
            continue
        if char == '"':
            quote = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if char.isspace() and depth == 0 and not quote:
            if start >= 0:
                words.append((text[start:index], start))
                start = -1
        elif start < 0:
            start = index
    if start >= 0:
        words.append((text[start:], start))
    return words


def _field_list(text: str) -> list[str]:
    return [unquote(f) for f in re.split(r"[\s,]+", text.strip()) if f and not _OPTION.match(f) and f != "-"]


def _aggregates(text: str) -> tuple[list[str], list[str]]:
    """(columns defined, fields read) of an aggregate list such as `count min(_time) as firstTime`."""
    defined: list[str] = []
    read: list[str] = []
    for match in _AGGREGATE.finditer(text):
        function, argument, alias = match.group(1), match.group(2), match.group(3)
        if _OPTION.match(match.group(0)) or function.lower() in ("as", "by"):
            continue
        if argument is not None:
            read.extend(a.strip() for a in argument.split(",") if a.strip())
        name = unquote(alias) if alias else (f"{function}({argument})" if argument is not None else function)
        same = argument is not None and alias is not None and unquote(alias) == argument.strip()
        if not same:  # `values(x) as x` still holds x's values: predicates on it describe x
            defined.append(name)
    return defined, read


class StageBuilder:
    def __init__(self, macros: Mapping[str, Macro]) -> None:
        self.macros = macros
        self.names = Names()
        self.known_fields: list[
            str
        ] = []  # data-model fields named by tstats (what drop_dm_object_name strips)
        self.result = Parsed()

    def build(self, search: str, first_line: int) -> Parsed:
        # ```comments``` become blanks of the same length, so offsets and lines stay those of the file
        search = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), search)
        implicit = not search.lstrip().startswith("|")
        for number, (native, offset) in enumerate(command_spans(search)):
            line = first_line + search.count("\n", 0, offset)
            expansion = expand(native, self.macros)
            self._note(expansion.unresolved, self.result.unresolved)
            self._note(expansion.empty_filters, self.result.empty_filters)
            pieces = command_spans(expansion.text)
            if not pieces:
                self._stage("filter macro", StageOp.FILTER, native, None, line)
                continue
            for index, (piece, _) in enumerate(pieces):
                text = native if len(pieces) == 1 else piece
                first = number == 0 and index == 0 and implicit
                try:
                    self._command(piece, text, line, first)
                except LarkError as exc:
                    raise SplError(exc, offset, native) from exc
        return self.result

    @staticmethod
    def _note(names: list[str], into: list[str]) -> None:
        into.extend(n for n in names if n not in into)

    def _stage(
        self, label: str, op: StageOp, text: str, expr: Expr | None, line: int, defines: tuple[str, ...] = ()
    ) -> None:
        stages = self.result.stages
        stages.append(Stage(len(stages), label, op, text, expr, line, defines))

    def _command(self, piece: str, text: str, line: int, implicit_search: bool) -> None:
        head = re.match(r"\s*(\S+)\s*(.*)", piece, re.DOTALL)
        name, rest = (head.group(1).lower(), head.group(2)) if head else ("", "")
        if implicit_search and name != "search":
            name, rest = "search", piece
        drop = _DROP.match(piece.strip())
        if drop:
            self._drop(drop.group(1).strip(), text, line)
            return
        if _MACRO_ONLY.match(piece.strip()):  # an unresolved macro used as a command
            self._stage(piece.strip().strip("`").split("(", 1)[0], StageOp.TRANSFORM, text, None, line)
            return
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is not None:
            handler(rest, text, line)
        elif name in AGGREGATES:
            self._aggregate(name, rest, text, line)
        elif name in SOURCES:
            self._source(name, rest, text, line)
        elif name in EXTENDS:
            self._extend(name, rest, text, line)
        elif name in JOINS:
            self._stage(name, StageOp.JOIN, text, None, line)
        else:
            self._stage(name or "command", StageOp.TRANSFORM, text, None, line)

    # ---- the logic commands -----------------------------------------------------------------------------

    def _cmd_search(self, rest: str, text: str, line: int) -> None:
        self._stage("search", StageOp.FILTER, text, parse_search(rest, self.names), line)

    def _cmd_where(self, rest: str, text: str, line: int) -> None:
        self._stage("where", StageOp.FILTER, text, parse_eval(rest, self.names), line)

    def _cmd_regex(self, rest: str, text: str, line: int) -> None:
        match = re.match(r"\s*(?:([^\s=!\"]+)\s*(!?=)\s*)?(\"(?:\\.|[^\"\\])*\"|\S+)\s*$", rest, re.DOTALL)
        if match is None:
            raise_unparsed(rest)
            return
        target = match.group(1) or "_raw"
        pattern = unquote(match.group(3))
        pred: Expr = Builder(rest, self.names).pred(
            target, Kind.REGEX, pattern, rest.strip(), cased=True, regex_flags=""
        )
        self._stage("regex", StageOp.FILTER, text, Not(pred) if match.group(2) == "!=" else pred, line)

    def _cmd_tstats(self, rest: str, text: str, line: int) -> None:
        self._tstats("tstats", rest, text, line)

    def _cmd_mstats(self, rest: str, text: str, line: int) -> None:
        self._tstats("mstats", rest, text, line)

    def _tstats(self, name: str, rest: str, text: str, line: int) -> None:
        words = top_words(rest)
        lowered = [w.lower() for w, _ in words]
        where_at = lowered.index("where") if "where" in lowered else None
        by_at = len(lowered) - 1 - lowered[::-1].index("by") if "by" in lowered else None
        from_at = lowered.index("from") if "from" in lowered else None
        if by_at is not None and where_at is not None and by_at < where_at:
            by_at = None  # a `by` inside the where clause is a search term
        ends = [p for p in (where_at, by_at, len(words)) if p is not None]

        def section(start: int, stop: int) -> str:
            if start >= len(words):
                return ""
            begin = words[start][1]
            end = words[stop][1] if stop < len(words) else len(rest)
            return rest[begin:end].strip()

        head_end = min(p for p in (from_at, where_at, by_at, len(words)) if p is not None)
        head = section(0, head_end)
        aggregate_text = " ".join(w for w in head.split() if not _OPTION.match(w) and not w.startswith("`"))
        datamodel = ""
        if from_at is not None:
            source_text = section(from_at, min(p for p in ends if p > from_at))
            found = _DATAMODEL.search(source_text)
            datamodel = found.group(1) if found else source_text.removeprefix("from").strip()
            model: Expr | None = (
                Pred("datamodel", Kind.EQ, datamodel, native=source_text, scope=True) if datamodel else None
            )
            self._stage(name, StageOp.SOURCE, source_text, model, line)
        if where_at is not None:
            where_text = section(where_at + 1, by_at if by_at is not None else len(words))
            expr = parse_search(where_text, self.names)
            shown_where = _native_where(text) or where_text  # the macro calls as written, when readable
            self._stage(name, StageOp.FILTER, f"where {shown_where}", expr, line)
        by = _field_list(section(by_at + 1, len(words))) if by_at is not None else []
        defined, read = _aggregates(aggregate_text)
        self.known_fields.extend(f for f in (*by, *read) if f not in self.known_fields)
        shown = f"{name} {aggregate_text}" + (f" by {' '.join(by)}" if by else "")
        self._stage(name, StageOp.AGGREGATE, shown.strip(), None, line, tuple(defined))

    # ---- the other commands -----------------------------------------------------------------------------

    def _aggregate(self, name: str, rest: str, text: str, line: int) -> None:
        words = top_words(rest)
        lowered = [w.lower() for w, _ in words]
        by_at = len(lowered) - 1 - lowered[::-1].index("by") if "by" in lowered else None
        body = rest[: words[by_at][1]] if by_at is not None else rest
        defined, _read = _aggregates(" ".join(w for w in body.split() if not _OPTION.match(w)))
        if name in ("top", "rare"):
            defined = ["count", "percent"]
        self._stage(name, StageOp.AGGREGATE, text, None, line, tuple(defined))

    def _source(self, name: str, rest: str, text: str, line: int) -> None:
        expr: Expr | None = None
        found = _DATAMODEL.search(rest)
        if found:
            expr = Pred("datamodel", Kind.EQ, found.group(1), native=found.group(0), scope=True)
        self._stage(name, StageOp.SOURCE, text, expr, line)

    def _extend(self, name: str, rest: str, text: str, line: int) -> None:
        defined: list[str] = []
        if name == "eval":
            for assignment in _top_commas(rest):
                target = _EVAL_TARGET.match(assignment)
                if target is None:
                    continue
                column = unquote(target.group(1))
                expression = assignment[target.end() :]
                # `eval x = lower(x)` rewrites x: predicates on it still describe the event's x
                if not re.search(rf"(?<![\w.]){re.escape(column)}(?![\w.]|\s*\()", expression):
                    defined.append(column)
        elif name == "rex":
            defined = _REX_GROUP.findall(rest)
        elif name == "spath":
            output = re.search(r"output\s*=\s*(\S+)", rest)
            defined = [output.group(1)] if output else []
        self._stage(name, StageOp.EXTEND, text, None, line, tuple(dict.fromkeys(defined)))

    def _cmd_rename(self, rest: str, text: str, line: int) -> None:
        for pair in _top_commas(rest):
            parts = _AS.split(pair.strip(), maxsplit=1)
            if len(parts) != 2:
                continue
            old, new = unquote(parts[0].strip()), unquote(parts[1].strip())
            if old.endswith("*") and new.endswith("*"):
                self._prefix(old[:-1], new[:-1])
            elif old != new:
                self.names.aliases[new] = old
        self._stage("rename", StageOp.TRANSFORM, text, None, line)

    def _drop(self, model: str, text: str, line: int) -> None:
        self._prefix(f"{model}.", "")
        self._stage("drop_dm_object_name", StageOp.TRANSFORM, text, None, line)

    def _prefix(self, old: str, new: str) -> None:
        for known in self.known_fields:
            if known.startswith(old):
                self.names.aliases.setdefault(new + known[len(old) :], known)

    def _cmd_lookup(self, rest: str, text: str, line: int) -> None:
        words = [w for w, _ in top_words(rest) if not _OPTION.match(w)]
        lowered = [w.lower() for w in words]
        out_at = next((i for i, w in enumerate(lowered) if w in ("output", "outputnew")), len(words))
        table = words[0] if words else ""
        inputs = _pairs(words[1:out_at])
        outputs = _pairs(words[out_at + 1 :])
        source_field = inputs[0][1] if inputs else ""
        for lookup_field, event_field in outputs:
            self.names.lookup_outputs[event_field] = (source_field, table)
            del lookup_field
        self._stage("lookup", StageOp.JOIN, text, None, line, tuple(e for _, e in outputs))

    def _cmd_table(self, rest: str, text: str, line: int) -> None:
        self._project("table", rest, text, line)

    def _cmd_fields(self, rest: str, text: str, line: int) -> None:
        self._project("fields", rest, text, line)

    def _project(self, name: str, rest: str, text: str, line: int) -> None:
        removing = rest.strip().startswith("-")
        columns = _field_list(rest)
        if not removing:
            self.result.output_fields = columns
        self._stage(name, StageOp.PROJECT, text, None, line)


def _native_where(command: str) -> str:
    """The `where` clause of a tstats command as written (macros unexpanded), or "" if it has none."""
    words = top_words(command)
    lowered = [w.lower() for w, _ in words]
    if "where" not in lowered:
        return ""
    start = lowered.index("where") + 1
    stop = len(words) - 1 - lowered[::-1].index("by") if "by" in lowered[start:] else len(words)
    if start >= len(words) or stop <= start:
        return ""
    end = words[stop][1] if stop < len(words) else len(command)
    return command[words[start][1] : end].strip()


def _pairs(words: list[str]) -> list[tuple[str, str]]:
    """`a AS b c` → [(a, b), (c, c)]: a lookup's field as the lookup names it and as the event does."""
    out: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        first = words[index].strip(",")
        if index + 2 < len(words) and words[index + 1].lower() == "as":
            out.append((first, words[index + 2].strip(",")))
            index += 3
        else:
            out.append((first, first))
            index += 1
    return [(unquote(a), unquote(b)) for a, b in out if a]


def _top_commas(text: str) -> list[str]:
    out: list[str] = []
    depth = 0
    quote = False
    start = 0
    for index, char in enumerate(text):
        if quote:
            if char == '"' and text[index - 1] != "\\":
                quote = False
        elif char == '"':
            quote = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            out.append(text[start:index])
            start = index + 1
    out.append(text[start:])
    return [part for part in out if part.strip()]


def raise_unparsed(text: str) -> None:
    """A logic command whose arguments have no shape we read: the same error a grammar would give."""
    lark_parser(GRAMMAR, "search_start").parse("(" + text)


def build_stages(search: str, macros: Mapping[str, Macro], first_line: int) -> Parsed:
    """The stages of `search` (raises `SplError` on the first logic command that does not parse)."""
    return StageBuilder(macros).build(search, first_line)
