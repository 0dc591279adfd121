"""An incremental build after an edit ends where a full build of the same files does: the same relation
tables (neighbours, classes, same-action groups, section digests), corpus counts and rule documents, over
the relations fixture (tests/data/relations: rules made in pairs, a class of three, two rules on one cloud
action). Each edit makes a relation appear or disappear."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from relations_support import relations_config, relations_rules
from ruleatlas.build import build
from ruleatlas.store import open_catalog

RULES = "rules"
EDITS = [
    # the hunting rule stops being broader than the encoded ones: neighbours disappear, and the count of
    # `Image ends_with \powershell.exe` falls on the other rules' documents
    ("rules-threat-hunting/proc_powershell_any.yml", "'\\powershell.exe'", "'\\cmd.exe'"),
    # a member leaves the class of three (it becomes stricter than the other two)
    (f"{RULES}/proc_powershell_encoded_copy.yml", "' -enc '", "' -encodedcommand '"),
    # the cloud action of a pair changes: the same-action group dissolves
    (f"{RULES}/aws_iam_create_access_key.yml", "eventName: CreateAccessKey", "eventName: DeleteAccessKey"),
    # a title changes: the neighbours' sections show it
    (f"{RULES}/proc_powershell_encoded.yml", "title: Encoded PowerShell", "title: PowerShell Encoded"),
]
TABLES = {
    "rel_neighbours": "SELECT * FROM rel_neighbours ORDER BY 1, 2",
    "rel_classes": "SELECT * FROM rel_classes ORDER BY 1, 2",
    "rel_actions": "SELECT * FROM rel_actions ORDER BY 1, 2, 3",
    "rel_digests": "SELECT * FROM rel_digests ORDER BY 1",
    "rel_forms": "SELECT * FROM rel_forms ORDER BY 1",
    "rel_form_actions": "SELECT * FROM rel_form_actions ORDER BY 1, 2, 3",
    "indicator_counts": "SELECT * FROM indicator_counts ORDER BY 1, 2, 3, 4, 5",
    "exclusion_counts": "SELECT * FROM exclusion_counts ORDER BY 1, 2, 3, 4, 5",
    "indicator_spellings": "SELECT * FROM indicator_spellings ORDER BY 1, 2, 3, 4",
    "rules": "SELECT uid, title, level, doc FROM rules ORDER BY uid",
    "indicators": "SELECT * FROM indicators ORDER BY 1, 2, 3, 4, 5, 6, 7",
}


def _contents(out: Path) -> dict[str, Any]:
    db = sqlite3.connect(out / "catalog.sqlite")
    try:
        tables = {name: db.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        db.close()
    with open_catalog(out) as catalog:
        tables["documents"] = [catalog.rule_document(s["uid"]) for s in catalog.summaries()]
    return tables


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any, Any, str]]:
    """Per edit: (edit, the incremental build's contents, a full build's contents, the incremental mode)."""
    rules = relations_rules(tmp_path_factory, "incremental-rules")
    out = tmp_path_factory.mktemp("incremental-catalog")
    build(relations_config(rules, out))
    results = []
    for number, (path, old, new) in enumerate(EDITS):
        rule = rules / path
        text = rule.read_text(encoding="utf-8")
        assert old in text
        rule.write_text(text.replace(old, new), encoding="utf-8")
        summary = build(relations_config(rules, out))
        # A full build of the same files into a copy of the folder (its build caches too): nothing patched.
        full = tmp_path_factory.mktemp(f"full-{number}") / "out"
        shutil.copytree(out, full, symlinks=True)
        build(relations_config(rules, full), force_full=True)
        results.append((f"{path}: {new}", _contents(out), _contents(full), summary.mode))
    return results


@pytest.mark.parametrize("number", range(len(EDITS)))
def test_an_incremental_build_ends_where_a_full_build_does(
    edited: list[tuple[str, Any, Any, str]], number: int
) -> None:
    edit, incremental, full, mode = edited[number]
    assert mode == "incremental", edit
    for name in full:
        assert incremental[name] == full[name], f"{name} after {edit}"


def test_the_edits_move_relations(edited: list[tuple[str, Any, Any, str]]) -> None:
    """The fixture edits do what they say, so the comparisons above are of relations that changed."""
    hunting = "sigma/proc_powershell_any"
    assert not [row for row in edited[0][2]["rel_neighbours"] if hunting in row[:2]]
    classes = [len(full["rel_classes"]) for _, _, full, _ in edited]
    actions = [len(full["rel_actions"]) for _, _, full, _ in edited]
    assert classes[0] > classes[1]  # the class lost a member
    assert actions[1] > actions[2] == 0  # the action pair dissolved
    titles = {uid: title for uid, title, *_ in edited[3][2]["rules"]}
    assert titles["sigma/proc_powershell_encoded"].startswith("PowerShell Encoded")
    assert [row for row in edited[3][2]["rel_neighbours"] if "sigma/proc_powershell_encoded" in row[:2]]


# -- the site: an incremental build's pages are a full build's, byte for byte --------------------------------

ENCODED = f"{RULES}/proc_powershell_encoded.yml"
AWS_KEY = f"{RULES}/aws_iam_create_access_key.yml"
ADDED = f"{RULES}/proc_powershell_added.yml"
ADDED_TEXT = """title: Added PowerShell Download Cradle
id: 11111111-0000-4000-8000-0000000000aa
status: experimental
description: A rule added between two builds.
tags:
    - attack.defense-evasion
    - attack.t1027
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\powershell.exe'
        CommandLine|contains: 'DownloadString'
    condition: selection
