"""A tiny Panther-like reader: `<stem>.yml` metadata, an optional `<stem>.py` body (a companion file)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ruleatlas.model import Problem, Rule, RuleKind, SourceRef
from ruleatlas.sources import RuleFile

VENDOR = "panther"
PARSER_VERSION = "fake-panther-1"


def list_files(root: Path) -> list[RuleFile]:
    out = []
    for path in sorted(root.rglob("*.yml")):
        rel = path.relative_to(root).as_posix()
        body = path.with_suffix(".py")
        companions = (body.relative_to(root).as_posix(),) if body.is_file() else ()
        out.append(RuleFile(path, rel, rel.split("/", 1)[0], companions))
    return out


def parse_file(
    text: str, rel_path: str, folder: str, *, repo_url: str, commit: str, companions: dict[str, str]
) -> tuple[list[Rule], list[Problem]]:
    if "raise-me" in text:
        raise ValueError("cannot cope with this file")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        return [], [Problem(rel_path, "not a mapping", line=1, hint="a Panther item is a YAML mapping")]
    stem = rel_path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    body = "\n".join([text, *companions.values()])
    rule = Rule(
        uid=f"panther/{stem}",
        vendor=VENDOR,
        language="python" if companions else "panther-yaml",
        source=SourceRef(repo_url, rel_path, commit),
        folder=folder,
        id=str(doc.get("RuleID", "")),
        title=str(doc.get("DisplayName", stem)),
        description=str(doc.get("Description", "")),
        level=str(doc.get("Severity", "")).lower(),
        kind=RuleKind(doc.get("Kind", "detection")),
        attack_ids=tuple(doc.get("Attack", ())),
        logsource={"product": "aws", "service": "cloudtrail"},
        body=body,
        facts=(("Log types", ", ".join(doc.get("LogTypes", ()))),),
        logic_parsed=False,
    )
    return [rule], []
