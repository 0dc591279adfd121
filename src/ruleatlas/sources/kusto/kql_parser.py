"""A KQL parser: statements (`let`, the query), pipelines of tabular operators, and expressions.

Why a hand-written tokenizer and Pratt parser rather than a Lark LALR grammar (the project's default): KQL's
keywords are contextual. `has`, `contains`, `count`, `project`, `kind`, `type` or `on` are operators in one
place and ordinary column names in another, `kind=` and `hint.*=` options may precede any operator's
arguments, and about forty tabular operators each have syntax of their own (`parse ... with * "x" Col`,
`mv-apply ... on (subquery)`, `make-series ... on ... step`). An LALR table over one token stream cannot
tell a column named `count` from the operator without the context the parser is in; the Pratt parser reads
words by position, parses exactly what the analysis needs (where/filter, extend, project*, summarize ... by,
join/lookup ... on, union, the sources, every expression with KQL's precedence), and keeps every other
operator as its balanced token run, so its text stays a stage of its own. It costs a few milliseconds per
query (bench/parse_vendors.py measures the corpus).

Precedence, lowest first: `|`, `or`, `and`, comparisons (`==`, `=~`, `has`, `in~`, `between`, `matches
regex`...), `+ -`, `* / %`, unary minus, then postfix `.` / `[...]` / call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ruleatlas.sources.kusto.kql_ast import (
    Assign,
    Between,
    Binary,
    Call,
    Function,
    ListN,
    Lit,
    Name,
    Node,
    Opaque,
    Operator,
    Pipe,
    Source,
    Statement,
)
from ruleatlas.sources.kusto.kql_lexer import KqlSyntaxError, Tok, Token, tokenize

_PIPE, _OR, _AND, _COMPARE, _SUM, _PRODUCT = 1, 2, 3, 4, 5, 6
_STRING_OPS = frozenset(
    f"{neg}{word}{cs}"
    for word in ("has", "contains", "startswith", "endswith", "hasprefix", "hassuffix")
    for neg in ("", "!")
    for cs in ("", "_cs")
)
# `containscs` is the older spelling of `contains_cs`, still accepted
_STRING_OPS |= {"containscs", "!containscs"}
_LIST_OPS = frozenset({"in", "!in", "in~", "!in~", "has_any", "has_all", "has_any_cs", "!has_any"})
_SYMBOL_COMPARE = frozenset({"==", "!=", "=~", "!~", "<", ">", "<=", ">=", "<>"})
# Tabular sources that are operators rather than table names; their arguments are kept as text.
_TEXT_SOURCES = frozenset({"datatable", "externaldata", "print", "range", "search", "find", "evaluate"})
_ASSIGN_OPS = frozenset({"extend", "project", "project-rename", "summarize", "distinct"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.watchlists: list[str] = []  # `_GetWatchlist('x')` calls anywhere in the query

    # --- token helpers -------------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def at(self, text: str) -> bool:
        tok = self.tok
        return tok.type in (Tok.SYMBOL, Tok.WORD) and tok.text.lower() == text

    def at_end(self) -> bool:
        return self.tok.type is Tok.END

    def take(self) -> Token:
        tok = self.tok
        if tok.type is not Tok.END:
            self.i += 1
        return tok

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected {text!r}")
        return self.take()

    def error(self, message: str, tok: Token | None = None) -> KqlSyntaxError:
        tok = tok or self.tok
        found = "end of query" if tok.type is Tok.END else repr(tok.text)
        column = tok.start - (self.text.rfind("\n", 0, tok.start) + 1) + 1
        return KqlSyntaxError(f"{message}, found {found}", tok.line, column)

    def prev_end(self) -> int:
        return self.tokens[self.i - 1].end if self.i else 0

    # --- statements ----------------------------------------------------------------------------------

    def statements(self, closing: str = "") -> list[Statement]:
        out: list[Statement] = []
        while True:
            while self.at(";"):
                self.take()
            if self.tok.type is Tok.END or (closing and self.at(closing)):
                return out
            start = self.tok
            if self.at("let") and self.peek().type is Tok.WORD:
                self.take()
                name = self.take().text
                self.expect("=")
                value = self.let_value()
                out.append(Statement(name, value, start.start, self.prev_end(), start.line))
            elif self.at("set") or self.at("declare") or self.at("alias"):
                self.skip_until(stop_at_pipe=False)
                continue
            else:
                value = self.expression(0)
                out.append(Statement("", value, start.start, self.prev_end(), start.line))
            if not (self.at(";") or self.at_end() or (closing and self.at(closing))):
                raise self.error("expected ';' or the end of the statement")

    def let_value(self) -> Node:
        if self.at("(") and self.is_function():
            start = self.tok.start
            self.skip_balanced()  # the parameter list
            self.expect("{")
            body = self.statements(closing="}")
            self.expect("}")
            return Function(body, start, self.prev_end())
        if self.at("view") and self.peek().text == "(":
            self.take()
            return self.let_value()
        return self.expression(0)

    def is_function(self) -> bool:
        depth, j = 0, self.i
        while j < len(self.tokens) - 1:
            text = self.tokens[j].text
            if self.tokens[j].type is Tok.SYMBOL and text in "([{":
                depth += 1
            elif self.tokens[j].type is Tok.SYMBOL and text in ")]}":
                depth -= 1
                if depth == 0:
                    return self.tokens[j + 1].text == "{"
            j += 1
        return False

    # --- skipping what is kept as text ---------------------------------------------------------------

    def skip_balanced(self) -> None:
        """One bracketed group, from its opening bracket to the matching closing one."""
        opening = self.take()
        closing = {"(": ")", "[": "]", "{": "}"}[opening.text]
        depth = 1
        while depth:
            tok = self.take()
            if tok.type is Tok.END:
                raise self.error(f"{opening.text!r} is not closed", opening)
            if tok.type is Tok.SYMBOL and tok.text in "([{":
                depth += 1
            elif tok.type is Tok.SYMBOL and tok.text in ")]}":
                depth -= 1
                if depth == 0 and tok.text != closing:
                    raise self.error(f"{opening.text!r} closed by {tok.text!r}", tok)

    def skip_until(self, stop_at_pipe: bool = True) -> list[Token]:
        """Tokens up to the next `|` (when asked), `;`, closing bracket or the end, brackets balanced."""
        skipped: list[Token] = []
        while True:
            tok = self.tok
            if tok.type is Tok.END or (tok.type is Tok.SYMBOL and tok.text in (";", ")", "]", "}")):
                return skipped
            if stop_at_pipe and tok.type is Tok.SYMBOL and tok.text == "|":
                return skipped
            if tok.type is Tok.SYMBOL and tok.text in "([{":
                first = self.i
                self.skip_balanced()
                skipped.extend(self.tokens[first : self.i])
            else:
                skipped.append(self.take())

    # --- expressions (Pratt) -------------------------------------------------------------------------

    def expression(self, min_bp: int) -> Node:
        left = self.unary()
        while True:
            tok = self.tok
            word = tok.text.lower() if tok.type in (Tok.WORD, Tok.SYMBOL) else ""
            if word == "|" and min_bp < _PIPE:
                op = self.operator()
                left = Pipe(left, op, _start(left), op.end)
            elif word == "or" and tok.type is Tok.WORD and min_bp < _OR:
                self.take()
                right = self.expression(_OR)
                left = Binary("or", left, right, _start(left), _end(right))
            elif word == "and" and tok.type is Tok.WORD and min_bp < _AND:
                self.take()
                right = self.expression(_AND)
                left = Binary("and", left, right, _start(left), _end(right))
            elif min_bp < _COMPARE and self.is_comparison(tok, word):
                left = self.comparison(left, word)
            elif word in ("+", "-") and tok.type is Tok.SYMBOL and min_bp < _SUM:
                self.take()
                right = self.expression(_SUM)
                left = Binary(word, left, right, _start(left), _end(right))
            elif word in ("*", "/", "%") and tok.type is Tok.SYMBOL and min_bp < _PRODUCT:
                self.take()
                right = self.expression(_PRODUCT)
                left = Binary(word, left, right, _start(left), _end(right))
            else:
                return left

    def is_comparison(self, tok: Token, word: str) -> bool:
        if tok.type is Tok.SYMBOL:
            return word in _SYMBOL_COMPARE
        if tok.type is not Tok.WORD:
            return False
        if word in _STRING_OPS or word in _LIST_OPS or word in ("between", "!between"):
            return True
        return word == "matches" and self.peek().text.lower() == "regex"

    def comparison(self, left: Node, word: str) -> Node:
        self.take()
        if word in ("between", "!between"):
            self.expect("(")
            low = self.expression(_SUM)
            self.expect("..")
            high = self.expression(_SUM)
            self.expect(")")
            return Between(word.startswith("!"), left, low, high, _start(left), self.prev_end())
        if word == "matches":
            self.take()
            word = "matches regex"
        if word in _LIST_OPS and self.at("("):
            right: Node = self.paren_list(always_list=True)
        else:
            right = self.expression(_COMPARE)
        return Binary(word, left, right, _start(left), _end(right))

    def paren_list(self, always_list: bool) -> Node:
        """`( ... )`: an expression (which may be a sub-query), or a list of them when there are commas."""
        opening = self.expect("(")
        items: list[Node] = []
        while not self.at(")"):
            items.append(self.expression(0))
            if not self.at(","):
                break
            self.take()
        self.expect(")")
        if len(items) == 1 and not always_list:
            return items[0]
        return ListN(items, opening.start, self.prev_end())

    def unary(self) -> Node:
        tok = self.tok
        if tok.type is Tok.SYMBOL and tok.text in ("-", "+"):
            self.take()
            inner = self.expression(_PRODUCT)
            if isinstance(inner, Lit) and isinstance(inner.value, int | float) and tok.text == "-":
                return Lit(-inner.value, tok.start, inner.end)
            return Opaque(tok.start, _end(inner))
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.tok
            if tok.type is not Tok.SYMBOL:
                return node
            if tok.text == "." and self.peek().text == "[":  # `Details.[0]`, `x.["name"]`
                self.take()
            elif tok.text == "." and self.peek().type in (Tok.WORD, Tok.NUMBER):
                self.take()
                part = self.take()
                node = _extend_path(node, part.text, part.end)
            elif tok.text == "[":
                self.skip_balanced()
                node = _extend_path(node, self.text[tok.start : self.prev_end()], self.prev_end())
            elif tok.text == "(" and isinstance(node, Name):
                args = self.call_args()
                node = Call(node.path, args, node.start, self.prev_end())
                if node.name == "_GetWatchlist" and args and isinstance(args[0], Lit):
                    self.watchlists.append(str(args[0].value))
            else:
                return node

    def call_args(self) -> list[Node]:
        self.expect("(")
        args: list[Node] = []
        while not self.at(")"):
            if self.tok.type is Tok.WORD and self.peek().text == "=":  # a named argument
                self.take()
                self.take()
            if self.at("*"):
                star = self.take()
                args.append(Name("*", star.start, star.end))
            else:
                args.append(self.expression(0))
            if not self.at(","):
                break
            self.take()
        self.expect(")")
        return args

    def primary(self) -> Node:
        tok = self.tok
        if tok.type is Tok.STRING:
            self.take()
            value = str(tok.value)
            while self.tok.type is Tok.STRING:  # adjacent literals are one string
                value += str(self.take().value)
            return Lit(value, tok.start, self.prev_end())
        if tok.type is Tok.NUMBER:
            self.take()
            return Lit(tok.value, tok.start, tok.end)
        if tok.type in (Tok.TIMESPAN, Tok.RAW):
            self.take()
            return Lit(tok.text, tok.start, tok.end)
        if tok.type is Tok.SYMBOL:
            if tok.text == "(":
                return self.paren_list(always_list=False)
            if tok.text == "[":
                if self.peek().type is Tok.STRING and self.peek(2).text == "]":
                    self.take()
                    name = self.take()
                    self.take()
                    return Name(str(name.value), tok.start, self.prev_end())
                self.skip_balanced()
                return Opaque(tok.start, self.prev_end())
            if tok.text == "{":
                self.skip_balanced()
                return Opaque(tok.start, self.prev_end())
            if tok.text == "*":
                self.take()
                return Name("*", tok.start, tok.end)
            raise self.error("expected a value")
        if tok.type is Tok.WORD:
            word = tok.text.lower()
            following = self.peek()
            if word == "dynamic" and following.text == "(":
                return self.dynamic()
            if word in ("true", "false") and following.text != "(":
                self.take()
                return Lit(word == "true", tok.start, tok.end)
            if word == "union":  # KQL has no function named union: `union (A), (B)` is the operator too
                op = self.union()
                return Source(op, op.start, op.end)
            if word in _TEXT_SOURCES and following.text not in ("=", ")", ",", "|", ";"):
                return self.text_source()
            self.take()
            return Name(tok.text, tok.start, tok.end)
        raise self.error("expected a value")

    def dynamic(self) -> Node:
        start = self.take()
        self.expect("(")
        if self.at("["):
            opening = self.take()
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.expression(_OR))
                if not self.at(","):
                    break
                self.take()
            self.expect("]")
            node: Node = ListN(items, opening.start, self.prev_end())
        elif self.at("{"):
            self.skip_balanced()
            node = Opaque(start.start, self.prev_end())
        else:
            node = self.expression(0)
        self.expect(")")
        if isinstance(node, ListN):
            return ListN(node.items, start.start, self.prev_end())
        return node if isinstance(node, Lit) else Opaque(start.start, self.prev_end())

    def text_source(self) -> Node:
        tok = self.take()
        self.skip_until()
        op = Operator(tok.text.lower(), tok.start, self.prev_end(), tok.line)
        return Source(op, tok.start, self.prev_end())

    # --- tabular operators -----------------------------------------------------------------------

    def operator(self) -> Operator:
        self.expect("|")
        tok = self.tok
        if tok.type is not Tok.WORD:
            raise self.error("expected a tabular operator after '|'")
        name = self.take().text.lower()
        op = Operator(name, tok.start, tok.end, tok.line)
        if name in ("where", "filter"):
            op.condition = self.expression(_PIPE)
        elif name in _ASSIGN_OPS:
            self.options()
            op.items = self.assignments() if not self.at("by") else []
            if name == "summarize" and self.at("by"):
                self.take()
                op.by = self.assignments()
        elif name in ("join", "lookup"):
            self.join(op)
        elif name == "union":
            self.union_items(op)
        elif name in ("project-away", "project-keep", "project-reorder", "parse", "parse-where"):
            words = self.skip_until()
            op.columns = _listed_columns(name, words)
        else:
            self.skip_until()
        op.end = max(op.end, self.prev_end())
        return op

    def options(self) -> dict[str, str]:
        """`kind=inner`, `hint.strategy=shuffle`, `withsource=T`, `isfuzzy=true` before an operator's body."""
        found: dict[str, str] = {}
        while self.tok.type is Tok.WORD and (self.peek().text == "=" or self.peek().text == "."):
            j = self.i
            parts = [self.take().text]
            while self.at("."):
                self.take()
                parts.append(self.take().text)
            if not self.at("="):
                self.i = j
                break
            key = ".".join(parts).lower()
            if key not in ("kind", "withsource", "isfuzzy") and not key.startswith("hint"):
                self.i = j
                break
            self.take()
            found[key] = self.take().text
        return found

    def assignments(self) -> list[Assign]:
        items: list[Assign] = []
        while True:
            names: tuple[str, ...] = ()
            if self.tok.type is Tok.WORD and self.peek().text == "=":
                names = (self.take().text,)
                self.take()
            elif self.at("(") and self.is_name_tuple():
                self.take()
                found = [self.take().text]
                while self.at(","):
                    self.take()
                    found.append(self.take().text)
                self.expect(")")
                self.expect("=")
                names = tuple(found)
            elif self.at("[") and self.peek().type is Tok.STRING and self.peek(3).text == "=":
                self.take()
                names = (str(self.take().value),)
                self.take()
                self.take()
            items.append(Assign(names, self.expression(_PIPE)))
            if not self.at(","):
                return items
            self.take()

    def is_name_tuple(self) -> bool:
        j = self.i + 1
        while self.tokens[j].type is Tok.WORD and self.tokens[j + 1].text in (",", ")"):
            if self.tokens[j + 1].text == ")":
                return self.tokens[j + 2].text == "="
            j += 2
        return False

    def join(self, op: Operator) -> None:
        op.kind = self.options().get("kind", "").lower()
        op.right = self.postfix(self.primary())
        if self.at("on"):
            self.take()
            while True:
                op.keys.append(self.expression(_PIPE))
                if not self.at(","):
                    break
                self.take()

    def union(self) -> Operator:
        tok = self.take()
        op = Operator("union", tok.start, tok.end, tok.line)
        self.union_items(op)
        op.end = self.prev_end()
        return op

    def union_items(self, op: Operator) -> None:
        self.options()
        while True:
            tok = self.tok
            if tok.type is Tok.WORD and self.peek().text == "*" and self.peek().start == tok.end:
                self.take()
                self.take()
                op.tables.append(Name(self.text[tok.start : self.prev_end()], tok.start, self.prev_end()))
            else:
                op.tables.append(self.expression(_OR))
            if not self.at(","):
                return
            self.take()


