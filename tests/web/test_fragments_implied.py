"""An indicator counted under a Sigma comparison that its narrower native comparison implies says so on the
page ("implied by `process.args : "-enc"`"), where an exactly equal one says "from"; its document carries
`implied`."""

from __future__ import annotations

from ruleatlas.analysis.document import indicator_dict
from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import Kind, Pred, Rule, SourceRef, Stage, StageOp
from ruleatlas.web.fragments import indicator_groups


def _indicator_html(vendor: str, pred: Pred) -> tuple[dict[str, object], str]:
    rule = Rule(
        uid=f"{vendor}/r",
        vendor=vendor,
        language="x",
        source=SourceRef("", "r"),
        folder="rules",
        logsource={"product": "windows", "category": "process_creation"},
        stages=[Stage(0, "where", StageOp.FILTER, pred.native, pred)],
    )
    [indicator] = rule_indicators(rule).positives
    item = indicator_dict(indicator)
    item["corpus"] = {"total": 1, "by_vendor": {vendor: 1}}
    html, count = indicator_groups([item])
    assert count == 1
    return item, str(html)


def test_an_implied_comparison_says_implied_by() -> None:
    item, html = _indicator_html(
        "elastic", Pred("process.args", Kind.EQ, "-enc", native='process.args : "-enc"')
    )
    assert (item["field"], item["kind"], item["implied"]) == ("CommandLine", "contains", True)
    assert "implied by <code>process.args : &#34;-enc&#34;</code>" in html
    # Kusto's `has`: the same field, kind and value as stored, and still not the same comparison
    has = Pred("CommandLine", Kind.CONTAINS, "-enc", implies_only=True, native='CommandLine has "-enc"')
    item, html = _indicator_html("kusto", has)
    assert item["implied"] is True and "implied by <code>CommandLine has &#34;-enc&#34;</code>" in html


def test_an_exact_mapping_says_from() -> None:
    name = Pred("process.name", Kind.EQ, "cmd.exe", native='process.name : "cmd.exe"')
    item, html = _indicator_html("elastic", name)
    assert item["implied"] is False and "from <code>process.name : &#34;cmd.exe&#34;</code>" in html
    assert "implied by" not in html
