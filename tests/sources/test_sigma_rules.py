"""Sigma documents → Rule: stages, search expressions, metadata, kinds, multi-document files, filters."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ruleatlas.model import All, Any, Kind, Not, Pred, Problem, Ref, Rule, RuleKind
from ruleatlas.sources.sigma import attack_ids, split_authors

Parse = Callable[..., tuple[list[Rule], list[Problem]]]

SAMPLE = """\
title: Sample
id: 3ab65069-d82a-4d44-a759-466661a082d1
status: test
description: |
    Two lines
    of text.
author: Alice (Org, Team), Bob and Carol
date: 2024-06-17
modified: 2024/7/1
references:
    - https://example.org/a
tags:
    - attack.command-and-control
    - attack.t1572
    - attack.T1090.001
    - attack.t1572
    - attack.g0016
logsource:
    category: network_connection
    product: windows
related:
    - id: 08fbc97d-0a2f-491c-ae21-8ffcfd3174e9
      type: derived
detection:
    selection:
        DestinationHostname|endswith:
            - '.localto.net'
            - '.localtonet.com'
        Initiated: 'true'
    filter_main_svc:
        # a comment inside the identifier is part of its text
        Image|endswith: '\\svchost.exe'   # and so is a trailing one
    keywords:
        - 'evil'
        - 42
    condition: (selection or keywords) and not filter_main_svc
fields:
    - Image
