"""Rule page rendering speed (render_rule_page: view, YAML highlighting, templates). Prints figures; asserts
nothing. CPU time of this process (time.process_time), so other work on the machine inflates it less.

    .venv/bin/python bench/web_render.py [--shared ../shared] [--seconds 3]

1. the fixture documents of tests/data/web, repeated;
2. with ../shared: every Sigma rule of corpus/sigma parsed and analysed as the build does (ATT&CK names and
   events are not loaded here: placeholders of the same size are added), one pass with a cold line cache
   and one warm; and the YAML highlighter alone against Pygments' YamlLexer on the same bodies.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from ruleatlas.web import highlight
from ruleatlas.web.render import SiteRenderer

ROOT = Path(__file__).resolve().parents[1]
TECHNIQUE_TAG = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)")


def fixture_docs() -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "tests/data/web").glob("*.json"))
    ]


def corpus_docs(shared: Path) -> list[dict[str, Any]]:
    """Page documents for every Sigma rule, made as the build makes them, with corpus counts of 1..n and
    ATT&CK/event entries of the usual size (the names are placeholders)."""
    from ruleatlas.analysis.document import rule_document
    from ruleatlas.analysis.indicators import rule_indicators
    from ruleatlas.sources.sigma import read_sigma_tree

    event = {
        "provider": "Sysmon",
        "provider_name": "Microsoft-Windows-Sysmon",
        "channel": "Microsoft-Windows-Sysmon/Operational",
        "event_id": 1,
        "title": "Process creation",
    }
    docs = []
    for n, rule in enumerate(read_sigma_tree(shared / "corpus" / "sigma").rules):
        techniques = [m.group(1).upper() for t in rule.tags if (m := TECHNIQUE_TAG.fullmatch(t))]
        names = [{"id": t, "name": "Command and Scripting Interpreter"} for t in techniques]
        attack = [
            {"tactic": "Execution", "tactic_id": "TA0002", "shortname": "execution", "techniques": names}
        ]
        doc = rule_document(
            rule,
            rule_indicators(rule),
            attack=attack if techniques else [],
            attack_unknown=[],
            events=[event],
            events_note="",
        )
        for i, ind in enumerate(doc["indicators"] + doc["exclusions"]):
            total = 1 + (n + i) % 60
            ind["corpus"] = {"total": total, "by_vendor": {"sigma": total}}
        docs.append(doc)
    return docs


def rate(label: str, renderer: SiteRenderer, docs: list[dict[str, Any]], seconds: float) -> None:
    pages = 0
    start = time.process_time()
    while True:
        for doc in docs:
            renderer.render_rule_page(doc)
        pages += len(docs)
        spent = time.process_time() - start
        if spent >= seconds:
            break
    print(f"{label:<44} {pages / spent:8.0f} pages/s  {spent / pages * 1e6:6.0f} us/page  ({pages} pages)")


def one_pass(label: str, renderer: SiteRenderer, docs: list[dict[str, Any]]) -> None:
    start = time.process_time()
    for doc in docs:
        renderer.render_rule_page(doc)
    spent = time.process_time() - start
    per_page = spent / len(docs) * 1e6
    print(f"{label:<44} {len(docs) / spent:8.0f} pages/s  {per_page:6.0f} us/page  ({len(docs)} pages)")


def highlighters(docs: list[dict[str, Any]]) -> None:
    texts = [d["body"] for d in docs] + [s["text"] for d in docs for s in d["stages"]]
    lines = sum(t.count("\n") + 1 for t in texts)
    highlight._CACHE.clear()
    start = time.process_time()
    for text in texts:
        highlight.highlight_yaml(text)
    ours = time.process_time() - start
    label = "highlight_yaml (cold cache), bodies + stages"
    print(f"{label:<44} {ours / lines * 1e6:8.2f} us/line  ({lines} lines)")
    try:
        from pygments import highlight as pyg_highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import YamlLexer
    except ImportError:
        return
    lexer, formatter = YamlLexer(), HtmlFormatter(nowrap=True)
    start = time.process_time()
    for text in texts:
        pyg_highlight(text, lexer, formatter)
    theirs = time.process_time() - start
    label = "pygments YamlLexer, same texts"
    print(f"{label:<44} {theirs / lines * 1e6:8.2f} us/line  ({theirs / ours:.1f}x slower)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    renderer = SiteRenderer()
    fixtures = fixture_docs()
    rate(f"fixture docs x{len(fixtures)}, repeated", renderer, fixtures, args.seconds)
    if not (args.shared / "corpus" / "sigma").is_dir():
        print(f"no corpus at {args.shared}: corpus figures skipped")
        return 0
    try:
        docs = corpus_docs(args.shared)
    except (
        ImportError,
        TypeError,
        KeyError,
    ) as exc:  # the analysis API moved: say so, keep the fixture figure
        print(f"corpus documents could not be made ({type(exc).__name__}: {exc}); corpus figures skipped")
        return 0
    highlight._CACHE.clear()
    one_pass("sigma corpus, one pass, cold line cache", renderer, docs)
    one_pass("sigma corpus, second pass, warm line cache", renderer, docs)
    highlighters(docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
