"""Search: the query syntax, FTS5 ranking and highlighting, each filter, hostile input, and an index that
stays right through incremental builds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.store import Catalog, open_catalog
from ruleatlas.store.search import SearchError, fts_expression, marked_html, parse_query, search

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def catalog(store_catalog: Path) -> Catalog:
    return Catalog(store_catalog)


def uids(answer: dict[str, object]) -> list[str]:
    return [r["uid"] for r in answer["results"]]  # type: ignore[index, union-attr]


def test_parse_query_words_and_filters() -> None:
    q = parse_query(
        'mimikatz level:high field:"Command Line" technique:T1003 C:\\Windows\\ http://x/y "two words"'
    )
    assert q.words == ["mimikatz", "C:\\Windows\\", "http://x/y", "two words"]
    assert q.filters == {"level": ["high"], "field": ["Command Line"], "technique": ["T1003"]}
    assert q.prefix is False  # ends with a closing quote
    assert parse_query("powers").prefix is True
    assert parse_query("powers ").prefix is False
    assert parse_query("level:high level:critical level:high").filters == {"level": ["high", "critical"]}
    assert parse_query('" * - ( ) :').words == []  # nothing searchable: no word
    with pytest.raises(SearchError, match="too many words"):
        parse_query(" ".join(f"w{i}" for i in range(13)))


def test_fts_expression_quotes_everything() -> None:
    assert fts_expression(['say "hi"', "NEAR", "x*"], prefix=True) == '"say ""hi""" "NEAR" "x*"'
    assert fts_expression(["mimi"], prefix=True) == '"mimi"*'
    assert fts_expression(["mimi"], prefix=False) == '"mimi"'


def test_ranked_with_the_title_first_and_highlighted(catalog: Catalog) -> None:
    answer = search(catalog, "mimikatz")
    # the two title matches rank above the rule that mentions the word in its description only
    assert set(uids(answer)[:2]) == {"sigma/proc_creation_win_mimikatz_cli", "sigma/auditd_lnx_keyword"}
    assert uids(answer)[2] == "sigma/proc_creation_win_powershell_encoded"
    titles = {r["uid"]: r["title_html"] for r in answer["results"]}
    assert titles["sigma/proc_creation_win_mimikatz_cli"] == "<mark>Mimikatz</mark> Command Line"
    assert titles["sigma/proc_creation_win_powershell_encoded"] == "Suspicious PowerShell Encoded Command"
    assert "<mark>mimikatz</mark>" in answer["results"][2]["snippet_html"]


def test_results_as_you_type(catalog: Catalog) -> None:
    assert search(catalog, "mimi")["total"] == 3  # the last word is a prefix
    assert search(catalog, "mimi ")["total"] == 0  # a finished word is whole
    assert search(catalog, "Für")["total"] == 1 and search(catalog, "fur")["total"] == 1  # diacritics folded


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("field:CommandLine value:sekurlsa", {"sigma/proc_creation_win_mimikatz_cli"}),
        (
            "field:commandline mimikatz",
            {"sigma/proc_creation_win_mimikatz_cli", "sigma/proc_creation_win_powershell_encoded"},
        ),
        ("value:localto.net", {"sigma/net_connection_win_tunnel"}),
        ("value:MIMIPENGUIN", {"sigma/auditd_lnx_keyword"}),
        ("technique:T1003.001", {"sigma/proc_creation_win_mimikatz_cli"}),
        ("technique:T1003", {"sigma/proc_creation_win_mimikatz_cli"}),
        ("tactic:persistence", {"sigma/proc_creation_win_cmd_schtasks", "sigma/registry_win_run_key"}),
        ("tactic:TA0003", {"sigma/proc_creation_win_cmd_schtasks", "sigma/registry_win_run_key"}),
        ('tactic:"privilege escalation"', set()),  # no rule is tagged with it
        ("logsource:cloudtrail", {"sigma/aws_cloudtrail_disable_logging"}),
        ("logsource:network_connection", {"sigma/net_connection_win_tunnel"}),
        ("logsource:linux", {"sigma/proc_creation_lnx_base64_decode", "sigma/auditd_lnx_keyword"}),
        ("vendor:sigma level:critical", {"sigma/proc_creation_win_mimikatz_cli"}),
        (
            "status:stable level:high",
            {"sigma/proc_creation_win_powershell_encoded", "sigma/aws_cloudtrail_disable_logging"},
        ),
        ("powershell status:deprecated", {"sigma/proc_creation_win_old_powershell"}),
        (
            "level:high level:critical logsource:process_creation",
            {"sigma/proc_creation_win_powershell_encoded", "sigma/proc_creation_win_mimikatz_cli"},
        ),
        ("kind:hunting", {"sigma/proc_creation_win_hunting_powershell"}),
        ("product:aws", {"sigma/aws_cloudtrail_disable_logging"}),
    ],
)
def test_filters(catalog: Catalog, query: str, expected: set[str]) -> None:
    answer = search(catalog, query, per_page=100)
    assert set(uids(answer)) == expected
    assert answer["total"] == len(expected)


