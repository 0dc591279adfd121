"""YAML syntax highlighting for rule bodies and stage texts.

Why not Pygments: its YamlLexer takes 0.93 ms per SigmaHQ rule body (1,076 bodies/s over 500 files of
corpus/sigma/rules, 29 lines on average), so the body alone would use twice the whole page budget
(>= 2,000 pages/s with stages and templating). Rule files are block-style YAML with one construct per line,
so a line-based highlighter that knows keys (with Sigma's `|modifier` suffixes), list dashes, quoted and
plain scalars, block scalars (`|`, `>`), flow collections and comments is enough, and is several times faster.

Two promises, both tested over the whole corpus: the text is never changed (removing the tags and
unescaping gives the input back, CRLF read as LF), and every character of the input is HTML-escaped: each
line is escaped once (`&`, `<`, `>`: the output is element content, never an attribute) *before* it is
tokenised, which is both the fastest way and the safe one (no token can skip escaping). The tokeniser
therefore sees `&gt;` where the YAML has `>` and `&amp;` for `&`, which only matter at the start of a value.
Colouring can be wrong on odd YAML (a plain scalar continued over lines is coloured line by line); the text
cannot.
"""

from __future__ import annotations

import re

from markupsafe import Markup

# CSS classes (style.css): key, modifier, quoted string, plain value, number, constant, comment, dash,
# punctuation, block-scalar text, block indicator, anchor/alias/tag, document marker.
_KEY, _MOD, _STR, _VAL, _NUM, _CONST = "yk", "ym", "ys", "yv", "yn", "yc"
_COMMENT, _DASH, _PUNCT, _BLOCK, _IND, _ANCHOR, _DOC = "yx", "yd", "yp", "yb", "yi", "ya", "yo"

# Pieces of the line patterns: single- and double-quoted scalars, plain keys and plain values (possessive
# `*+` so a failed match never backtracks through long values).
_SQ = r"'[^']*+(?:''[^']*+)*+'"
_DQ = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_PLAIN_KEY = r"[^\s#'\"\[\]{},&*!|%@`-][^#:]*+|-[^\s#:][^#:]*+"
_PLAIN_VALUE = r"[^\s#'\"|&\[{*!][^#]*"

# One line, already escaped: indentation, list dashes ("- - a" nests), an optional key, the rest.
_LINE_RE = re.compile(
    rf"(?P<ind> *)(?P<dash>(?:-(?:[ \t]+|$))*)"
    rf"(?:(?P<key>{_SQ}|{_DQ}|{_PLAIN_KEY})(?P<kws>[ \t]*):(?=[ \t]|$))?(?P<rest>.*)",
    re.S,
)
_BLOCK_HEADER_RE = re.compile(r"(?:\||&gt;)[-+0-9]*(?=[ \t]|$)")
_NUMBER_RE = re.compile(r"[-+]?(?:0x[0-9a-fA-F]+|0o[0-7]+|(?:\d[\d_]*)?\.?\d+(?:[eE][-+]?\d+)?)")
_CONSTANTS = frozenset(
    {"true", "false", "True", "False", "TRUE", "FALSE", "null", "Null", "NULL", "~", "yes", "no", "on", "off"}
)
_FLOW_TOKEN_RE = re.compile(r"""'(?:[^']|'')*'?|"(?:[^"\\]|\\.)*"?|[\[\]{},:]|[^\[\]{},:'"]+""")
_COMMENT_START_RE = re.compile(r"[ \t]#")
_DASH_HTML = f'<span class="{_DASH}">-</span>'


def _escape_line(line: str) -> str:
    if "&" in line:
        line = line.replace("&", "&amp;")
    if "<" in line:
        line = line.replace("<", "&lt;")
    if ">" in line:
        line = line.replace(">", "&gt;")
    return line


def _close_single(text: str, start: int) -> int:
    """Index just past the quote closing a single-quoted scalar whose body starts at `start`, or -1."""
    i = start
    while True:
        j = text.find("'", i)
        if j < 0:
            return -1
        if text.startswith("''", j):
            i = j + 2
            continue
        return j + 1


def _close_double(text: str, start: int) -> int:
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        else:
            i += 1
    return -1


def _plain(text: str) -> str:
    """A plain scalar (no comment inside), with any trailing spaces."""
    core = text.rstrip(" \t")
    if not core:
        return text
    if core in _CONSTANTS:
        cls = _CONST
    elif core[0] in "0123456789+-." and _NUMBER_RE.fullmatch(core):
        cls = _NUM
    else:
        cls = _VAL
    return f'<span class="{cls}">{core}</span>{text[len(core) :]}'


