"""SPL into stages and predicates: the command split, macro expansion, search and eval expressions, renames,
lookups, and a search that does not parse (text stages and a located Problem)."""

from __future__ import annotations

import textwrap

from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import MEMBERSHIP, All, Any, Kind, Not, Pred, Rule, StageOp
from ruleatlas.sources import splunk
from ruleatlas.sources.splunk.macros import MAX_EXPANDED, expand
from ruleatlas.sources.splunk.parse import Parsed, build_stages
from ruleatlas.sources.splunk.support import Macro

MACROS = {
    "process_powershell": Macro(
        "process_powershell",
        "(Processes.process_name=pwsh.exe OR Processes.process_name=powershell.exe"
        " OR Processes.original_file_name=PowerShell.EXE)",
    ),
    "sysmon": Macro("sysmon", "sourcetype=XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"),
    "security_content_summariesonly": Macro(
        "security_content_summariesonly", "summariesonly=`summariesonly_config` allow_old_summaries=true"
    ),
    "summariesonly_config": Macro("summariesonly_config", "false"),
    "security_content_ctime(1)": Macro(
        "security_content_ctime", 'convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)', ("field",)
    ),
}


def stages(search: str) -> Parsed:
    return build_stages(search, MACROS, 10)


def filter_expr(search: str) -> object:
    return next(s.expr for s in stages(search).stages if s.op == StageOp.FILTER)


def test_macros_expand_recursively_with_arguments() -> None:
    done = expand(
        "| tstats `security_content_summariesonly` count | `security_content_ctime(firstTime)`", MACROS
    )
    assert done.text == (
        '| tstats summariesonly=false allow_old_summaries=true count | convert timeformat="%Y-%m-%dT%H:%M:%S"'
        " ctime(firstTime)"
    )
    empty = expand("x=1 | `my_rule_filter` | `get_asset(dest)` | `drop_dm_object_name(Processes)`", MACROS)
    # an empty `_filter` macro is nothing (ESCU ships them empty); an undefined one stays, named
    assert empty.text == "x=1 |  | `get_asset(dest)` | `drop_dm_object_name(Processes)`"
    assert (empty.unresolved, empty.empty_filters) == (["get_asset"], ["my_rule_filter"])


def test_tstats_is_source_filter_and_aggregate() -> None:
    parsed = stages(
        "| tstats `security_content_summariesonly` count min(_time) as firstTime"
        ' from datamodel=Endpoint.Processes where `process_powershell` Processes.process="*-enc*"'
        " by Processes.dest Processes.process_name | `drop_dm_object_name(Processes)`"
        ' | `security_content_ctime(firstTime)` | where process_name="pwsh.exe" | `rule_filter`'
    )
    ops = [(s.label, s.op) for s in parsed.stages]
    assert ops == [
        ("tstats", StageOp.SOURCE),
        ("tstats", StageOp.FILTER),
        ("tstats", StageOp.AGGREGATE),
        ("drop_dm_object_name", StageOp.TRANSFORM),
        ("convert", StageOp.TRANSFORM),
        ("where", StageOp.FILTER),
        ("filter macro", StageOp.FILTER),
    ]
    source, where, aggregate = parsed.stages[:3]
    assert source.expr == Pred(
        "datamodel", Kind.EQ, "Endpoint.Processes", native="from datamodel=Endpoint.Processes", scope=True
    )
    assert where.text == 'where `process_powershell` Processes.process="*-enc*"'  # macros as written
    assert isinstance(where.expr, All)
    first, command_line = where.expr.items
    assert (
        isinstance(first, Any)
        and Pred(
            "Processes.process_name",
            Kind.EQ,
            "powershell.exe",
            native="Processes.process_name=powershell.exe",
        )
        in first.items
    )
    assert command_line == Pred(
        "Processes.process", Kind.CONTAINS, "-enc", native='Processes.process="*-enc*"'
    )
    assert aggregate.defines == ("count", "firstTime")
    # after drop_dm_object_name, process_name is the data model's Processes.process_name; where is cased
    assert parsed.stages[5].expr == Pred(
        "Processes.process_name", Kind.EQ, "pwsh.exe", cased=True, native='process_name="pwsh.exe"'
    )
    assert parsed.stages[6].text == "`rule_filter`"


