"""Sigma's `related:` links both ways, dangling ids, and siblings in other log sources."""

from __future__ import annotations

from ruleatlas.analysis.related import RuleFacts, facts_of, names_logsource, rule_links, title_family

WIN_PROC = (("category", "process_creation"), ("product", "windows"))


def _rule(
    uid: str,
    title: str,
    logsource: dict[str, str],
    related: tuple[dict[str, str], ...] = (),
    rule_id: str = "",
) -> RuleFacts:
    return facts_of(uid, "sigma", rule_id or uid.upper(), title, logsource, related)


def test_a_related_link_shows_on_both_rules() -> None:
    base = _rule(
        "sigma/base", "Whoami", {"category": "process_creation", "product": "windows"}, rule_id="id-a"
    )
    derived = _rule(
        "sigma/derived",
        "Whoami Priv",
        {"category": "process_creation", "product": "windows"},
        ({"id": "id-a", "type": "derived"},),
    )
    links = rule_links([base, derived])
    [out] = links["sigma/derived"]
    assert (out.direction, out.type, out.uid, out.title, out.phrase) == (
        "out",
        "derived",
        "sigma/base",
        "Whoami",
        "Derived from",
    )
    [back] = links["sigma/base"]
    assert (back.direction, back.uid, back.phrase) == ("in", "sigma/derived", "derives from this rule")


def test_a_dangling_id_is_kept_unlinked() -> None:
    lone = _rule("sigma/lone", "Lone", {"product": "windows"}, ({"id": "no-such-id", "type": "obsolete"},))
    [link] = rule_links([lone])["sigma/lone"]
    assert (link.uid, link.rule_id, link.type, link.phrase) == ("", "no-such-id", "obsolete", "Obsoletes")


def test_sigma_v1_obsoletes_reads_as_obsolete_and_unknown_types_are_shown_as_written() -> None:
    target = _rule("sigma/t", "T", {"product": "windows"}, rule_id="id-t")
    old = _rule(
        "sigma/o",
        "O",
        {"product": "windows"},
        ({"id": "id-t", "type": "obsoletes"}, {"id": "id-t", "type": "cousin"}),
    )
    links = rule_links([target, old])
    assert [(link.type, link.phrase) for link in links["sigma/o"]] == [
        ("obsolete", "Obsoletes"),
        ("cousin", "Related (cousin)"),
    ]
    assert [link.phrase for link in links["sigma/t"]] == [
        "obsoletes this rule",
        "is related (cousin) to this rule",
    ]


def test_ids_resolve_within_the_rules_own_source_first() -> None:
    sigmahq = facts_of("sigma/a", "sigma", "id-a", "A", {"product": "windows"}, [])
    copy = facts_of("sigma/a-2", "hayabusa", "id-a", "A", {"product": "windows"}, [])
    child = facts_of(
        "sigma/b", "sigma", "id-b", "B", {"product": "windows"}, [{"id": "ID-A", "type": "similar"}]
    )
    [link] = rule_links([sigmahq, copy, child])["sigma/b"]
    assert link.uid == "sigma/a"


def test_a_suffix_is_removed_only_when_it_names_the_rules_log_source() -> None:
    assert names_logsource("Registry", (("category", "registry_set"), ("product", "windows")))
    assert names_logsource("DNS", (("category", "dns_query"),))
    assert names_logsource("Web", (("category", "webserver"),))
    assert names_logsource("Linux", (("category", "process_creation"), ("product", "linux")))
    assert not names_logsource("AnyDesk Execution", WIN_PROC)
    assert not names_logsource("PS", WIN_PROC)  # too short to name anything
    assert title_family("Scheduled Task Created - Registry", (("category", "registry_event"),)) == (
        "scheduled task created"
    )
    assert (
        title_family("Remote Access Tool - AnyDesk Execution", WIN_PROC)
        == "remote access tool - anydesk execution"
    )
    assert title_family("Child Process (Linux)", (("product", "linux"),)) == "child process"


def test_siblings_are_the_same_title_family_in_other_log_sources() -> None:
    rules = [
        _rule(
            "sigma/task_reg",
            "Scheduled Task Created - Registry",
            {"category": "registry_event", "product": "windows"},
        ),
        _rule(
            "sigma/task_file",
            "Scheduled Task Created - FileCreation",
            {"category": "file_event", "product": "windows"},
        ),
        _rule("sigma/task_sec", "Scheduled Task Created", {"service": "security", "product": "windows"}),
        # the same tool prefix, other detections: not siblings
        _rule(
            "sigma/rat_a",
            "Remote Access Tool - AnyDesk Execution",
            {"category": "process_creation", "product": "windows"},
        ),
        _rule(
            "sigma/rat_b",
            "Remote Access Tool - AnyDesk Incoming Connection",
            {"category": "network_connection", "product": "windows"},
        ),
        # same title and same log source: a duplicate, not a sibling in another log source
        _rule("sigma/dup_a", "Same Thing", {"category": "process_creation", "product": "windows"}),
        _rule("sigma/dup_b", "Same Thing", {"category": "process_creation", "product": "windows"}),
    ]
    links = rule_links(rules)
    siblings = {
        uid: sorted(link.uid for link in v if link.direction == "sibling") for uid, v in links.items()
    }
    assert siblings == {
        "sigma/task_reg": ["sigma/task_file", "sigma/task_sec"],
        "sigma/task_file": ["sigma/task_reg", "sigma/task_sec"],
        "sigma/task_sec": ["sigma/task_file", "sigma/task_reg"],
    }
    phrase = next(link.phrase for link in links["sigma/task_reg"] if link.uid == "sigma/task_sec")
    assert phrase == "Same detection for product windows, service security"
