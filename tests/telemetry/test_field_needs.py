"""telemetry.fields: the ways a rule can match as field sets, and the rule's fields in each event's names."""

from __future__ import annotations

import os
import subprocess
import sys

from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, Rule, SourceRef, Stage
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.coverage import EventRef
from ruleatlas.telemetry.fields import MAX_ALTERNATIVES, condition_needs, rule_event_fields


def eq(field: str | None, value: object = "x") -> Pred:
    return Pred(field, Kind.EQ, value)  # type: ignore[arg-type]


def stages(condition: Expr | None, **searches: Expr) -> list[Stage]:
    out = [Stage(0, "condition", "condition", "", condition)]
    out += [Stage(i, name, "search", "", expr) for i, (name, expr) in enumerate(searches.items(), 1)]
    return out


def needs(condition: Expr | None, **searches: Expr) -> list[set[str]]:
    return sorted((set(a) for a in condition_needs(stages(condition, **searches))), key=sorted)


def test_a_map_needs_every_field_and_a_list_any_of_its_maps() -> None:
    selection = Any((All((eq("Image"), eq("CommandLine"))), All((eq("OriginalFileName"),))))
    assert needs(Ref("selection"), selection=selection) == [{"CommandLine", "Image"}, {"OriginalFileName"}]


def test_and_of_searches_multiplies_out_and_drops_supersets() -> None:
    condition = All((Ref("a"), Ref("b")))
    a = Any((eq("Image"), eq("OriginalFileName")))
    b = Any((eq("CommandLine"), All((eq("CommandLine"), eq("ParentImage")))))
    assert needs(condition, a=a, b=b) == [{"CommandLine", "Image"}, {"CommandLine", "OriginalFileName"}]


def test_negated_filters_null_exists_false_and_keywords_need_nothing() -> None:
    condition = All((Ref("selection"), Not(Ref("filter"))))
    selection = All(
        (
            eq("Image"),
            eq("ParentImage", None),  # `ParentImage: null` matches when the field is absent
            Pred("User", Kind.EXISTS, False),
            eq(None, "mimikatz"),  # keyword
        )
    )
    assert needs(condition, selection=selection, filter=eq("CommandLine")) == [{"Image"}]


def test_field_references_need_both_fields() -> None:
    assert needs(Ref("s"), s=Pred("SourceImage", Kind.FIELDREF, "TargetImage")) == [
        {"SourceImage", "TargetImage"}
    ]


def test_without_a_condition_every_search_counts_as_or_ed() -> None:
    assert needs(None, a=eq("A"), b=eq("B")) == [{"A"}, {"B"}]


def test_too_many_alternatives_fold_into_the_fields_all_of_them_share() -> None:
    # (A1|B1) & (A2|B2) & ... & (A7|B7) & C: 128 alternatives, more than the cap; each of them needs C
    parts = tuple(Any((eq(f"A{i}"), eq(f"B{i}"))) for i in range(7))
    result = needs(Ref("s"), s=All((*parts, eq("C"))))
    assert MAX_ALTERNATIVES < 2**7
    assert result == [{"C"}]  # sound: every way the rule matches needs C, and only C is certain


def test_a_cycle_of_references_ends() -> None:
    assert needs(Ref("a"), a=All((Ref("b"), eq("X"))), b=Ref("a")) == [{"X"}]


def make_rule(logsource: dict[str, str], selection: Expr) -> Rule:
    return Rule(
        uid="sigma/t",
        vendor="sigma",
        language="sigma",
        source=SourceRef("repo", "t.yml"),
        folder="rules",
        logsource=logsource,
        stages=stages(Ref("selection"), selection=selection),
    )


def test_security_4688_fields_are_named_as_the_event_names_them(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"product": "windows", "category": "process_creation"},
        All((eq("Image"), eq("CommandLine"), Not(eq("ParentImage")))),
    )
    by_event = {(e.provider, e.event_id): e for e in rule_event_fields(rule, telemetry)}
    assert set(by_event) == {("Microsoft-Windows-Sysmon", 1), ("Microsoft-Windows-Security-Auditing", 4688)}
    sysmon = by_event[("Microsoft-Windows-Sysmon", 1)]
    assert sysmon.fields == (
        ("Image", "Image"),
        ("CommandLine", "CommandLine"),
        ("ParentImage", "ParentImage"),
    )
    assert sysmon.needs == (("CommandLine", "Image"),)
    security = by_event[("Microsoft-Windows-Security-Auditing", 4688)]
    # pySigma's windows-audit renames, spelled as the event definition spells them
    assert dict(security.fields) == {
        "NewProcessName": "Image",
        "CommandLine": "CommandLine",
        "ParentProcessName": "ParentImage",
    }
    assert security.needs == (("CommandLine", "NewProcessName"),)


def test_given_events_are_used_as_they_are(telemetry: TelemetryCatalog) -> None:
    rule = make_rule({"product": "windows", "category": "process_creation"}, eq("Image"))
    ref = EventRef("Sysmon", "Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational", 1, "")
    [only] = rule_event_fields(rule, telemetry, [ref])
    assert (only.provider, only.event_key, only.needs) == ("Microsoft-Windows-Sysmon", "1", (("Image",),))


def test_an_event_without_a_known_provider_is_keyed_by_its_channel(telemetry: TelemetryCatalog) -> None:
    rule = make_rule({"product": "windows", "service": "application"}, eq("Data"))
    ref = EventRef("Application", "", "Application", 1034, "")
    [only] = rule_event_fields(rule, telemetry, [ref])
    assert (only.provider, only.channel, only.event_id) == ("Application", "Application", 1034)


def test_the_order_of_the_ways_does_not_follow_the_hash_seed() -> None:
    # Alternatives of one size came out in set order, so a document differed from one run to the next.
    script = (
        "from ruleatlas.model import Any, Kind, Pred, Ref, Stage\n"
        "from ruleatlas.telemetry.fields import condition_needs\n"
        "names = ['Image', 'CommandLine', 'OriginalFileName', 'ParentImage', 'Hashes', 'User']\n"
        "search = Any(tuple(Pred(n, Kind.EQ, 'x') for n in names))\n"
        "stages = [Stage(0, 'condition', 'condition', '', Ref('s')), Stage(1, 's', 'search', '', search)]\n"
        "print([sorted(a) for a in condition_needs(stages)])\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(runs) == 1
    assert runs.pop().strip() == str(
        [[n] for n in sorted(["Image", "CommandLine", "OriginalFileName", "ParentImage", "Hashes", "User"])]
    )
