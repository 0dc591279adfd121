"""A rule page as plain text, for `ruleatlas show`: the web page's sections, in the same order."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from itertools import groupby
from typing import Any


def _value_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _corpus_text(corpus: dict[str, Any], label: str = "corpus") -> str:
    split = ", ".join(f"{v} {n}" for v, n in corpus["by_vendor"].items())
    return f"{label} {corpus['total']}" + (f" ({split})" if split else "")


def _indicator_lines(items: list[dict[str, Any]]) -> list[str]:
    lines = []
    keyed = sorted(items, key=lambda i: (i["field"] or "", i["kind"]))
    for (field, kind), group in groupby(keyed, key=lambda i: (i["field"] or "", i["kind"])):
        lines.append(f"  {field or '(keyword)'} {kind}")
        for ind in group:
            extra = f" [{'|'.join(ind['transforms'])}]" if ind["transforms"] else ""
            counts = _corpus_text(ind["corpus"])
            if "looked_for" in ind:  # an exclusion: rules excluding the same key, and rules looking for it
                counts = _corpus_text(ind["corpus"], "excluded by")
                counts += "; " + _corpus_text(ind["looked_for"], "looked for by")
            lines.append(f"    • {_value_text(ind['value'])}{extra}  {counts}")
    return lines


def _event_label(event_id: object) -> str:
    # Platform events (CreateAccessKey, EXECVE) and the catch-alls of log sources without ids
    # (process_creation) carry a name instead of a number: the name alone, never "Event ID process_creation".
    return f"Event ID {event_id}" if isinstance(event_id, int) else str(event_id)


def _section(title: str, lines: list[str]) -> list[str]:
    return ["", title, "-" * len(title), *lines]


def render_text(doc: Mapping[str, Any]) -> str:
    """`ruleatlas show`'s text page of a rule document (analysis/document.py's `RuleDocument`: this leaf
    module imports nothing of RuleAtlas, so it reads the document as a mapping)."""
    out = [
        f"Detection rules › {doc['vendor'].capitalize()} › {doc['folder']}",
        "",
        doc["title"] or doc["uid"],
        "",
    ]
    meta = [
        ("Status", doc["status"]),
        ("Severity", doc["level"]),
        ("Log source", doc["logsource_text"]),
        ("Author", doc["author"]),
        ("Source", doc["source"]["url"] or doc["source"]["path"]),
        ("Kind", doc["kind"]),
        ("UID", doc["uid"]),
    ]
    out += [f"{k:<11} {v}" for k, v in meta if v]
    if doc["description"]:
        out += ["", *textwrap.fill(doc["description"].strip(), width=100).splitlines()]
    if doc["references"]:
        out += _section("References", [f"  - {r}" for r in doc["references"]])
    if doc["falsepositives"]:
        out += _section("False positives", [f"  - {r}" for r in doc["falsepositives"]])
    attack = [
        f"  {t['tactic']} ({t['tactic_id']})"
        + (f" [tagged {', '.join(t['tagged_as'])}]" if t.get("tagged_as") else "")
        + ": "
        + ", ".join(
            f"{x['id']} {x['name']}" + (f" — {x['note']}" if x.get("note") else "") for x in t["techniques"]
        )
        for t in doc["attack"]
    ]
    if doc["attack_unknown"]:
        attack.append("  unknown tags: " + ", ".join(doc["attack_unknown"]))
    out += _section("MITRE ATT&CK coverage", attack or ["  (none)"])
    events = [f"  {e['provider']:<14} {_event_label(e['event_id']):<22} {e['title']}" for e in doc["events"]]
    out += _section("Event coverage", events or [f"  ({doc['events_note'] or 'none'})"])
    out += _section("Rule body", ["  " + line for line in doc["body"].rstrip("\n").splitlines()])
    stages = []
    for stage in doc["stages"]:
        stages += [f"  Stage {stage['index']}: {stage['label']}", ""]
        stages += ["    " + line for line in stage["text"].rstrip("\n").splitlines()] + [""]
    out += _section("Stages and predicates", stages)
    out += _section("Indicators", _indicator_lines(doc["indicators"]) or ["  (none)"])
    if doc["exclusions"]:
        out += _section("Exclusions", _indicator_lines(doc["exclusions"]))
    if doc["correlation"]:
        c = doc["correlation"]
        out += _section(
            "Correlation",
            [
                f"  type {c['type']}, rules {', '.join(c['rules'])}, "
                f"group-by {', '.join(c['group_by']) or '-'}, timespan {c['timespan']}, "
                f"condition {c['condition']}"
            ],
        )
    out += _relation_lines(doc)
    if doc["problems"]:
        out += _section(
            "Problems",
            [
                f"  {p['severity']}: line {p['line'] or '?'}: {p['message']}"
                + (f" (hint: {p['hint']})" if p["hint"] else "")
                for p in doc["problems"]
            ],
        )
    return "\n".join(out) + "\n"


def _relation_lines(doc: Mapping[str, Any]) -> list[str]:
    """Related rules, fires-on samples and deploy-as conversions (store/deploy.py) where the rule has them."""
    out: list[str] = []
    links = doc.get("related_links") or []
    if links:
        lines = []
        for x in links:
            other = x["uid"] or f"{x['id']} (no rule in this catalog has this id)"
            if x["direction"] == "in":
                lines.append(f"  {other} {x['phrase']}")
            else:
                lines.append(f"  {x['phrase']} {other}")
        out += _section("Related rules", lines)
    fires = doc.get("fires_on")
    if fires is not None:
        samples = fires["samples"]
        plural = "" if len(samples) == 1 else "s"
        head = f"  seen firing on {len(samples)} sample{plural}" if samples else "  no sample fires it"
        out += _section(
            "Fires on samples",
            [f"{head} (of {fires['samples_checked']} run)"]
            + [f"  {s['name']}: records {', '.join(str(r) for r in s['records'])}" for s in samples],
        )
    deploy = doc.get("deploy") or []
    if deploy:
        lines = []
        for c in deploy:
            lines.append(f"  {c['label']} (pipeline {c['pipeline']}):")
            body = c["query"] if not c["error"] else f"refused by the backend: {c['error']}"
            lines += ["    " + line for line in body.splitlines()] + [""]
        out += _section("Deploy as", lines)
    return out