def test_search_expressions() -> None:
    expr = filter_expr(
        '`sysmon` EventCode=1 NOT Image="*\\\\rundll32.exe" CommandLine!=*foo* User IN ("a", b,)'
        " mimikatz count>5 ParentImage=*"
    )
    assert expr == All(
        (
            Pred(
                "sourcetype",
                Kind.EQ,
                "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
                native="sourcetype=XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
                scope=True,
            ),
            Pred("EventCode", Kind.EQ, 1, native="EventCode=1"),
            Not(Pred("Image", Kind.ENDS_WITH, "\\rundll32.exe", native='Image="*\\\\rundll32.exe"')),
            Not(Pred("CommandLine", Kind.CONTAINS, "foo", native="CommandLine!=*foo*")),
            Any(
                (
                    Pred("User", Kind.EQ, "a", native='User IN ("a")'),
                    Pred("User", Kind.EQ, "b", native="User IN (b)"),
                )
            ),
            Pred(None, Kind.EQ, "mimikatz", native="mimikatz"),
            Pred("count", Kind.GT, 5, native="count>5"),
            Pred("ParentImage", Kind.EXISTS, True, native="ParentImage=*"),
        )
    )


def test_where_functions() -> None:
    expr = filter_expr(
        '| where like(lower(process), "%-enc%") AND match(cmd, "(?i)\\\\.ps1$") AND in(host, "a", "b")'
        ' AND isnull(parent) AND cidrmatch("10.0.0.0/8", src) AND user==src_user AND len(cmd) > 100'
        ' AND NOT searchmatch("x=1")'
    )
    assert isinstance(expr, All)
    like, match, members, null, cidr, ref, length, negated = expr.items
    assert like == Pred("process", Kind.CONTAINS, "-enc", native='like(lower(process), "%-enc%")')
    assert match == Pred(
        "cmd", Kind.REGEX, "(?i)\\.ps1$", regex_flags="i", native='match(cmd, "(?i)\\\\.ps1$")'
    )
    assert isinstance(members, Any) and [p.value for p in members.items if isinstance(p, Pred)] == ["a", "b"]
    assert null == Not(Pred("parent", Kind.EXISTS, True, native="isnull(parent)"))
    assert cidr == Pred("src", Kind.CIDR, "10.0.0.0/8", native='cidrmatch("10.0.0.0/8", src)')
    assert ref == Pred("user", Kind.FIELDREF, "src_user", cased=True, native="user==src_user")
    assert length == Pred("len(cmd)", Kind.GT, 100, cased=True, native="len(cmd) > 100")
    assert negated == Not(Pred("x", Kind.EQ, 1, native="x=1"))


def test_rename_lookup_membership_and_defines() -> None:
    parsed = stages(
        "index=dns | rename query as domain | lookup update=true ioc_domains domain OUTPUT is_ioc"
        ' | where isnotnull(is_ioc) AND domain="x.com" | eval len=len(domain), domain=lower(domain)'
        ' | rex field=domain "(?<tld>[^.]+)$" | stats count values(domain) as domain by src'
        ' | where count > 5 | table src domain count | regex src!="^10\\."'
    )
    by_label = {s.label: s for s in reversed(parsed.stages)}  # the first stage of each label
    assert by_label["lookup"].op == StageOp.JOIN and by_label["lookup"].defines == ("is_ioc",)
    membership, renamed = by_label["where"].expr.items  # type: ignore[union-attr]
    assert membership == Pred(
        "query", Kind.EQ, "ioc_domains", transforms=(MEMBERSHIP,), native="isnotnull(is_ioc)"
    )
    assert renamed == Pred("query", Kind.EQ, "x.com", cased=True, native='domain="x.com"')
    again = build_stages(
        "index=dns | lookup ioc_domains domain AS query OUTPUT isIOC | search isIOC=true", {}, 1
    )
    assert again.stages[-1].expr == Pred(
        "query", Kind.EQ, "ioc_domains", transforms=(MEMBERSHIP,), native="isIOC=true"
    )
    assert by_label["eval"].defines == ("len",)  # `domain=lower(domain)` rewrites domain, defines nothing
    assert by_label["rex"].defines == ("tld",)
    assert by_label["stats"].defines == ("count",)  # `values(domain) as domain` still holds domain's values
    assert by_label["regex"].expr == Not(
        Pred("src", Kind.REGEX, "^10\\.", cased=True, native='src!="^10\\."')
    )
    assert parsed.output_fields == ["src", "domain", "count"]