def test_retired_rules_only_on_request(catalog: Catalog) -> None:
    assert "sigma/proc_creation_win_old_powershell" not in uids(search(catalog, "powershell", per_page=100))
    assert "sigma/proc_creation_win_old_powershell" in uids(
        search(catalog, "powershell", per_page=100, retired=True)
    )


def test_hostile_text_comes_back_escaped(catalog: Catalog) -> None:
    answer = search(catalog, "hostile")
    assert (
        answer["results"][0]["title_html"]
        == "&lt;script&gt;alert(1)&lt;/script&gt; <mark>Hostile</mark> Title"
    )
    answer = search(catalog, "onerror")
    assert (
        "<img" not in answer["results"][0]["snippet_html"]
        and "&lt;img" in answer["results"][0]["snippet_html"]
    )
    assert marked_html('<a href="x">\x01b\x02</a>') == "&lt;a href=&#34;x&#34;&gt;<mark>b</mark>&lt;/a&gt;"


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "*",
        "NEAR(a b)",
        "a OR b",
        "a AND",
        "^x",
        "col:x",
        "x" * 999,
        "\x00",
        "-",
        "()",
        "'; DROP TABLE rules; --",
        "value:%",
        "value:_",
        "value:\\",
        "technique:%",
        "field:",
        "level:",
        "日本語",
        "🙂",
    ],
)
def test_hostile_queries_never_fail(catalog: Catalog, query: str) -> None:
    rules_before = catalog.stats()["rules"]
    answer = search(catalog, query)
    results = answer["results"]
    # one page of a consistent answer: all of a small total, or a full page of a larger one
    assert len(results) == min(answer["total"], 20), (answer["total"], len(results))
    assert all(catalog.rule_document(r["uid"]) is not None for r in results)
    assert catalog.stats()["rules"] == rules_before  # the query changed nothing