def _listed_columns(name: str, words: list[Token]) -> tuple[str, ...]:
    """Columns a skipped operator names: `project-away A, B*` lists them; `parse X with * "a" Col:string`
    defines those after `with` (not the type after `:`)."""
    if name.startswith("parse"):
        after = next((i for i, t in enumerate(words) if t.text.lower() == "with"), None)
        if after is None:
            return ()
        out: list[str] = []
        for index in range(after + 1, len(words)):
            tok = words[index]
            if tok.type is Tok.WORD and (index == 0 or words[index - 1].text != ":"):
                out.append(tok.text)
        return tuple(dict.fromkeys(out))
    return tuple(t.text for t in words if t.type is Tok.WORD)


def _extend_path(node: Node, part: str, end: int) -> Node:
    if isinstance(node, Name):
        joined = f"{node.path}{part}" if part.startswith("[") else f"{node.path}.{part}"
        return Name(joined, node.start, end)
    return Opaque(_start(node), end)


def _start(node: Node) -> int:
    return node.start


def _end(node: Node) -> int:
    return node.end


@dataclass(slots=True)
class ParsedQuery:
    statements: list[Statement]
    watchlists: list[str]  # the watchlists the query reads, wherever it calls `_GetWatchlist`


def parse_query(text: str) -> ParsedQuery:
    """The statements of a KQL query; raises `KqlSyntaxError` (with line and column) where it cannot."""
    parser = _Parser(text)
    statements = parser.statements()
    if parser.tok.type is not Tok.END:
        raise parser.error("unexpected text after the query")
    if not any(not s.name for s in statements):
        raise KqlSyntaxError("the query has no tabular expression (only let statements)", 1, 1)
    return ParsedQuery(statements, list(dict.fromkeys(parser.watchlists)))
