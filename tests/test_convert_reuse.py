"""Deploy as, made cheaper: one Converter reuses its backends and joined pipelines, reads a rule once and
skips re-checking regexes it built itself; its conversions must be exactly those of pySigma used plainly (a
new backend, a new pipeline and a fresh reading of the rule for every rule and target), run in a separate
process so that nothing the Converter changes in pySigma is in effect there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ruleatlas.analysis.deploy import Converter

DATA = Path(__file__).parent / "data" / "deploy" / "sigma" / "rules" / "windows"

_RULE = """title: {title}
id: {uid}
status: test
logsource:
    category: {category}
    product: {product}
detection:
    selection:
{selection}
    condition: {condition}
level: medium
"""

# Values with every regex special, a backend-escaped `/`, wildcards, a rule's own regexes (one invalid),
# a category Kusto's pipelines have no table for, and a Linux rule (another pipeline for the Elastic targets).
_SELECTIONS = (
    (
        "process_creation",
        "windows",
        "        CommandLine|contains: 'a.b*c+d?(e)[f]{g}^h$i|j\\\\k/l'",
        "selection",
    ),
    (
        "process_creation",
        "windows",
        "        CommandLine|re: '(?i)\\\\s+-enc(odedcommand)?\\\\s'",
        "selection",
    ),
    ("process_creation", "windows", "        CommandLine|re: 'unclosed('", "selection"),
    (
        "process_creation",
        "windows",
        "        Image|endswith:\n            - '\\\\a?.exe'\n            - '*\\\\b.exe'",
        "1 of sel*",
    ),
    ("webserver", "windows", "        cs-uri-query|contains: '/cgi-bin/'", "selection"),
    (
        "process_creation",
        "linux",
        "        Image|endswith: '/curl'\n        CommandLine|contains: ' -o '",
        "selection",
    ),
)


def _rules() -> list[tuple[str, tuple[str, ...]]]:
    """(rule text, the documents a correlation refers to) for the fixture rules and the ones above."""
    bodies = {p.name: p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.yml"))}
    rules: list[tuple[str, tuple[str, ...]]] = [
        (body, (bodies["base.yml"],) if name == "correlation.yml" else ()) for name, body in bodies.items()
    ]
    for n, (category, product, selection, condition) in enumerate(_SELECTIONS):
        uid = f"22222222-2222-4222-8222-{n:012d}"
        text = _RULE.format(
            title=f"Reuse {n}",
            uid=uid,
            category=category,
            product=product,
            selection=selection,
            condition=condition,
        )
        rules.append((text, ()))
    return rules


# pySigma used plainly, per rule and target: the reference. Reads (body, extra documents) pairs as JSON on
# stdin, writes each rule's conversions as JSON.
_PLAIN = """
import json, sys
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule
from ruleatlas.analysis import deploy

out = []
for body, extra in json.load(sys.stdin):
    conversions = []
    for tgt in deploy.TARGETS:
        pipeline = deploy.NO_PIPELINE
        try:
            collection = SigmaCollection.from_yaml("\\n---\\n".join([body, *extra]))
            first = collection.rules[0] if collection.rules else None
            pipeline = tgt.pipeline_for(deploy._logsource(first) if isinstance(first, SigmaRule) else {})
            cls = deploy._load(tgt.backend)
            backend = cls(deploy._load(pipeline.factory)()) if pipeline.factory else cls()
            query = deploy._query_text(backend.convert(collection, tgt.output_format))
            conversions.append([tgt.name, pipeline.name, query, ""])
        except Exception as exc:
            conversions.append([tgt.name, pipeline.name, "", deploy._message(exc)])
    out.append(conversions)
json.dump(out, sys.stdout)
"""


def test_a_reused_converter_gives_plain_pysigmas_conversions() -> None:
    rules = _rules()
    plain = subprocess.run(
        [sys.executable, "-c", _PLAIN], input=json.dumps(rules), capture_output=True, text=True, check=True
    )
    expected = json.loads(plain.stdout)
    converter = Converter()
    # Twice over: the second round runs on backends, pipelines and regex checks the first one used.
    for _ in range(2):
        got = [
            [[c.target, c.pipeline, c.query, c.error] for c in converter.convert(body, extra)]
            for body, extra in rules
        ]
        assert got == expected
    errors = {c[3].split(":")[0] for rule in expected for c in rule if c[3]}
    # The cases the comparison has to cover: an invalid regex refused, Kusto's missing table, and queries.
    assert "SigmaRegularExpressionError" in " ".join(c[3] for rule in expected for c in rule)
    assert "SigmaTransformationError" in errors
    assert sum(1 for rule in expected for c in rule if c[2]) >= 40