def test_empty_query_and_paging(catalog: Catalog) -> None:
    assert search(catalog, "")["total"] == 0
    two = search(catalog, "detects", page=1, per_page=2)
    assert len(two["results"]) == 2 and two["pages"] == -(-two["total"] // 2)
    assert search(catalog, "detects", page=10**9)["results"] == []


def test_search_index_follows_incremental_builds(tmp_path: Path) -> None:
    corpus = tmp_path / "sigma"
    shutil.copytree(DATA / "browse" / "sigma", corpus)
    config = BuildConfig(
        out=tmp_path / "out",
        sources=[SourceSpec("sigma", corpus)],
        attack=DATA / "attack",
        jobs=1,
        pages=False,
    )
    build(config)
    rule = corpus / "rules" / "windows" / "net_connection_win_tunnel.yml"
    rule.write_text(
        rule.read_text(encoding="utf-8").replace("Tunnel Service Connection", "Zebracorn Relay Link"),
        encoding="utf-8",
    )
    (corpus / "rules" / "linux" / "auditd_lnx_keyword.yml").unlink()
    summary = build(config)
    assert summary.mode == "full"  # a file went: uids are assigned again
    rule.write_text(rule.read_text(encoding="utf-8").replace("Zebracorn", "Quokkacorn"), encoding="utf-8")
    summary = build(config)
    assert summary.mode == "incremental" and summary.files_parsed == 1
    with open_catalog(config.out) as catalog:
        assert uids(search(catalog, "quokkacorn")) == ["sigma/net_connection_win_tunnel"]
        assert search(catalog, "zebracorn")["total"] == 0
        assert search(catalog, "mimipenguin")["total"] == 0
        rows = catalog.db.execute("SELECT COUNT(*) FROM rule_search").fetchone()[0]
        assert rows == catalog.db.execute("SELECT COUNT(*) FROM rules").fetchone()[0] == 11
        orphans = catalog.db.execute(
            "SELECT COUNT(*) FROM rule_search WHERE rowid NOT IN (SELECT rowid FROM rules)"
        ).fetchone()[0]
        assert orphans == 0


def test_corpus_search(shared_dir: Path, corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        answer = search(catalog, "localtonet")
        assert answer["results"][0]["uid"] == "sigma/net_connection_win_domain_localtonet_tunnel"
        assert search(catalog, "field:CommandLine value:mimikatz")["total"] >= 1
        assert search(catalog, "technique:T1059.001 level:high")["total"] > 10
        rows = catalog.db.execute("SELECT COUNT(*) FROM rule_search").fetchone()[0]
        assert rows == catalog.db.execute("SELECT COUNT(*) FROM rules").fetchone()[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # One indicator with both: the mimikatz rule has CommandLine indicators and excludes an Image value.
        ("field:CommandLine value:sekurlsa", {"sigma/proc_creation_win_mimikatz_cli"}),
        ("field:CommandLine value:admin_tool", set()),  # admin_tool is an Image value, and excluded
        ("field:Image value:admin_tool", set()),  # an exclusion is not what the rule looks for
        ("value:admin_tool", set()),
        ("exclusion:admin_tool", {"sigma/proc_creation_win_mimikatz_cli"}),
        ("field:image exclusion:ADMIN_TOOL", {"sigma/proc_creation_win_mimikatz_cli"}),
        ("field:CommandLine exclusion:admin_tool", set()),
    ],
)
def test_field_and_value_name_one_indicator(catalog: Catalog, query: str, expected: set[str]) -> None:
    assert set(uids(search(catalog, query, per_page=100))) == expected


def test_results_say_which_indicator_matched(catalog: Catalog) -> None:
    [result] = search(catalog, "field:CommandLine value:sekurlsa")["results"]
    assert result["matched"] == [
        {"field": "CommandLine", "kind": "contains", "value": "sekurlsa::", "exclusion": False}
    ]
    [result] = search(catalog, "exclusion:admin_tool")["results"]
    assert result["matched"] == [
        {"field": "Image", "kind": "ends_with", "value": "\\admin_tool.exe", "exclusion": True}
    ]
    assert search(catalog, "mimikatz")["results"][0]["matched"] == []


@pytest.mark.parametrize(
    ("query", "named_by"),
    [
        ("5b1a0001-0000-4000-8000-000000000002", "rule id"),
        ("5B1A0001-0000-4000-8000-000000000002", "rule id"),  # UUIDs are written either way
        ("proc_creation_win_mimikatz_cli", "file stem"),
        ("sigma/proc_creation_win_mimikatz_cli", "uid"),
    ],
)
def test_a_rule_id_stem_or_uid_finds_the_rule(catalog: Catalog, query: str, named_by: str) -> None:
    answer = search(catalog, query)
    first = answer["results"][0]
    assert (first["uid"], first["named_by"]) == ("sigma/proc_creation_win_mimikatz_cli", named_by)
    assert answer["total"] == len(answer["results"]) >= 1
    assert [r["uid"] for r in answer["results"]].count(first["uid"]) == 1


def test_a_retired_rule_is_found_by_its_stem(catalog: Catalog) -> None:
    answer = search(catalog, "proc_creation_win_old_powershell")
    assert uids(answer)[0] == "sigma/proc_creation_win_old_powershell"
    assert answer["results"][0]["named_by"] == "file stem"