def _detection(search: str) -> str:
    body = textwrap.indent(search, "  ")
    head = "name: Test\nid: x\ntype: TTP\nstatus: production\ndata_source:\n- Sysmon EventID 1\n"
    return f"{head}search: |-\n{body}\n"


def _rule(search: str, companions: dict[str, str] | None = None) -> Rule:
    rules, problems = splunk.parse_file(
        _detection(search),
        "detections/endpoint/test.yml",
        "endpoint",
        repo_url="",
        commit="",
        companions=companions or {},
    )
    assert problems == [] and len(rules) == 1
    return rules[0]


def test_parsed_rule_indicators_skip_scope_and_defined_columns() -> None:
    rule = _rule(
        '`sysmon` EventCode=1 Image="*\\\\certutil.exe" NOT CommandLine="*-decode*"\n'
        "| stats count by Computer\n| where count > 5",
        {"macros/sysmon.yml": "name: sysmon\ndefinition: sourcetype=xmlwineventlog\n"},
    )
    assert rule.logic_parsed and rule.problems == []
    found = rule_indicators(rule)
    assert [i.key for i in found.positives] == [
        ("EventID", "eq", "1", ""),
        ("Image", "ends_with", "\\certutil.exe", ""),
    ]
    assert [i.key for i in found.exclusions] == [("CommandLine", "contains", "-decode", "")]
    assert [s.line for s in rule.stages] == [8, 9, 10]  # the file lines of the commands


def test_a_search_that_does_not_parse_keeps_text_stages_and_a_located_problem() -> None:
    rule = _rule('`sysmon` EventCode=1\n| where a="x" AND\n| stats count')
    assert not rule.logic_parsed
    assert [(s.label, s.op, s.expr) for s in rule.stages] == [
        ("`sysmon`", StageOp.FILTER, None),
        ("where", StageOp.TRANSFORM, None),
        ("stats", StageOp.TRANSFORM, None),
    ]
    parse = [p for p in rule.problems if "does not parse" in p.message]
    assert len(parse) == 1 and parse[0].line == 9 and parse[0].severity == "warning"
    assert 'where a="x" AND' in parse[0].hint and "column" in parse[0].message
    undefined = [p for p in rule.problems if "sysmon" in p.message]
    assert undefined == []  # a failed parse reports the parse; macro warnings come with parsed rules


def test_an_undefined_macro_is_a_warning_naming_it() -> None:
    rules, _ = splunk.parse_file(
        _detection("index=x user=y | `get_asset(dest)`"),
        "detections/endpoint/test.yml",
        "endpoint",
        repo_url="",
        commit="",
        companions={},
    )
    rule = rules[0]
    assert rule.logic_parsed
    assert [(p.message, p.severity) for p in rule.problems] == [
        ("macro `get_asset` is not defined in macros/", "warning")
    ]
    assert rule.stages[-1].label == "get_asset"


def test_macros_that_multiply_stop_at_a_budget() -> None:
    bomb = {f"m{i}": Macro(f"m{i}", " ".join([f"`m{i + 1}`"] * 10)) for i in range(8)}
    bomb["m8"] = Macro("m8", "x=1")
    done = expand("`m0`", bomb)
    assert len(done.text) < 2 * MAX_EXPANDED and done.unresolved  # 10^8 copies never built


def test_an_undefined_macro_inside_an_expression_is_no_predicate() -> None:
    parsed = build_stages(
        "| tstats count from datamodel=Endpoint.Processes where `get_asset(x)` Processes.process_name=a by x",
        {},
        1,
    )
    assert parsed.stages[1].expr == Pred(
        "Processes.process_name", Kind.EQ, "a", native="Processes.process_name=a"
    )
    assert parsed.unresolved == ["get_asset"]