def _flow(text: str) -> str:
    out = []
    for tok in _FLOW_TOKEN_RE.findall(text):
        if tok[0] in "'\"":
            out.append(f'<span class="{_STR}">{tok}</span>')
        elif tok in "[]{},:":
            out.append(f'<span class="{_PUNCT}">{tok}</span>')
        else:
            out.append(tok)
    return "".join(out)


class _State:
    """What carries over from one line to the next."""

    __slots__ = ("block_parent", "quote")

    def __init__(self) -> None:
        self.block_parent = -1  # >= 0 inside a block scalar: the column of the node that opened it
        self.quote = ""  # "'" or '"' inside a quoted scalar that spans lines


def _after_scalar(text: str) -> str:
    """What follows a closed scalar: spaces, then a comment or (malformed YAML) anything else."""
    stripped = text.lstrip(" \t")
    if stripped[:1] == "#":
        return f'{text[: len(text) - len(stripped)]}<span class="{_COMMENT}">{stripped}</span>'
    return text


def _value(text: str, parent_col: int, state: _State) -> str:
    """A value: everything after `key:` or a list dash, leading spaces included."""
    stripped = text.lstrip(" \t")
    if not stripped:
        return text
    lead = text[: len(text) - len(stripped)]
    first = stripped[0]
    if first == "'" or first == '"':
        end = _close_single(stripped, 1) if first == "'" else _close_double(stripped, 1)
        if end < 0:
            state.quote = first
            return f'{lead}<span class="{_STR}">{stripped}</span>'
        if end == len(stripped):
            return f'{lead}<span class="{_STR}">{stripped}</span>'
        return f'{lead}<span class="{_STR}">{stripped[:end]}</span>{_after_scalar(stripped[end:])}'
    if first == "#":
        return f'{lead}<span class="{_COMMENT}">{stripped}</span>'
    if first == "|" or first == "&":
        header = _BLOCK_HEADER_RE.match(stripped)
        if header:
            state.block_parent = parent_col
            return (
                f'{lead}<span class="{_IND}">{header.group()}</span>{_after_scalar(stripped[header.end() :])}'
            )
    if first == "[" or first == "{":
        comment = _COMMENT_START_RE.search(stripped)
        if comment:
            return lead + _flow(stripped[: comment.start()]) + _after_scalar(stripped[comment.start() :])
        return lead + _flow(stripped)
    if first == "*" or first == "!" or stripped.startswith("&amp;"):
        # An anchor, alias or tag, then (maybe) the value it applies to.
        end = len(stripped)
        for i, c in enumerate(stripped):
            if c == " " or c == "\t":
                end = i
                break
        return f'{lead}<span class="{_ANCHOR}">{stripped[:end]}</span>' + _value(
            stripped[end:], parent_col, state
        )
    if "#" in stripped:
        comment = _COMMENT_START_RE.search(stripped)
        if comment:
            return lead + _plain(stripped[: comment.start()]) + _after_scalar(stripped[comment.start() :])
    return lead + _plain(stripped)


def _key_html(key: str) -> str:
    """A mapping key (a greedy match, so it may end in spaces); a plain key's `|modifier|...` suffix gets its
    own colour."""
    name = key.rstrip(" \t")
    space = key[len(name) :]
    if name[0] not in "'\"":
        bar = name.find("|")
        if bar >= 0:
            return f'<span class="{_KEY}">{name[:bar]}</span><span class="{_MOD}">{name[bar:]}</span>{space}'
    return f'<span class="{_KEY}">{name}</span>{space}'


# The common lines in one pattern: indentation, dashes, an optional key, then one complete scalar (quoted or
# plain) and an optional comment. These lines never change the carried state, so their HTML is cached.
# Possessive quantifiers (`*+`, `?+`): a key or dash once matched is never re-read as part of a plain
# scalar, so `key: |` or `- [a]` fail here and take the general path instead of becoming one plain value.
_FAST_RE = re.compile(
    rf"( *+)((?:-(?: +|$))*+)(?:({_SQ}|{_DQ}|{_PLAIN_KEY})( *):( +|$))?+"
    rf"(?:({_SQ}|{_DQ})|({_PLAIN_VALUE}))?(?:( +)(#.*))?( *)$"
)
_CACHE: dict[str, str] = {}
_CACHE_LIMIT = 100_000  # about 20 MB at most; a whole-corpus build meets each line 2.3 times on average


