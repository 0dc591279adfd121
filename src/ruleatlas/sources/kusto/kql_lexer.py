"""KQL tokens: the lexical layer of the KQL reader (`kql_parser` builds on it).

KQL's words are contextual: `has`, `contains`, `count`, `project` or `kind` are operators in one place and
column names in another, so the lexer only classifies shapes (word, string, number, timespan, symbol) and the
parser decides what a word means where it stands. Words carry KQL's negated and case forms whole (`!has`,
`in~`, `!in~`, `has_cs`) and the hyphenated operator names (`project-away`, `mv-expand`).

Literals that are not expressions, `datetime(2021-01-01T00:00Z)` and `timespan(...)`, are one RAW token.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from enum import StrEnum


class Tok(StrEnum):
    WORD = "word"  # identifiers, keywords, operator words (`!has`, `in~`, `project-away`)
    STRING = "string"
    NUMBER = "number"
    TIMESPAN = "timespan"  # `1d`, `30m`, `100ms`
    RAW = "raw"  # `datetime(...)`, `timespan(...)`: the call as written
    SYMBOL = "symbol"
    END = "end"


@dataclass(slots=True, frozen=True)
class Token:
    type: Tok
    text: str  # as written
    value: str | int | float  # a string's content, a number's value, else the text
    start: int  # offset in the query
    end: int
    line: int  # 1-based line of the query


class KqlSyntaxError(Exception):
    """A query that does not tokenize or parse; `line`/`column` are 1-based within the query."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


