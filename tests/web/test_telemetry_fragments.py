"""The telemetry pages' HTML fragments: inline Markdown of the definitions' descriptions becomes HTML, and
nothing else does."""

from __future__ import annotations

from ruleatlas.web.telemetry_fragments import markdown_inline


def test_descriptions_render_their_inline_markdown() -> None:
    html = markdown_inline("**Note:** the `Image` field, see [docs](https://example.org/a_b) and *this*.")
    assert str(html) == (
        '<strong>Note:</strong> the <code>Image</code> field, see <a href="https://example.org/a_b" '
        'rel="noopener">docs</a> and <em>this</em>.'
    )


def test_markup_in_the_text_stays_text() -> None:
    html = str(markdown_inline("<script>alert(1)</script> **<b>x</b>** [x](javascript:alert(1)) a*b*c"))
    assert "<script>" not in html and "<b>" not in html and "href" not in html
    assert html.startswith("&lt;script&gt;alert(1)&lt;/script&gt; <strong>&lt;b&gt;x&lt;/b&gt;</strong>")
    assert html.endswith("[x](javascript:alert(1)) a*b*c")
