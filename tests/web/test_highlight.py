"""The YAML highlighter: it escapes everything, never changes the text, and colours what Sigma rules use."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from ruleatlas.web.highlight import highlight_yaml, line_count

OUR_TAG = re.compile(r'<span class="[a-z]+"(?: id="L\d+")?>|</span>')
ANY_TAG = re.compile(r"<[^>]*>")

HOSTILE = """\
title: <script>alert(1)</script>
description: '<img src=x onerror=alert(1)>'
author: "\\"><svg onload=alert(1)>"
detection:
    selection:
        CommandLine|contains|all:
            - '</code></pre><script>alert(2)</script>'
            - text &amp; &lt;b&gt; not an entity
        Image|endswith: '\\evil.exe' # <b>comment</b>
    condition: selection
"""


def plain_text(markup: str) -> str:
    return html.unescape(ANY_TAG.sub("", markup))


def expected_text(text: str) -> str:
    text = text.replace("\r\n", "\n")
    return text[:-1] if text.endswith("\n") else text


def test_hostile_text_is_escaped_and_kept() -> None:
    out = str(highlight_yaml(HOSTILE))
    # Every tag in the output is one of ours; everything else is escaped text.
    assert "<" not in OUR_TAG.sub("", out)
    assert ">" not in OUR_TAG.sub("", out)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&amp;lt;b&amp;gt; not an entity" in out  # text that looks like entities stays text
    assert plain_text(out) == expected_text(HOSTILE)


def test_sigma_tokens() -> None:
    out = str(highlight_yaml(HOSTILE))
    assert (
        '<span class="yk">CommandLine</span><span class="ym">|contains|all</span><span class="yp">:</span>'
        in out
    )
    assert "<span class=\"ys\">'&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;'</span>" in out
    assert '<span class="yx"># &lt;b&gt;comment&lt;/b&gt;</span>' in out
    assert (
        '<span class="yk">condition</span><span class="yp">:</span> <span class="yv">selection</span>' in out
    )


def test_block_scalar_lines_are_text_until_the_indent_drops() -> None:
    text = "description: |\n    Line one: not a key\n\n    - not a list\ntags:\n    - attack.t1059\n"
    lines = str(highlight_yaml(text)).split("\n")
    assert '<span class="yi">|</span>' in lines[0]
    assert lines[1] == '<span class="ln"><span class="yb">    Line one: not a key</span></span>'
    assert lines[3] == '<span class="ln"><span class="yb">    - not a list</span></span>'
    assert '<span class="yk">tags</span>' in lines[4]
    assert '<span class="yd">-</span>' in lines[5]


def test_block_scalar_in_a_list_item_ends_at_the_next_key_of_the_item() -> None:
    text = "- key: >-\n    folded text\n  other: value\n"
    lines = str(highlight_yaml(text)).split("\n")
    assert '<span class="yb">    folded text</span>' in lines[1]
    assert '<span class="yk">other</span>' in lines[2]


def test_quoted_string_over_lines() -> None:
    text = "a: 'first\n  second'' still # not a comment\n  end' # comment\nb: 1\n"
    out = str(highlight_yaml(text))
    lines = out.split("\n")
    assert "<span class=\"ys\">  second'' still # not a comment</span>" in lines[1]
    assert '<span class="yx"># comment</span>' in lines[2]
    assert '<span class="yn">1</span>' in lines[3]
    assert plain_text(out) == expected_text(text)


def test_constants_numbers_flow_and_anchors() -> None:
    text = "a: true\nb: null\nc: 42\nd: [x, 'y', {z: 1}]\ne: &anchor value\nf: *anchor\n"
    out = str(highlight_yaml(text))
    assert '<span class="yc">true</span>' in out
    assert '<span class="yc">null</span>' in out
    assert '<span class="yn">42</span>' in out
    assert '<span class="yp">[</span>' in out and "<span class=\"ys\">'y'</span>" in out
    assert '<span class="ya">&amp;anchor</span>' in out
    assert '<span class="ya">*anchor</span>' in out
    assert plain_text(out) == expected_text(text)


def test_line_ids_and_counts() -> None:
    text = "a: 1\r\nb: 2\r\n"
    out = str(highlight_yaml(text, "L"))
    assert out.count('<span class="ln" id="L') == 2
    assert 'id="L2"' in out and 'id="L3"' not in out
    assert "\r" not in out
    assert line_count(text) == 2
    assert line_count("") == 0
    assert str(highlight_yaml("")) == '<span class="ln"></span>'


@pytest.mark.corpus
def test_the_text_survives_for_every_yaml_file_of_the_corpus(shared_dir: Path) -> None:
    """Walks every YAML file under ../shared/corpus: the highlighted text is the file's text, escaped."""
    files = sorted(p for p in (shared_dir / "corpus").rglob("*") if p.suffix in (".yml", ".yaml"))
    assert len(files) > 4000
    checked = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        out = str(highlight_yaml(text, "L"))
        assert "<" not in OUR_TAG.sub("", out), path
        assert plain_text(out) == expected_text(text), path
        checked += 1
    assert checked > 4000


@pytest.mark.parametrize(
    "line", ["---", "...", "--- # doc", "- - nested", "-", "key:", "'quoted key': v", "? complex"]
)
def test_odd_lines_keep_their_text(line: str) -> None:
    out = str(highlight_yaml(line + "\n"))
    assert plain_text(out) == line
