"""`ruleatlas readiness`: verdicts per rule, corrupt inputs reported and skipped, constant memory, the kept
report and its page."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.cli import main
from ruleatlas.store.telemetry import RuleNeeds
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.observed import Observed
from ruleatlas.telemetry.readiness import (
    BLOCKED,
    EVENT_NEVER_SEEN,
    FIELD_NEVER_PRESENT,
    FIRES,
    PARTIAL,
    SeenIndex,
    judge,
    read_logs,
)
from ruleatlas.telemetry.report import REPORT_FILE, load_report

SYSMON = "Microsoft-Windows-Sysmon"
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SMALL_EVTX = "evtx-attack-samples/Defense Evasion/DE_UAC_Disabled_Sysmon_12_13.evtx"


def row(provider: str, key: str, needs: list[list[str]], channel: str = "") -> RuleNeeds:
    return RuleNeeds("sigma/r", "sigma", "R", "detection", provider, channel, key, needs)


def seen(*events: dict[str, object]) -> SeenIndex:
    observed = Observed(None)
    for fields in events:
        observed.add(fields)
    return SeenIndex(observed)


def sysmon1(**fields: object) -> dict[str, object]:
    return {"Channel": SYSMON_CHANNEL, "Provider_Name": SYSMON, "EventID": 1, **fields}


def test_a_rule_fires_when_one_way_of_matching_finds_all_its_fields() -> None:
    index = seen(sysmon1(Image="a", CommandLine="b"))
    verdict = judge([row(SYSMON, "1", [["OriginalFileName"], ["CommandLine", "Image"]])], index, None)
    assert verdict == {"verdict": FIRES, "reason": "", "events": [f"{SYSMON} 1"]}


def test_a_field_never_present_blocks_it_and_says_which() -> None:
    index = seen(sysmon1(Image="a"))
    verdict = judge([row(SYSMON, "1", [["CommandLine", "Image"], ["Hashes", "Image", "User"]])], index, None)
    assert verdict["verdict"] == BLOCKED and verdict["reason"] == FIELD_NEVER_PRESENT
    assert verdict["detail"] == f"{SYSMON} 1 lacks CommandLine"  # the way closest to matching


def test_an_event_never_seen_blocks_it_and_names_the_events() -> None:
    index = seen(sysmon1(Image="a"))
    rows = [
        row(SYSMON, "3", [["DestinationHostname"]]),
        row("Microsoft-Windows-Security-Auditing", "4688", [[]]),
    ]
    verdict = judge(rows, index, None)
    assert verdict["reason"] == EVENT_NEVER_SEEN
    assert verdict["detail"] == f"{SYSMON} 3, Microsoft-Windows-Security-Auditing 4688"


def test_fields_are_compared_without_case_and_an_unknown_provider_by_its_channel() -> None:
    index = seen({"Channel": "Application", "EventID": 1034, "data": "x"})
    verdict = judge([row("Application", "1034", [["Data"]], channel="Application")], index, None)
    assert verdict["verdict"] == FIRES


def test_catch_alls_are_seen_through_their_channel_or_not_at_all(telemetry: TelemetryCatalog) -> None:
    index = seen({"Channel": "MSExchange Management", "Provider_Name": "MSExchange CmdletLogs", "EventID": 1})
    exchange = row("windows", "msexchange-management", [[]], channel="MSExchange Management")
    assert judge([exchange], index, telemetry)["verdict"] == FIRES
    assert judge([row("windows", "any", [[]])], index, telemetry)["verdict"] == FIRES
    linux = judge([row("linux", "process_creation", [["Image"]])], index, telemetry)
    assert (linux["reason"], linux["detail"]) == (EVENT_NEVER_SEEN, "Linux process_creation")


def jsonl(path: Path, lines: int, *, bad_every: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(1, lines + 1):
            if bad_every and i % bad_every == 0:
                out.write('{"EventID": 1, "Image": \n')  # cut short: invalid JSON
            else:
                out.write(
                    json.dumps(sysmon1(Image=f"C:\\p{i % 7}.exe", CommandLine=f"p {i}", UtcTime=str(i)))
                    + "\n"
                )
    return path


def test_reading_logs_keeps_memory_flat(tmp_path: Path) -> None:
    small, large = jsonl(tmp_path / "small.jsonl", 2_000), jsonl(tmp_path / "large.jsonl", 40_000)
    peaks = []
    for path in (small, large):
        tracemalloc.start()
        logs = read_logs([path], None)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert logs.observed.events[(SYSMON, 1)].count in (2_000, 40_000)
    # twenty times the events, the same memory: only event types and field names are kept
    assert peaks[1] < peaks[0] * 1.25 + 256 * 1024, peaks


@pytest.fixture(scope="module")
def broken_logs(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a readable EVTX, the same file cut short, an EVTX of garbage, and JSON lines with
    invalid lines among valid ones."""
    folder = tmp_path_factory.mktemp("broken-logs")
    source = shared_dir / "logs" / SMALL_EVTX
    shutil.copyfile(source, folder / "good.evtx")
    data = source.read_bytes()
    (folder / "cut.evtx").write_bytes(data[: 4096 + 65536 // 2])  # header + half of the first chunk
    (folder / "garbage.evtx").write_bytes(b"ElfFile\x00" + bytes(range(256)) * 64)
    jsonl(folder / "events.jsonl", 50, bad_every=10)
    return folder


@pytest.fixture(scope="module")
def readiness_run(corpus_catalog: Path, broken_logs: Path, shared_dir: Path) -> dict[str, Any]:
    """`ruleatlas readiness --catalog CORPUS ../shared/logs BROKEN --json`, its exit code and report."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "readiness",
                "--catalog",
                str(corpus_catalog),
                str(shared_dir / "logs"),
                str(broken_logs),
                "--json",
            ]
        )
    return {"code": code, "report": json.loads(out.getvalue())}


@pytest.mark.corpus
def test_corrupt_evtx_and_invalid_lines_are_reported_and_skipped(
    readiness_run: dict[str, Any], broken_logs: Path
) -> None:
    report = readiness_run["report"]
    assert readiness_run["code"] == 1  # done, with problems in the input
    problems = [p for p in report["logs"]["problems"] if p["file"].startswith(str(broken_logs))]
    by_file: dict[str, list[dict[str, Any]]] = {}
    for p in problems:
        by_file.setdefault(Path(p["file"]).name, []).append(p)
    assert set(by_file) == {"cut.evtx", "garbage.evtx", "events.jsonl"}
    assert any("truncated EVTX" in p["message"] for p in by_file["cut.evtx"])
    assert [(p["where"], p["record"]) for p in by_file["events.jsonl"]] == [
        ("line", n) for n in (10, 20, 30, 40, 50)
    ]
    assert all(p["message"].startswith("invalid JSON") for p in by_file["events.jsonl"])
    # the rest was read: every event of ../shared/logs, the good EVTX twice over, 45 valid lines
    assert report["logs"]["events"] > 11_000
    assert report["logs"]["files"] == 356 + 4


@pytest.mark.corpus
def test_the_report_says_per_rule_whether_it_can_fire_and_why_not(readiness_run: dict[str, Any]) -> None:
    report = readiness_run["report"]
    verdicts = {v["uid"]: v for v in report["rule_verdicts"]}
    assert report["rules"]["total"] == len(verdicts) > 3000
    counted = report["rules"][FIRES] + report["rules"][PARTIAL] + report["rules"][BLOCKED]
    assert counted + report["rules"]["unknown"] == len(verdicts)
    # partial: only a bridged event the scanner does not route to the rule serves it, and it says so
    partial = [v for v in verdicts.values() if v["verdict"] == PARTIAL]
    assert len(partial) == report["rules"][PARTIAL]
    assert all("once your pipeline maps" in v["detail"] for v in partial)
    localtonet = verdicts["sigma/net_connection_win_domain_localtonet_tunnel"]
    assert localtonet["verdict"] == FIRES and localtonet["events"] == ["Sysmon 3"]
    aws = next(v for uid, v in verdicts.items() if uid.startswith("sigma/aws_cloudtrail"))
    assert (aws["verdict"], aws["reason"]) == (BLOCKED, EVENT_NEVER_SEEN)
    lacking = [v for v in verdicts.values() if v["reason"] == FIELD_NEVER_PRESENT]
    assert lacking and all(" lacks " in v["detail"] for v in lacking)
    tech = report["techniques"]
    fired = {t for v in verdicts.values() if v["verdict"] == FIRES for t in v["techniques"]}
    assert tech["covered"] == len(fired) == len(tech["covered_list"]) > 100
    assert {"T1572"} <= {t["id"] for t in tech["covered_list"]}


@pytest.mark.corpus
def test_the_report_is_kept_beside_the_catalog_with_its_page(
    readiness_run: dict[str, Any], corpus_catalog: Path
) -> None:
    kept = load_report(corpus_catalog)
    assert kept is not None and kept["rules"] == readiness_run["report"]["rules"]
    assert (corpus_catalog / REPORT_FILE).is_file()
    page = (corpus_catalog / "site" / "readiness" / "index.html").read_text(encoding="utf-8")
    assert "Can these rules fire on your logs?" in page
    assert f"{kept['rules']['fires']:,} of {kept['rules']['total']:,} rules can fire" in page


@pytest.mark.corpus
def test_terminal_table(corpus_catalog: Path, broken_logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["readiness", "--catalog", str(corpus_catalog), str(broken_logs / "events.jsonl")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("Logs: 1 files, 45 events of 1 types; 5 problems (skipped)\n")
    assert f"  problem: {broken_logs / 'events.jsonl'}: line 10: invalid JSON" in out
    assert "\nverdict   rule" in out
    assert "\nfires     sigma/proc_creation_win_whoami_all_execution " in out
    assert "\nblocked   sigma/proc_creation_win_renamed_whoami " in out  # needs OriginalFileName


def test_a_missing_catalog_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["readiness", "--catalog", str(tmp_path), str(tmp_path)]) == 2
    assert "no catalog in" in capsys.readouterr().err


def test_a_missing_log_path_is_a_problem_and_the_others_are_read(tmp_path: Path) -> None:
    logs = read_logs([tmp_path / "nowhere", jsonl(tmp_path / "ok.jsonl", 3)], None)
    assert [(p.file, p.message) for p in logs.problems] == [
        (str(tmp_path / "nowhere"), "no such file or folder")
    ]
    assert logs.observed.total == 3 and logs.files == 1