falsepositives: Legitimate use
level: high
"""


def test_stages_labels_order_text_and_lines(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(SAMPLE)
    assert [(s.index, s.label, s.op, s.line) for s in rule.stages] == [
        (0, "condition", "condition", 36),
        (1, "selection", "search", 25),
        (2, "filter_main_svc", "search", 30),
        (3, "keywords", "search", 33),
    ]
    assert rule.stages[0].text == "(selection or keywords) and not filter_main_svc"
    assert rule.stages[0].expr == All((Any((Ref("selection"), Ref("keywords"))), Not(Ref("filter_main_svc"))))
    assert rule.stages[1].text == (
        "selection:\n"
        "    DestinationHostname|endswith:\n"
        "        - '.localto.net'\n"
        "        - '.localtonet.com'\n"
        "    Initiated: 'true'"
    )
    assert rule.stages[2].text == (
        "filter_main_svc:\n"
        "    # a comment inside the identifier is part of its text\n"
        "    Image|endswith: '\\svchost.exe'   # and so is a trailing one"
    )
    assert rule.stages[3].text == "keywords:\n    - 'evil'\n    - 42"


def test_search_expressions(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(SAMPLE)
    assert rule.stages[1].expr == All(
        (
            Any(
                (
                    Pred(
                        "DestinationHostname",
                        Kind.ENDS_WITH,
                        ".localto.net",
                        native="DestinationHostname|endswith",
                    ),
                    Pred(
                        "DestinationHostname",
                        Kind.ENDS_WITH,
                        ".localtonet.com",
                        native="DestinationHostname|endswith",
                    ),
                )
            ),
            Pred("Initiated", Kind.EQ, "true", native="Initiated"),
        )
    )
    assert rule.stages[2].expr == Pred("Image", Kind.ENDS_WITH, "\\svchost.exe", native="Image|endswith")
    assert rule.stages[3].expr == Any((Pred(None, Kind.EQ, "evil"), Pred(None, Kind.EQ, 42)))


def test_metadata(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        SAMPLE, path="rules/windows/net/sample_rule.yml", repo_url="https://github.com/SigmaHQ/sigma"
    )
    assert rule.uid == "sigma/sample_rule"
    assert (rule.vendor, rule.language, rule.folder, rule.kind) == (
        "sigma",
        "sigma",
        "rules",
        RuleKind.DETECTION,
    )
    assert (rule.title, rule.id, rule.status, rule.level) == (
        "Sample",
        "3ab65069-d82a-4d44-a759-466661a082d1",
        "test",
        "high",
    )
    assert rule.description == "Two lines\nof text.\n"
    assert rule.author == "Alice (Org, Team), Bob and Carol"
    assert rule.authors == ("Alice (Org, Team)", "Bob", "Carol")
    assert (rule.date, rule.modified) == ("2024-06-17", "2024-07-01")
    assert rule.references == ("https://example.org/a",)
    assert rule.falsepositives == ("Legitimate use",)
    assert rule.tags[:3] == ("attack.command-and-control", "attack.t1572", "attack.T1090.001")
    assert rule.attack_ids == ("T1572", "T1090.001")
    assert rule.logsource == {"category": "network_connection", "product": "windows"}
    assert rule.related == ({"id": "08fbc97d-0a2f-491c-ae21-8ffcfd3174e9", "type": "derived"},)
    assert rule.fields == ("Image",)
    assert rule.line == 1
    assert rule.body == SAMPLE
    assert rule.content_hash == hashlib.sha256(SAMPLE.encode()).hexdigest()
    assert rule.source.path == "rules/windows/net/sample_rule.yml"
    assert rule.source.url == "https://github.com/SigmaHQ/sigma/blob/master/rules/windows/net/sample_rule.yml"
    assert rule.problems == []


def test_source_url_uses_the_commit(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(SAMPLE, repo_url="https://github.com/SigmaHQ/sigma/", commit="8eaafff1")
    assert rule.source.url == "https://github.com/SigmaHQ/sigma/blob/8eaafff1/rules/windows/sample_rule.yml"
    assert rule.source.commit == "8eaafff1"
    assert one_rule(SAMPLE).source.url == ""


def test_author_splitting_and_attack_ids() -> None:
    assert split_authors("Florian Roth (Nextron Systems), Tim Shelton") == (
        "Florian Roth (Nextron Systems)",
        "Tim Shelton",
    )
    assert split_authors("David Bertho (@dbertho) & Eirik Sveen (@0xSV1), Storebrand") == (
        "David Bertho (@dbertho)",
        "Eirik Sveen (@0xSV1)",
        "Storebrand",
    )
    assert split_authors("Karneades / Markus Neis") == ("Karneades / Markus Neis",)
    assert split_authors("'@2xxe (SRA) - rule; Teymur Kheirkhabarov (idea)'") == (
        "@2xxe (SRA) - rule",
        "Teymur Kheirkhabarov (idea)",
    )
    assert split_authors("Ömer Günal and remotephone, oscd.community") == (
        "Ömer Günal",
        "remotephone",
        "oscd.community",
    )
    assert split_authors("") == ()
    assert attack_ids(
        ("attack.t1059.001", "attack.T1003", "attack.s0002", "attack.execution", "car.2013-01-002")
    ) == (
        "T1059.001",
        "T1003",
    )


def test_list_of_maps_plain_string_null_and_empty(detect: Callable[..., Rule]) -> None:
    rule = detect(
        """
        selection:
            - Image|endswith: '\\a.exe'
            - Description|contains: 'Test'
              Product: null
        plain: 'just a keyword'
        empties:
            Field: ''
        """,
        condition="1 of them",
    )
    assert rule.stages[1].expr == Any(
        (
            Pred("Image", Kind.ENDS_WITH, "\\a.exe", native="Image|endswith"),
            All(
                (
                    Pred("Description", Kind.CONTAINS, "Test", native="Description|contains"),
                    Pred("Product", Kind.EQ, None, native="Product"),
                )
            ),
        )
    )
    assert rule.stages[2].expr == Pred(None, Kind.EQ, "just a keyword")
    assert rule.stages[3].expr == Pred("Field", Kind.EQ, "", native="Field")


def test_keyword_list_with_all_modifier(detect: Callable[..., Rule]) -> None:
    rule = detect(
        """
        keywords:
            '|all':
                - 'OabVirtualDirectory'
                - ' -ExternalUrl '
        """,
        condition="keywords",
    )
    assert rule.stages[1].expr == All(
        (
            Pred(None, Kind.EQ, "OabVirtualDirectory", native="|all"),
            Pred(None, Kind.EQ, " -ExternalUrl ", native="|all"),
        )
    )


def test_kinds_from_folder_status_and_document(parse: Parse) -> None:
    def kind(folder: str, extra: str = "") -> RuleKind:
        rules, _ = parse(SAMPLE.replace("status: test\n", extra), path=f"{folder}/x.yml", folder=folder)
        return rules[0].kind

    assert kind("rules") is RuleKind.DETECTION
    assert kind("rules-emerging-threats") is RuleKind.DETECTION
    assert kind("rules-threat-hunting") is RuleKind.HUNTING
    assert kind("deprecated") is RuleKind.DEPRECATED
    assert kind("rules", "status: deprecated\n") is RuleKind.DEPRECATED
    assert kind("unsupported") is RuleKind.UNSUPPORTED
    assert kind("unsupported", "status: deprecated\n") is RuleKind.DEPRECATED


def test_hostile_text_is_kept_verbatim(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        """
        title: <script>alert(1)</script>
        description: '<img src=x onerror=alert(document.cookie)>'
        logsource: {product: windows}
        detection:
            selection:
                CommandLine|contains: '"><script>'
            condition: selection
        """
    )
    assert rule.title == "<script>alert(1)</script>"
    assert rule.description == "<img src=x onerror=alert(document.cookie)>"
    assert "<script>alert(1)</script>" in rule.body
    assert rule.stages[1].expr == Pred(
        "CommandLine", Kind.CONTAINS, '"><script>', native="CommandLine|contains"
    )


def test_multi_document_file(parse: Parse) -> None:
    text = SAMPLE + "---\n" + SAMPLE.replace("title: Sample", "title: Second") + "---\n"
    rules, problems = parse(text, path="rules/multi_rule.yaml")
    assert problems == []
    assert [r.uid for r in rules] == ["sigma/multi_rule", "sigma/multi_rule-2"]
    assert [r.title for r in rules] == ["Sample", "Second"]
    second = rules[1]
    assert second.line == 42  # after the 40 lines of SAMPLE and the "---" line
    assert second.body == SAMPLE.replace("title: Sample", "title: Second")
    assert second.stages[1].line == 25 + 41
    assert second.content_hash == rules[0].content_hash == hashlib.sha256(text.encode()).hexdigest()


def test_problem_in_one_document_keeps_the_others(parse: Parse) -> None:
    rules, problems = parse(SAMPLE + "---\n- a list\n---\n" + SAMPLE)
    assert len(rules) == 2
    [problem] = problems
    assert problem.message == "document 2 is a list, not a mapping: not a Sigma rule"
    assert problem.line == 42


def test_legacy_global_collection_is_merged_like_pysigma(parse: Parse) -> None:
    rules, problems = parse(
        """
        action: global
        title: Global title
        status: test
        detection:
            condition: all of selection*
        level: high
        ---
        logsource:
            product: windows
            service: security
        detection:
            selection1:
                EventID: 4624
        ---
        logsource:
            product: windows
            service: system
        detection:
            selection2:
                EventID: 7045
        ---
        action: reset
        ---
        title: After reset
        logsource:
            product: linux
        detection:
            sel:
                a: 1
            condition: sel
        """
    )
    assert problems == []
    assert [(r.uid, r.title, r.level, r.line) for r in rules] == [
        ("sigma/sample_rule", "Global title", "high", 8),
        ("sigma/sample_rule-2", "Global title", "high", 15),
        ("sigma/sample_rule-3", "After reset", "", 24),
    ]
    first = rules[0]
    assert first.logsource == {"product": "windows", "service": "security"}
    assert [(s.label, s.line) for s in first.stages] == [("condition", 5), ("selection1", 12)]
    assert first.stages[0].expr == Ref("selection1")
    assert first.body.startswith("action: global\n") and "---\nlogsource:" in first.body
    assert rules[1].stages[1].expr == Pred("EventID", Kind.EQ, 7045, native="EventID")


def test_legacy_repeat_action(parse: Parse) -> None:
    rules, problems = parse(
        """
        title: Base
        logsource: {product: windows}
        detection:
            selection: {EventID: 1}
            condition: selection
        ---
        action: repeat
        title: Repeated
        detection:
            selection: {EventID: 2}
        """
    )
    assert problems == []
    assert [r.title for r in rules] == ["Base", "Repeated"]
    assert rules[1].logsource == {"product": "windows"}
    assert rules[1].stages[1].expr == Pred("EventID", Kind.EQ, 2, native="EventID")


def test_unknown_collection_action(parse: Parse) -> None:
    rules, problems = parse("action: merge\ntitle: x\n---\n" + SAMPLE)
    assert len(rules) == 1
    [problem] = problems
    assert (problem.message, problem.line) == ("unknown collection action 'merge'", 1)


def test_filter_document(parse: Parse) -> None:
    rules, problems = parse(
        """
        title: Filter Administrator account
        description: The valid administrator account start with adm_
        logsource:
            category: process_creation
            product: windows
        filter:
            rules:
                - 6f3e2987-db24-4c78-a860-b4f4095a7095 # Data Compressed - rar.exe
                - df0841c0-9846-4e9f-ad8a-7df91571771b
            selection:
                User|startswith: 'adm_'
            condition: selection
        """,
        path="filters/mf_admin.yml",
        folder="filters",
    )
    assert problems == []
    [rule] = rules
    assert rule.kind is RuleKind.FILTER
    assert rule.filter is not None
    assert rule.filter.rules == (
        "6f3e2987-db24-4c78-a860-b4f4095a7095",
        "df0841c0-9846-4e9f-ad8a-7df91571771b",
    )
    assert [(s.label, s.line, s.text) for s in rule.stages] == [
        ("condition", 12, "selection"),
        ("selection", 10, "selection:\n    User|startswith: 'adm_'"),
    ]
    assert rule.stages[1].expr == Pred("User", Kind.STARTS_WITH, "adm_", native="User|startswith")
    assert rule.problems == []


def test_filter_for_any_rule_and_filter_problems(parse: Parse) -> None:
    rules, _ = parse(
        """
        title: Any
        logsource: {product: windows}
        filter:
            rules: any
            selection: {User: x}
            condition: selection
        """
    )
    assert rules[0].filter is not None and rules[0].filter.rules == ("any",)
    rules, _ = parse(
        """
        title: No rules
        filter:
            selection: {User: x}
            condition: [selection]
        """
    )
    assert [(p.message, p.line) for p in rules[0].problems] == [
        ("rule has no 'logsource'", 1),
        ("filter has no 'rules'", 2),
        ("a filter's condition must be a single string", 4),
    ]


def test_duplicate_keys_are_reported_and_the_last_one_wins(parse: Parse) -> None:
    rules, _ = parse(
        """
        title: Dup
        logsource: {product: windows}
        detection:
            selection:
                CommandLine|contains: a
                CommandLine|contains: b
            condition: selection
        """
    )
    rule = rules[0]
    assert rule.stages[1].expr == Pred("CommandLine", Kind.CONTAINS, "b", native="CommandLine|contains")
    [problem] = rule.problems
    assert problem.message == "duplicate key 'CommandLine|contains' (first at line 5)"
    assert problem.line == 6


def test_document_bodies_follow_the_yaml_markers(parse: Parse) -> None:
    flow = "{title: b, logsource: {product: x}, detection: {s: {A: 1}, condition: s}}"
    rules, problems = parse(
        "--- \ntitle: a\nlogsource: {product: x}\ndetection: {s: {A: 1}, condition: s}\n...\n--- "
        + flow
        + "\n"
    )
    assert problems == []
    assert [(r.title, r.line, r.body) for r in rules] == [
        ("a", 2, "title: a\nlogsource: {product: x}\ndetection: {s: {A: 1}, condition: s}\n"),
        ("b", 6, "--- " + flow + "\n"),  # content on the marker line keeps the line
    ]
    assert rules[1].stages[1].text == "s: {A: 1}"
