"""`readiness --next` on a hand-made catalog: which events to collect, given what fake logs hold."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from ruleatlas.build import build
from ruleatlas.cli import main
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.telemetry.catalog import (
    LOGSOURCE_KIND,
    EventDef,
    FieldDef,
    PlatformDef,
    ProviderDef,
    TelemetryCatalog,
)
from ruleatlas.telemetry.next_steps import next_steps, print_next
from ruleatlas.telemetry.priority import RuleNeed
from ruleatlas.telemetry.report import load_report

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "catalog" / "sigma"

SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"
S1, S11, S4688 = (SYSMON, "1"), (SYSMON, "11"), (SECURITY, "4688")
AWS = ("aws", "cloudtrail")


def catalog() -> TelemetryCatalog:
    def event(key: int, task: str, *fields: str) -> EventDef:
        return EventDef(key, title=f"Event {key}", task=task, fields=[FieldDef(f) for f in fields])

    sysmon = ProviderDef(SYSMON, "Sysmon", platform="windows")
    sysmon.events = {
        1: event(1, "ProcessCreate", "Image", "CommandLine"),
        11: event(11, "FileCreate", "TargetFilename"),
    }
    security = ProviderDef(SECURITY, "Security", platform="windows")
    security.events = {
        4688: event(4688, "Detailed Tracking / Process Creation", "NewProcessName", "CommandLine"),
    }
    aws = ProviderDef("aws", "AWS", kind=LOGSOURCE_KIND, platform="aws")
    aws.events = {"cloudtrail": EventDef("cloudtrail")}
    return TelemetryCatalog(
        providers={p.name: p for p in (sysmon, security, aws)},
        platforms={"windows": PlatformDef("windows", "Windows"), "aws": PlatformDef("aws", "AWS")},
    )


def need(uid: str, level: str, *events: tuple[str, str]) -> RuleNeed:
    return RuleNeed(uid, "sigma", level, uid, (frozenset(events),))


NEEDS = [
    need("proc", "high", S1, S4688),
    need("file", "medium", S11),
    need("file-enriched", "critical", S11),  # needs CommandLine on Sysmon 11: only EDR enrichment adds it
    need("cloud", "critical", AWS),
    need("cmdline", "low", S4688),
]
EVENT_NEEDS = {
    "proc": {S1: ("", [["Image", "CommandLine"]]), S4688: ("Security", [["NewProcessName", "CommandLine"]])},
    "file": {S11: ("", [["TargetFilename"]])},
    "file-enriched": {S11: ("", [["TargetFilename", "CommandLine"]])},
    "cloud": {AWS: ("", [[]])},
    "cmdline": {S4688: ("Security", [["CommandLine"]])},
}


def logs_holding(held: dict[tuple[str, str], set[str]]):  # type: ignore[no-untyped-def]
    def lookup(provider: str, key: str, channel: str) -> tuple[bool, frozenset[str]]:
        fields = held.get((provider, key))
        return (fields is not None, frozenset(f.lower() for f in fields or ()))

    return lookup


def test_plan_from_logs_with_4688_without_command_lines() -> None:
    lookup = logs_holding({S4688: {"NewProcessName"}, S11: {"TargetFilename"}})
    plan = next_steps(NEEDS, EVENT_NEEDS, lookup, catalog(), platforms={"windows"})
    assert plan["rules"] == 5 and plan["firing"] == 1  # only "file" fires
    steps = plan["steps"]
    # 4688 with its command line unlocks proc (8) and cmdline (2); Sysmon 1 would unlock proc only
    assert [s["label"] for s in steps] == ["Security 4688"]
    first = steps[0]
    assert [u["uid"] for u in first["unlocks"]] == ["proc", "cmdline"]
    assert first["missing_fields"] == ["CommandLine"] and first["in_logs"] is True
    assert (
        first["collect"]["text"]
        == 'auditpol /set /subcategory:"Process Creation" /success:enable /failure:enable'
    )
    # AWS is not a platform of these logs; Sysmon 11 cannot give the enriched rule its CommandLine
    assert all(s["provider"] != "aws" for s in steps)
    assert plan["unlocked"] == 2 and plan["waiting"] == 4


def test_plan_from_no_logs_any_platform() -> None:
    plan = next_steps(NEEDS, EVENT_NEEDS, logs_holding({}), catalog(), platforms=None)
    labels = [s["label"] for s in plan["steps"]]
    # Sysmon 11: 4 + 16; AWS: 16; then 4688 (proc 8 + cmdline 2) before Sysmon 1 (proc 8), which then adds
    # nothing
    assert labels == ["Sysmon 11", "AWS cloudtrail", "Security 4688"]
    assert [s["weighted"] for s in plan["steps"]] == [20.0, 16.0, 10.0]
    assert plan["firing"] == 0 and plan["unlocked"] == 5
    sysmon_11 = plan["steps"][0]
    # not in the logs: both file rules would fire once it is collected
    assert {u["uid"] for u in sysmon_11["unlocks"]} == {"file", "file-enriched"}
    assert sysmon_11["collect"]["text"].startswith(
        '<RuleGroup groupRelation="or"><FileCreate onmatch="exclude"/>'
    )
    lines: list[str] = []
    print_next(plan, lines.append)
    text = "".join(lines)
    assert "What to collect next:" in text and "AWS cloudtrail" in text and "FileCreate" in text


@pytest.fixture(scope="module")
def small_catalog(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five-rule fixture corpus with the real telemetry definitions, built with its pages."""
    out = tmp_path_factory.mktemp("next-catalog")
    build(
        BuildConfig(
            out=out / "cat",
            sources=[SourceSpec("sigma", FIXTURE)],
            telemetry=shared_dir / "providers",
            jobs=1,
        ),
        log=open(os.devnull, "w"),  # noqa: SIM115
    )
    return out / "cat"


@pytest.mark.corpus
def test_readiness_next_command_keeps_the_plan_and_shows_it(small_catalog: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs.jsonl"
    logs.write_text(
        '{"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\\\x.exe"}\n', encoding="utf-8"
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["readiness", "--catalog", str(small_catalog), str(logs), "--next", "--json"]) == 0
    plan = json.loads(out.getvalue())["next"]
    assert plan["platforms"] == ["windows"]
    labels = [s["label"] for s in plan["steps"]]
    # the two network rules need Sysmon 3; the <script> rule needs a command line, which 4688 can carry
    assert labels[0] == "Sysmon 3"
    assert {u["uid"] for u in plan["steps"][0]["unlocks"]} == {"sigma/net_tunnel_a", "sigma/net_tunnel_b"}
    security = next(s for s in plan["steps"] if s["label"] == "Security 4688")
    assert security["missing_fields"] == ["CommandLine"] and security["path"].endswith("/4688/")
    assert security["unlocks"][0]["path"] == "rules/sigma/hostile_title/"
    kept = load_report(small_catalog)
    assert kept is not None and kept["next"] == plan
    page = (small_catalog / "site" / "readiness" / "index.html").read_text(encoding="utf-8")
    assert "What to collect next" in page and "NetworkConnect" in page
    assert "&lt;script&gt;" in page or "hostile" in page  # titles are escaped, never markup
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        assert main(["readiness", "--catalog", str(small_catalog), str(logs), "--next"]) == 0
    assert "What to collect next on windows" in table.getvalue()