level: medium
"""
# (what, [(file, old text, new text)], the build's mode): each pair of builds costs ~5 s of CPU. Each kind of
# edit takes its own path through the pages step (web/attack_pages.py, web/catalog_changes.py): a level
# only moves the matrix's filter data and the lists, a technique the ATT&CK aggregates, a title the lists
# and the search order. A file added or removed makes the next build a full one (the plan patches a catalog
# of the same set of files): compared all the same. Old text "" creates the file, new text "" removes it.
SITE_EDITS: list[tuple[str, list[tuple[str, str, str]], str]] = [
    ("level", [(ENCODED, "level: high", "level: critical")], "incremental"),
    ("technique", [(ENCODED, "attack.t1059.001", "attack.t1036")], "incremental"),
    (
        "title, and a member leaves the class of three",
        [
            (ENCODED, "title: Encoded PowerShell", "title: PowerShell Encoded"),
            (f"{RULES}/proc_powershell_encoded_copy.yml", "' -enc '", "' -encodedcommand '"),
        ],
        "incremental",
    ),
    # The telemetry summary pages are rendered again only when what they read of the changed rules changed
    # (web/telemetry_changes.py): a level alone moves the priority ranking and the provider pages, not the
    # index or the vendor pages; a title alone the event pages; a rule leaving the counts every figure.
    ("level of a cloud rule", [(AWS_KEY, "level: medium", "level: high")], "incremental"),
    (
        "title of a rule, and a cloud rule deprecated",
        [
            (f"{RULES}/proc_powershell_or_pwsh.yml", "title: PowerShell or pwsh", "title: PowerShell 5 or 7"),
            (f"{RULES}/aws_iam_create_access_key_root.yml", "status: test", "status: deprecated"),
        ],
        "incremental",
    ),
    # the fields a rule reads: its event's field counts, and the events bridged to it that carry them
    (
        "fields a rule reads",
        [(f"{RULES}/proc_powershell_regex.yml", "CommandLine|re:", "ParentCommandLine|re:")],
        "incremental",
    ),
    ("a rule added", [(ADDED, "", ADDED_TEXT)], "full"),
    ("the rule removed", [(ADDED, ADDED_TEXT, "")], "full"),
]
BUILT_AT = re.compile(rb"Built [^<]*")  # the home page says when it was built


def _site_files(site: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(site.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            name = str(path.relative_to(site))
            files[name] = BUILT_AT.sub(b"", data) if path.name == "index.html" else data
    return files


def _apply(rules: Path, path: str, old: str, new: str) -> None:
    rule = rules / path
    if not old:
        assert not rule.exists()
        rule.write_text(new, encoding="utf-8")
        return
    if not new:
        assert rule.read_text(encoding="utf-8") == old
        rule.unlink()
        return
    text = rule.read_text(encoding="utf-8")
    assert old in text
    rule.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def edited_sites(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any, Any, str]]:
    """Per site edit: (what, the incremental build's site files, a full build's, the incremental mode)."""
    rules = relations_rules(tmp_path_factory, "site-rules")
    out = tmp_path_factory.mktemp("site-catalog")
    config = relations_config(rules, out)
    config.pages = True
    build(config)
    results = []
    for number, (what, edits, _mode) in enumerate(SITE_EDITS):
        for path, old, new in edits:
            _apply(rules, path, old, new)
        summary = build(config)
        full = tmp_path_factory.mktemp(f"site-full-{number}") / "out"
        full_config = relations_config(rules, full)
        full_config.pages = True
        build(full_config)
        results.append((what, _site_files(out / "site"), _site_files(full / "site"), summary.mode))
    return results


@pytest.mark.parametrize("number", range(len(SITE_EDITS)))
def test_an_incremental_build_writes_the_site_a_full_build_does(
    edited_sites: list[tuple[str, Any, Any, str]], number: int
) -> None:
    what, incremental, full, mode = edited_sites[number]
    assert mode == SITE_EDITS[number][2], what
    assert sorted(incremental) == sorted(full), what
    different = [name for name in full if incremental[name] != full[name]]
    assert different == [], what


def test_the_site_edits_show_on_pages(edited_sites: list[tuple[str, Any, Any, str]]) -> None:
    """The edits reach the pages they should, so the comparisons above are of pages that changed."""
    page = "rules/sigma/proc_powershell_encoded/index.html"
    fulls = [full for _, _, full, _ in edited_sites]
    level, technique, title, added, removed = fulls[0], fulls[1], fulls[2], fulls[6], fulls[7]
    assert b"critical" in level[page]
    assert (
        b"T1036" not in level[page] and b"T1036" in technique[page] and "attack/T1036/index.html" in technique
    )
    assert b"PowerShell Encoded" in title[page] and b"PowerShell Encoded" not in technique[page]
    classes = [name for name in technique if name.startswith("rules/eq/") and name.count("/") == 3]
    assert classes and all(b"proc_powershell_encoded_copy" in technique[name] for name in classes)
    assert not any(b"proc_powershell_encoded_copy" in title[name] for name in title if name in classes)
    new_page = "rules/sigma/proc_powershell_added/index.html"
    assert new_page in added and new_page not in removed and new_page not in title
    assert b"Added PowerShell Download Cradle" in added["data/rules.js"]


def test_the_telemetry_edits_show_on_pages(edited_sites: list[tuple[str, Any, Any, str]]) -> None:
    """The telemetry edits reach the summary pages they should (so the comparisons above are of summary
    pages that changed) and leave alone the ones that read nothing they changed."""
    fulls = [full for _, _, full, _ in edited_sites]
    before, level, title, fields = fulls[2], fulls[3], fulls[4], fulls[5]
    priority, index = "telemetry/priority/index.html", "telemetry/index.html"
    assert level[priority] != before[priority]  # the cloud rule weighs more
    assert level[index] == before[index]  # the index counts rules, not their levels
    assert title[index] != level[index]  # a rule left the counts
    events = [n for n in title if n.startswith("telemetry/") and b"PowerShell 5 or 7" in title[n]]
    assert events and all(b"PowerShell or pwsh" in level[n] for n in events)
    assert any(fields[n] != title[n] for n in fields if n.startswith("telemetry/") and n in title)