def _fast_line(line: str) -> str | None:
    """HTML for an escaped line of the common shapes, or None for the general path."""
    match = _FAST_RE.match(line)
    if match is None:
        return None
    indent, dash, key, kws, sep, quoted, plain, trail, comment, end = match.groups()
    out = indent
    if dash:
        out += dash.replace("-", _DASH_HTML)
    if key is not None:
        out += _key_html(key) + f'{kws}<span class="{_PUNCT}">:</span>{sep}'
    if quoted is not None:
        out += f'<span class="{_STR}">{quoted}</span>'
    elif plain is not None:
        out += _plain(plain)
    if comment is not None:
        out += f'{trail}<span class="{_COMMENT}">{comment}</span>'
    return out + end


def _line(raw: str, state: _State) -> str:
    if not state.quote and state.block_parent < 0:
        cached = _CACHE.get(raw)
        if cached is not None:
            return cached
        line = _escape_line(raw)
        if line[:3] not in ("---", "..."):
            html = _fast_line(line)
            if html is not None:
                if (
                    len(_CACHE) < _CACHE_LIMIT
                ):  # when full, keep what is there: early lines are the common ones
                    _CACHE[raw] = html
                return html
    return _general_line(_escape_line(raw), state)


def _general_line(line: str, state: _State) -> str:
    """Any line, with the state carried from the lines before (block scalars, quotes over lines)."""
    if state.quote:
        end = _close_single(line, 0) if state.quote == "'" else _close_double(line, 0)
        if end < 0:
            return f'<span class="{_STR}">{line}</span>' if line else ""
        state.quote = ""
        return f'<span class="{_STR}">{line[:end]}</span>{_after_scalar(line[end:])}'
    if state.block_parent >= 0:
        stripped = line.lstrip(" ")
        if not stripped.strip():
            return f'<span class="{_BLOCK}">{line}</span>' if line else ""
        if len(line) - len(stripped) > state.block_parent:
            return f'<span class="{_BLOCK}">{line}</span>'
        state.block_parent = -1
    match = _LINE_RE.match(line)
    if match is None:  # the pattern matches any line; this keeps the text if that ever changes
        return line
    indent, dash, key, rest = match.group("ind", "dash", "key", "rest")
    col = len(indent)
    if dash:
        parent = col + dash.rfind("-")
        col += len(dash)
        head = indent + dash.replace("-", _DASH_HTML)
    else:
        parent = col
        head = indent
    if key is not None:
        key_html = _key_html(key)
        return (
            f'{head}{key_html}{match.group("kws")}<span class="{_PUNCT}">:</span>{_value(rest, col, state)}'
        )
    if not rest:
        return head
    if not dash and col == 0 and rest[:3] in ("---", "...") and (len(rest) == 3 or rest[3] in " \t"):
        return f'<span class="{_DOC}">{rest[:3]}</span>{_after_scalar(rest[3:])}'
    if rest[0] == "#":
        return f'{head}<span class="{_COMMENT}">{rest}</span>'
    return head + _value(rest, parent, state)


def _lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    return lines


def highlight_yaml(text: str, line_id_prefix: str = "") -> Markup:
    """HTML for the inside of a <pre><code>: one `<span class="ln">` per line, joined by newlines.

    With a `line_id_prefix` each line gets id="<prefix><n>" (n from 1) for links such as `#L22`.
    """
    state = _State()
    if line_id_prefix:
        prefix = _escape_line(line_id_prefix).replace('"', "&#34;")
        rows = [
            f'<span class="ln" id="{prefix}{n}">{_line(line, state)}</span>'
            for n, line in enumerate(_lines(text), 1)
        ]
    else:
        rows = [f'<span class="ln">{_line(line, state)}</span>' for line in _lines(text)]
    return Markup("\n".join(rows))


def plain_lines(text: str, line_id_prefix: str = "") -> Markup:
    """The same numbered lines as `highlight_yaml`, escaped and not coloured: bodies in languages this
    module does not highlight (EQL, SPL, KQL, YARA-L, Python...)."""
    prefix = _escape_line(line_id_prefix).replace('"', "&#34;")
    rows = [
        f'<span class="ln" id="{prefix}{n}">{_escape_line(line)}</span>'
        if prefix
        else f'<span class="ln">{_escape_line(line)}</span>'
        for n, line in enumerate(_lines(text), 1)
    ]
    return Markup("\n".join(rows))


def line_count(text: str) -> int:
    return len(_lines(text)) if text else 0