# Hyphenated operator names (KQL spells them with `-`, which otherwise is minus).
HYPHENATED = frozenset(
    {
        "project-away",
        "project-keep",
        "project-rename",
        "project-reorder",
        "project-smart",
        "mv-expand",
        "mv-apply",
        "make-series",
        "parse-where",
        "parse-kv",
        "top-nested",
        "top-hitters",
        "make-graph",
        "graph-match",
    }
)
RAW_CALLS = frozenset({"datetime", "timespan", "time"})
# Longest first: the lexer takes the first that matches.
SYMBOLS = (
    "==",
    "!=",
    "=~",
    "!~",
    "<=",
    ">=",
    "<>",
    "=>",
    "..",
    "|",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    ".",
    ":",
    "?",
)
_BLANK = re.compile("[ \t\r\n\f\v\ufeff\u00a0]+")
_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_WORD_CHARS = _WORD_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]  # a token's line by bisection

    def error(self, message: str, at: int | None = None) -> KqlSyntaxError:
        at = self.pos if at is None else at
        line = self.text.count("\n", 0, at) + 1
        column = at - (self.text.rfind("\n", 0, at) + 1) + 1
        return KqlSyntaxError(message, line, column)

    def add(self, type_: Tok, start: int, value: str | int | float | None = None) -> None:
        text = self.text[start : self.pos]
        line = bisect_left(self.newlines, start) + 1
        self.tokens.append(Token(type_, text, text if value is None else value, start, self.pos, line))

    def run(self) -> list[Token]:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r\n\f\v\ufeff\u00a0":
                blank = _BLANK.match(text, self.pos)
                self.pos = blank.end() if blank else self.pos + 1
            elif text.startswith("//", self.pos):
                newline = text.find("\n", self.pos)
                self.pos = n if newline < 0 else newline
            elif ch in "\"'" or (ch in "@hH" and text[self.pos + 1 : self.pos + 2] in ("'", '"')):
                self.string()
            elif text.startswith("```", self.pos):
                self.fenced()
            elif ch in _DIGITS or (ch == "." and text[self.pos + 1 : self.pos + 2] in _DIGITS):
                self.number()
            elif ch in _WORD_START:
                self.word()
            elif ch == "!" and self.pos + 1 < n and text[self.pos + 1].isalpha():
                start = self.pos
                self.pos += 1
                self.word(start)
            else:
                for symbol in SYMBOLS:
                    if text.startswith(symbol, self.pos):
                        start = self.pos
                        self.pos += len(symbol)
                        self.add(Tok.SYMBOL, start)
                        break
                else:
                    raise self.error(f"unexpected character {ch!r}")
        self.tokens.append(Token(Tok.END, "", "", n, n, len(self.newlines) + 1))
        return self.tokens

    def string(self) -> None:
        text, start = self.text, self.pos
        verbatim = text[self.pos] == "@"
        if text[self.pos] in "@hH":
            self.pos += 1
        quote = text[self.pos]
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(text) or text[self.pos] == "\n":
                raise self.error("string is not closed", start)
            ch = text[self.pos]
            if ch == quote:
                if verbatim and text[self.pos + 1 : self.pos + 2] == quote:
                    out.append(quote)
                    self.pos += 2
                    continue
                self.pos += 1
                break
            if ch == "\\" and not verbatim:
                nxt = text[self.pos + 1 : self.pos + 2]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1
        self.add(Tok.STRING, start, "".join(out))

    def fenced(self) -> None:
        start = self.pos
        close = self.text.find("```", self.pos + 3)
        if close < 0:
            raise self.error("multi-line string is not closed", start)
        self.pos = close + 3
        self.add(Tok.STRING, start, self.text[start + 3 : close])

    def number(self) -> None:
        text, start = self.text, self.pos
        if text.startswith(("0x", "0X"), self.pos):
            self.pos += 2
            while self.pos < len(text) and text[self.pos] in "0123456789abcdefABCDEF":
                self.pos += 1
            self.add(Tok.NUMBER, start, int(text[start + 2 : self.pos] or "0", 16))
            return
        while self.pos < len(text) and text[self.pos] in _DIGITS:
            self.pos += 1
        real = False
        if text[self.pos : self.pos + 1] == "." and text[self.pos + 1 : self.pos + 2] in _DIGITS:
            real = True
            self.pos += 1
            while self.pos < len(text) and text[self.pos] in _DIGITS:
                self.pos += 1
        if text[self.pos : self.pos + 1] in ("e", "E") and (
            text[self.pos + 1 : self.pos + 2] in _DIGITS
            or (text[self.pos + 1 : self.pos + 2] in "+-" and text[self.pos + 2 : self.pos + 3] in _DIGITS)
        ):
            real = True
            self.pos += 2
            while self.pos < len(text) and text[self.pos] in _DIGITS:
                self.pos += 1
        unit_start = self.pos
        while self.pos < len(text) and text[self.pos].isalpha():
            self.pos += 1
        if self.pos > unit_start:  # `1d`, `30min`, `100ms`: a timespan literal
            self.add(Tok.TIMESPAN, start)
            return
        written = text[start : self.pos]
        self.add(Tok.NUMBER, start, float(written) if real else int(written))

    def word(self, start: int | None = None) -> None:
        text = self.text
        start = self.pos if start is None else start
        while self.pos < len(text) and text[self.pos] in _WORD_CHARS:
            self.pos += 1
        # `project-away`, `mv-expand`: a hyphenated operator name is one word
        if text[self.pos : self.pos + 1] == "-":
            end = self.pos + 1
            while end < len(text) and text[end] in _WORD_CHARS:
                end += 1
            if text[start:end].lower() in HYPHENATED:
                self.pos = end
        if text[self.pos : self.pos + 1] == "~" and text[start : self.pos].lower() in ("in", "!in"):
            self.pos += 1
        word = text[start : self.pos]
        if word in RAW_CALLS and text[self.pos : self.pos + 1] == "(":
            close = text.find(")", self.pos)
            if close < 0:
                raise self.error(f"{word}( is not closed", start)
            self.pos = close + 1
            self.add(Tok.RAW, start)
            return
        self.add(Tok.WORD, start)


def tokenize(text: str) -> list[Token]:
    """The tokens of a KQL query, ending with one END token; raises `KqlSyntaxError` where it cannot."""
    return _Lexer(text).run()
