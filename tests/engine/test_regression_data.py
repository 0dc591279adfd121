"""SigmaHQ's regression data through the EVTX path: every evtx test case fires its rule `match_count` times.

Each `regression_data/**/info.yml` names its rule (`rule_metadata[].id`) and its tests
(`regression_tests_info[]`: `type`, `path`, `match_count`). For every test of type `evtx` the .evtx is read by
`readers.read_events`, the rule comes from `read_sigma_tree` over the corpus compiled by `compile_rules`, and
the events it matches are counted twice: by the compiled rule on every event, and by a `Scanner` holding every
rule of the corpus (routing and literal prefilter on), which must not lose any of them. (The .json twin of
each sample is checked in test_match_corpus.py.)

Expected count: `match_count` where info.yml gives one. SigmaHQ's own runner
(`tests/regression_tests_runner.py`) only asserts that the rule fires at least once and never reads
`match_count`, and 23 info.yml files leave it out; for those the expected count is 1, one event per sample
being SigmaHQ's convention.

Exceptions (`EXCEPTIONS`, each asserted exactly: the count, the EVTX record numbers that match, and that
info.yml indeed says otherwise) are samples holding more events that the rule rightly matches than info.yml
counts; each reason says why the extra events match the rule as written:

| case | info.yml | we count |
|---|---|---|
| file_event_win_anydesk_artefact | 1 | 3 (user.conf.new twice, a user.conf~RF….TMP) |
| file_event_win_cred_dump_tools_dropped_files | 1 | 3 (procdump64.exe, procdump64a.exe, procdump.exe) |
| registry_set_disable_administrative_share | 1 | 2 (AutoShareServer and AutoShareWks set to 0) |
| proc_creation_win_dtrace_kernel_dump | (none) | 2 (two dtrace runs with `lkd(0)`) |
| proc_creation_win_github_self_hosted_runner | (none) | 2 (Runner.Listener configure, Runner.Worker) |

The one info.yml without an evtx test (the Cisco `type: raw` case, commented out upstream) is asserted too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any as AnyType

import pytest
import yaml

from ruleatlas.engine import CompiledRule, CompiledSet, compile_rules
from ruleatlas.engine.scan import Scanner
from ruleatlas.logs.event import Event, InputProblem
from ruleatlas.logs.evtx_fields import evtx_fields
from ruleatlas.logs.readers import read_events
from ruleatlas.sources.sigma import read_sigma_tree

pytestmark = pytest.mark.corpus

NO_COUNT_DEFAULT = 1  # info.yml without match_count: SigmaHQ's runner asks for "fires", one event per sample


@dataclass(slots=True, frozen=True)
class KnownCount:
    """A case whose count differs from info.yml, with the EVTX records that match and why."""

    count: int
    records: tuple[int, ...]
    reason: str


EXCEPTIONS: dict[str, KnownCount] = {
    "file_event_win_anydesk_artefact": KnownCount(
        3,
        (3, 4, 5),
        "info.yml says 1, but records 3-5 write user.conf.new, user.conf~RF2d9c20d.TMP and user.conf.new "
        "under \\AppData\\Roaming\\AnyDesk\\: each contains '\\AppData\\Roaming\\AnyDesk\\user.conf'",
    ),
    "file_event_win_cred_dump_tools_dropped_files": KnownCount(
        3,
        (1, 3, 5),
        "info.yml says 1, but the sample downloads procdump64.exe, procdump64a.exe and procdump.exe, each "
        "ending with a listed name (their :Zone.Identifier streams, records 2, 4, 6, do not)",
    ),
    "registry_set_disable_administrative_share": KnownCount(
        2,
        (1, 2),
        "info.yml says 1, but the sample sets both ...\\LanmanServer\\Parameters\\AutoShareServer and "
        "\\AutoShareWks to 'DWORD (0x00000000)', and the rule lists both",
    ),
    "proc_creation_win_dtrace_kernel_dump": KnownCount(
        2,
        (1, 2),
        "info.yml gives no match_count; the sample holds two dtrace.exe runs, each with 'lkd(0)' in its "
        "command line (selection_plain)",
    ),
    "proc_creation_win_github_self_hosted_runner": KnownCount(
        2,
        (1, 2),
        "info.yml gives no match_count; the sample holds Runner.Listener.exe 'configure' and "
        "Runner.Worker.exe 'spawnclient', one for each half of the condition",
    ),
}

# info.yml files that hold no evtx test, and what they hold instead
NO_EVTX_TEST = {"cisco_cli_dot1x_disabled": "regression_tests_info commented out (a 'raw' sample)"}


@dataclass(slots=True)
class Case:
    name: str  # the case folder: the rule file's stem
    rule_id: str
    evtx: Path
    match_count: int | None


@pytest.fixture(scope="module")
def compiled(shared_dir: Path) -> CompiledSet:
    return compile_rules(read_sigma_tree(shared_dir / "corpus" / "sigma").rules)


def _cases(sigma_root: Path) -> tuple[list[Case], dict[str, str]]:
    cases: list[Case] = []
    without: dict[str, str] = {}
    for info in sorted((sigma_root / "regression_data").rglob("info.yml")):
        meta: dict[str, AnyType] = yaml.safe_load(info.read_text(encoding="utf-8"))
        tests = [t for t in meta.get("regression_tests_info") or [] if t.get("type") == "evtx"]
        if not tests:
            without[info.parent.name] = "no evtx test"
            continue
        (rule_meta,) = meta["rule_metadata"]
        for test in tests:
            cases.append(
                Case(
                    info.parent.name,
                    str(rule_meta["id"]).lower(),
                    sigma_root / test["path"],
                    test.get("match_count"),
                )
            )
    return cases, without


def test_every_evtx_case_fires_its_rule_match_count_times(shared_dir: Path, compiled: CompiledSet) -> None:
    sigma_root = shared_dir / "corpus" / "sigma"
    manifest = json.loads((sigma_root / "REGRESSION_MANIFEST.json").read_text(encoding="utf-8"))
    cases, without = _cases(sigma_root)
    assert len(cases) == manifest["summary"]["files"] == 152
    assert set(without) == set(NO_EVTX_TEST)
    by_id: dict[str, CompiledRule] = {r.rule.id.lower(): r for r in compiled.rules}
    scanner = Scanner(compiled)
    failures: list[str] = []
    seen_exceptions: set[str] = set()
    for case in cases:
        problems: list[InputProblem] = []
        events: list[Event] = list(read_events([case.evtx], problems=problems))
        rel = case.evtx.relative_to(sigma_root / "regression_data").as_posix()
        where = f"{case.name} ({rel})"
        if problems:
            failures.append(f"{where}: read problems {[str(p) for p in problems]}")
        if len(events) != manifest["files"][rel]["records"]:
            failures.append(
                f"{where}: read {len(events)} events, the manifest lists {manifest['files'][rel]['records']}"
            )
        rule = by_id.get(case.rule_id)
        if rule is None:
            failures.append(f"{where}: rule {case.rule_id} is not among the compiled rules")
            continue
        matched = tuple(e.record for e in events if rule.match(e.fields))
        position = scanner.rules.index(rule)
        scanned = tuple(e.record for e in events if position in scanner.match_ids(e))
        if scanned != matched:
            failures.append(
                f"{where}: the scan (routing, prefilter) matches records {scanned}, the rule {matched}"
            )
        exception = EXCEPTIONS.get(case.name)
        if exception is not None:
            seen_exceptions.add(case.name)
            assert case.match_count != exception.count, f"{where}: info.yml now agrees; drop the exception"
            if (len(matched), matched) != (exception.count, exception.records):
                failures.append(
                    f"{where}: {rule.uid} matches records {matched}; documented {exception.records}"
                    f" ({exception.reason})"
                )
            continue
        expected = NO_COUNT_DEFAULT if case.match_count is None else case.match_count
        if len(matched) != expected:
            failures.append(
                f"{where}: {rule.uid} fires {len(matched)} times (records {matched}), "
                f"info.yml expects {expected}"
            )
    assert seen_exceptions == set(EXCEPTIONS)
    assert failures == []


def test_evtx_data_names_lose_their_spaces() -> None:
    """Sigma names fields as the log shows them without spaces (spec, "Fields"): Defender's `Source Name`."""
    record = {
        "Event": {
            "System": {"EventID": 1119, "Channel": "Microsoft-Windows-Windows Defender/Operational"},
            "EventData": {"Source Name": "Real-Time Protection", "Threat Name": {"#text": "EICAR_Test_File"}},
        }
    }
    fields = evtx_fields(record)
    assert fields["SourceName"] == "Real-Time Protection"
    assert fields["ThreatName"] == "EICAR_Test_File"
    assert "Source Name" not in fields and "Threat Name" not in fields
