"""Indicators, exclusions and corpus counts, on rules written directly in the IR."""

from __future__ import annotations

from ruleatlas.analysis.indicators import indicator_key, rule_indicators, rule_logic
from ruleatlas.model import All, Any, Kind, Not, Pred, Ref, Rule, RuleKind, SourceRef, Stage


def make_rule(
    uid: str,
    condition: object,
    searches: dict[str, object],
    *,
    kind: RuleKind = RuleKind.DETECTION,
    vendor: str = "sigma",
) -> Rule:
    stages = [Stage(0, "condition", "condition", "", condition)]  # type: ignore[arg-type]
    stages += [Stage(i, name, "search", "", expr) for i, (name, expr) in enumerate(searches.items(), 1)]  # type: ignore[arg-type]
    return Rule(
        uid=uid,
        vendor=vendor,
        language="sigma",
        source=SourceRef("", f"{uid}.yml"),
        folder="rules",
        kind=kind,
        stages=stages,
    )


HOST_A = Pred("DestinationHostname", Kind.ENDS_WITH, ".localto.net")
HOST_A_UPPER = Pred("DestinationHostname", Kind.ENDS_WITH, ".LOCALTO.NET")
INITIATED = Pred("Initiated", Kind.EQ, "true")
FILTER = Pred("CommandLine", Kind.CONTAINS, "foo")


def test_positive_and_excluded_predicates_follow_the_condition() -> None:
    rule = make_rule(
        "r1",
        All((Ref("selection"), Not(Ref("filter")))),
        {"selection": All((HOST_A, INITIATED)), "filter": FILTER, "unused": Pred("X", Kind.EQ, "y")},
    )
    result = rule_indicators(rule)
    assert [i.pred for i in result.positives] == [HOST_A, INITIATED]
    assert [i.pred for i in result.exclusions] == [FILTER]


def test_double_negation_is_positive() -> None:
    rule = make_rule("r1", Not(All((Ref("a"), Not(Ref("b"))))), {"a": HOST_A, "b": INITIATED})
    result = rule_indicators(rule)
    assert [i.pred for i in result.positives] == [INITIATED]
    assert [i.pred for i in result.exclusions] == [HOST_A]


def test_case_insensitive_values_fold_and_cased_ones_do_not() -> None:
    assert indicator_key(HOST_A) == indicator_key(HOST_A_UPPER)
    cased = Pred("DestinationHostname", Kind.ENDS_WITH, ".LOCALTO.NET", cased=True)
    assert indicator_key(cased)[2] == ".LOCALTO.NET"
    regex = Pred("CommandLine", Kind.REGEX, "A.B")
    assert indicator_key(regex)[2] == "A.B"
    assert indicator_key(Pred("CommandLine", Kind.REGEX, "A.B", regex_flags="i"))[2] == "a.b"


def test_scalars_normalise_to_their_text() -> None:
    assert indicator_key(Pred("Initiated", Kind.EQ, True))[2] == "true"
    assert indicator_key(Pred("EventID", Kind.EQ, 4688))[2] == "4688"
    assert indicator_key(Pred("Field", Kind.EQ, None))[2] == "null"
    assert indicator_key(Pred(None, Kind.CONTAINS, "Mimikatz"))[:3] == ("", "contains", "mimikatz")


def test_transforms_are_part_of_the_key() -> None:
    plain = Pred("CommandLine", Kind.CONTAINS, "IEX")
    encoded = Pred("CommandLine", Kind.CONTAINS, "IEX", transforms=("base64offset",))
    assert indicator_key(plain) != indicator_key(encoded)


def test_missing_condition_falls_back_to_every_search() -> None:
    rule = make_rule("r", None, {"a": HOST_A, "b": INITIATED})
    assert rule_logic(rule.stages) == Any((HOST_A, INITIATED))


def test_dangling_and_cyclic_references_drop_out() -> None:
    rule = make_rule("r", All((Ref("a"), Ref("missing"))), {"a": HOST_A})
    assert rule_logic(rule.stages) == All((HOST_A,))


def pipeline_rule(stages: list[Stage], vendor: str = "splunk") -> Rule:
    return Rule(
        uid=f"{vendor}/p",
        vendor=vendor,
        language="spl",
        source=SourceRef("", "p.yml"),
        folder="detections",
        logsource={"product": "windows", "category": "process_creation"},
        stages=stages,
    )


def test_a_pipeline_ands_its_filters_up_to_the_first_aggregate() -> None:
    index = Pred("index", Kind.EQ, "main", scope=True)
    proc = Pred("Processes.process_name", Kind.EQ, "whoami.exe")
    cmd = Pred("Processes.process", Kind.CONTAINS, "/all")
    count = Pred("count", Kind.GT, 5)
    after = Pred("Processes.user", Kind.EQ, "SYSTEM")
    stages = [
        Stage(0, "source", "source", "index=main", index),
        Stage(1, "where", "filter", "...", All((proc, Not(cmd)))),
        Stage(2, "stats", "aggregate", "stats count by dest", None, defines=("count",)),
        Stage(3, "where", "having", "count > 5", count),
        Stage(4, "search", "filter", "user=SYSTEM", after),
    ]
    rule = pipeline_rule(stages)
    # the source stage's scope predicate is logic too (it selects the data), but never an indicator
    assert rule_logic(stages) == All((index, All((proc, Not(cmd)))))
    found = rule_indicators(rule)
    assert [(i.key, i.native_field) for i in found.positives] == [
        (("Image", "ends_with", "\\whoami.exe", ""), "Processes.process_name")
    ]
    assert [i.key for i in found.exclusions] == [("CommandLine", "contains", "/all", "")]


def test_scope_and_defined_columns_are_never_indicators() -> None:
    scope = Pred("event.category", Kind.EQ, "process", scope=True)
    derived = Pred("Esql.recent", Kind.LE, 6)
    real = Pred("process.command_line", Kind.CONTAINS, "-enc")
    stages = [
        Stage(0, "where", "filter", "", All((scope, real))),
        Stage(1, "eval", "extend", "EVAL Esql.recent = ...", None, defines=("Esql.recent",)),
        Stage(2, "where", "filter", "", derived),
    ]
    found = rule_indicators(pipeline_rule(stages, "elastic"))
    assert [i.key for i in found.positives] == [("CommandLine", "contains", "-enc", "")]


def test_let_stages_are_followed_through_references() -> None:
    listed = Pred("HostGroup", Kind.EQ, "$hosts", transforms=("expand",))
    stages = [
        Stage(0, "hosts", "let", "let hosts = ...", Pred("FileName", Kind.EQ, "cmd.exe")),
        Stage(1, "where", "filter", "", All((Ref("hosts"), listed))),
    ]
    found = rule_indicators(pipeline_rule(stages, "kusto"))
    assert [i.key for i in found.positives] == [
        ("Image", "ends_with", "\\cmd.exe", ""),
        ("kusto:HostGroup", "eq", "$hosts", "expand"),
    ]
