"""Scan orchestration with a stand-in compiled rule set: routing, prefilter, order, workers, failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ruleatlas.engine.scan import RuleMatch, Scanner, group_tasks, make_tasks, run_scan, scan_sources
from ruleatlas.logs.event import Event
from ruleatlas.logs.readers import InputSource
from ruleatlas.model import Problem, Rule, SourceRef


@dataclass(slots=True)
class StandInRule:
    """The CompiledRule contract, matching by a plain function (field -> required substring)."""

    uid: str
    rule: Rule
    logsource: dict[str, str]
    required_literals: frozenset[str] | None
    needles: dict[str, str]
    calls: list[int] = field(default_factory=list)

    def match(self, fields: dict[str, object], cache: dict[object, object] | None = None) -> bool:
        self.calls.append(1)
        for name, needle in self.needles.items():
            value = fields.get(name)
            if value is None or needle not in str(value).casefold():
                return False
        return True

    def matched_fields(
        self, fields: dict[str, object], cache: dict[object, object] | None = None
    ) -> dict[str, object]:
        return {name: fields[name] for name in self.needles}


@dataclass(slots=True)
class StandInSet:
    rules: list[StandInRule]
    correlations: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def stand_in(
    uid: str, logsource: dict[str, str], needles: dict[str, str], literal: bool = True
) -> StandInRule:
    rule = Rule(
        uid=f"sigma/{uid}",
        vendor="sigma",
        language="sigma",
        source=SourceRef("", f"{uid}.yml"),
        folder="rules",
        id=uid,
        title=uid.replace("_", " "),
        level="high",
        logsource=logsource,
        tags=("attack.execution",),
    )
    literals = frozenset(needles.values()) if literal and len(needles) == 1 else None
    return StandInRule(rule.uid, rule, logsource, literals, needles)


SERVICE_EVTX = (
    "logs/evtx-to-mitre-attack/TA0002-Execution/T1569.002-Service execution/"
    "ID7000,7009,7045-Payload deployed via service - Tchopper.evtx"
)
WIN_PROC = {"product": "windows", "category": "process_creation"}


def write_jsonl(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def event(fields: dict[str, object], record: int = 1) -> Event:
    return Event(fields, "f", record, None)


def test_routing_keeps_rules_to_their_events() -> None:
    proc = stand_in("proc_whoami", WIN_PROC, {"CommandLine": "whoami"})
    anywhere = stand_in("linux_whoami", {"product": "linux"}, {"CommandLine": "whoami"})
    scanner = Scanner(StandInSet([proc, anywhere]))
    sysmon = event({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "CommandLine": "whoami"})
    logon = event({"Channel": "Security", "EventID": 4624, "CommandLine": "whoami"})
    flat = event({"CommandLine": "WHOAMI /all"})
    assert scanner.match_ids(sysmon) == [0]  # a linux rule is not tested on Windows records
    assert scanner.match_ids(logon) == []  # process_creation is not routed to 4624
    assert scanner.match_ids(flat) == [0, 1]  # no Channel: every rule
    full = Scanner(StandInSet([proc, anywhere]), routing=False)
    assert full.match_ids(logon) == [0, 1]


def test_prefilter_skips_rules_without_their_literal() -> None:
    proc = stand_in("proc_whoami", WIN_PROC, {"CommandLine": "whoami"})
    two = stand_in(
        "two_fields", WIN_PROC, {"CommandLine": "net", "User": "admin"}
    )  # no literal: always tested
    scanner = Scanner(StandInSet([proc, two]))
    miss = event({"Channel": "Security", "EventID": 4688, "CommandLine": "notepad.exe"})
    assert scanner.match_ids(miss) == []
    assert (len(proc.calls), len(two.calls)) == (0, 1)
    assert scanner.candidates_tested == 1


def test_a_failing_rule_is_reported_once_and_the_scan_goes_on(tmp_path: Path) -> None:
    good = stand_in("good", {}, {"a": "x"})
    broken = BrokenRule(stand_in("bad", {}, {"a": "x"}))
    logs = write_jsonl(tmp_path / "a.jsonl", [{"a": "x"}, {"a": "xx"}, {"a": "y"}])
    matches: list[RuleMatch] = []
    out = run_scan(StandInSet([good, broken]), [logs], on_match=matches.append)  # type: ignore[list-item]
    assert [(m.rule.uid, m.event.record) for m in matches] == [("sigma/good", 1), ("sigma/good", 2)]
    assert len(out.rule_failures) == 1
    failure = out.rule_failures[0]
    assert (failure.uid, failure.file, failure.record, failure.count) == ("sigma/bad", str(logs), 1, 2)
    assert failure.message == "ValueError: broken matcher"


@dataclass(slots=True)
class BrokenRule:
    inner: StandInRule

    @property
    def uid(self) -> str:
        return self.inner.uid

    @property
    def rule(self) -> Rule:
        return self.inner.rule

    @property
    def logsource(self) -> dict[str, str]:
        return self.inner.logsource

    @property
    def required_literals(self) -> frozenset[str] | None:
        return self.inner.required_literals

    def match(self, fields: dict[str, object], cache: dict[object, object] | None = None) -> bool:
        raise ValueError("broken matcher")

    def matched_fields(
        self, fields: dict[str, object], cache: dict[object, object] | None = None
    ) -> dict[str, object]:
        return {}


def test_workers_give_the_same_matches_in_the_same_order(tmp_path: Path, shared_dir: Path) -> None:
    rules = [
        stand_in("sysmon_powershell", WIN_PROC, {"Image": "powershell"}),
        stand_in("any_cmd", {}, {"CommandLine": "cmd"}),
        stand_in(
            "security_admin", {"product": "windows", "service": "security"}, {"SubjectUserName": "admin"}
        ),
    ]
    logs = [shared_dir / "logs/evtx-attack-samples", shared_dir / "logs/otrf-security-datasets/windows"]
    runs = []
    for workers in (1, 2):
        seen: list[tuple[str, str, int | None]] = []
        out = run_scan(
            StandInSet(rules),
            logs,
            workers=workers,
            on_match=lambda m, seen=seen: seen.append((m.rule.uid, m.event.file, m.event.record)),
        )
        runs.append((seen, out.stats.events, [str(p) for p in out.input_problems]))
    assert runs[0][0] and runs[0][1] > 5000
    assert runs[0] == runs[1]


def test_big_evtx_files_are_split_by_chunks_for_workers(tmp_path: Path, shared_dir: Path) -> None:
    source = shared_dir / SERVICE_EVTX
    big = tmp_path / "big.evtx"
    data = source.read_bytes()
    big.write_bytes(data)  # 17 chunks: below the split size
    assert len(make_tasks([big], 2)) == 1
    padded = tmp_path / "padded.evtx"
    padded.write_bytes(data + b"\0" * (65536 * 60))  # 77 chunks (the extra ones empty)
    tasks = make_tasks([padded], 2)
    assert [t.chunks for t in tasks] == [(0, 32), (32, 64), (64, 77)]
    assert make_tasks([padded], 1)[0].chunks is None
    rule = stand_in("everything", {}, {"Channel": ""}, literal=False)
    counts = []
    for workers in (1, 2):
        found: list[int | None] = []
        run_scan(
            StandInSet([rule]),
            [padded],
            workers=workers,
            on_match=lambda m, found=found: found.append(m.event.record),
        )
        counts.append(found)
    assert counts[0] == counts[1] and len(counts[0]) > 100


def test_worker_jobs_group_consecutive_tasks_in_order(tmp_path: Path) -> None:
    tasks = []
    for index in range(20):
        path = tmp_path / f"{index:02}.jsonl"
        path.write_bytes(b"{}\n" * 500)  # 1500 bytes each
        tasks.append(InputSource(path))
    jobs = group_tasks(tasks, 2)
    assert [task for job in jobs for task in job] == tasks  # every task once, in input order
    assert all(len(job) > 1 for job in jobs)  # small files travel together, not one message each
    assert len(jobs) >= 8  # and there are enough jobs for two workers to share
    chunk_range = InputSource(tmp_path / "00.jsonl", (0, 2))  # counts as 2 chunks of 64 KiB
    assert group_tasks([*tasks[:2], chunk_range, tasks[2]], 2) == [(*tasks[:2], chunk_range), (tasks[2],)]


def test_matches_stream_out_while_a_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A catch-all rule over a big file held every match until the file ended (6.2 GB at 49 s)."""
    import ruleatlas.engine.scan as scan_module

    catch_all = stand_in("any", {}, {"a": "x"})
    logs = write_jsonl(tmp_path / "a.jsonl", [{"a": "x"} for _ in range(500)])
    read = 0
    real = scan_module.read_source

    def counting(*args: object, **kwargs: object) -> Iterator[Event]:
        nonlocal read
        for item in real(*args, **kwargs):  # type: ignore[arg-type]
            read += 1
            yield item

    monkeypatch.setattr(scan_module, "read_source", counting)
    seen: list[tuple[int | None, int]] = []
    run_scan(StandInSet([catch_all]), [logs], on_match=lambda m: seen.append((m.event.record, read)))
    assert seen == [(n, n) for n in range(1, 501)]  # each match out before the next event is read


def test_scan_freezes_the_heap_only_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The objects alive at the start are kept out of the garbage collector's passes during the scan
    (`_frozen_heap`), and given back at the end; a caller's own freeze is left as it was."""
    import gc

    catch_all = stand_in("any", {}, {"a": "x"})
    logs = write_jsonl(tmp_path / "a.jsonl", [{"a": "x"}, {"a": "y"}])
    counts: list[int] = []
    assert gc.get_freeze_count() == 0
    out = run_scan(StandInSet([catch_all]), [logs], on_match=lambda m: counts.append(gc.get_freeze_count()))
    assert out.stats.matches == 1 and counts[0] > 0  # frozen during the scan
    assert gc.get_freeze_count() == 0  # and not after
    gc.freeze()
    try:
        # Frozen objects can still be freed by reference counting while the scan runs, so the count may
        # shrink: what must not happen is the scan freezing or unfreezing on its own.
        calls: list[str] = []
        monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
        monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
        out = run_scan(StandInSet([catch_all]), [logs], on_match=lambda m: None)
        monkeypatch.undo()
        assert out.stats.matches == 1 and calls == []  # the caller's freeze untouched
        assert gc.get_freeze_count() > 0
    finally:
        monkeypatch.undo()
        gc.unfreeze()


def test_worker_jobs_send_their_matches_in_parts(tmp_path: Path) -> None:
    catch_all = stand_in("any", {}, {"a": "x"})
    logs = write_jsonl(tmp_path / "a.jsonl", [{"a": "x" if n % 2 else "y"} for n in range(100)])
    scanner = Scanner(StandInSet([catch_all]))
    parts = list(scan_sources(scanner, 0, (InputSource(logs),), None, part_matches=8))
    assert [len(part.matches) for part in parts] == [8] * 6 + [2]
    assert [part.last for part in parts] == [False] * 6 + [True]
    assert sum(part.events for part in parts) == 100 and parts[-1].sources == 1
    two = run_scan(StandInSet([catch_all]), [logs] * 3, on_match=lambda m: None, workers=2)
    assert two.stats.matches == 150


def test_correlation_inputs_are_put_in_time_order_across_files(tmp_path: Path) -> None:
    """Files out of time order (each host's export) are fed in time order through the bounded buffer;
    input beyond it that is older than what was fed is counted as late, not lost silently."""
    from ruleatlas.engine import scan as scan_module
    from ruleatlas.engine.scan import _CorrelationFeed

    assert scan_module.REORDER_MATCHES >= 1_000
    fields = {"a": "x", "User": "bob"}
    files = [
        write_jsonl(tmp_path / f"{n}.jsonl", [{**fields, "@timestamp": f"2024-01-0{day}T00:00:00Z"}])
        for n, day in enumerate((2, 3, 1))
    ]
    fed: list[str] = []

    class Recorder:
        referenced_uids = frozenset({"sigma/any"})
        skips: tuple[object, ...] = ()

        def outputs(self, rule: Rule) -> bool:
            return True

        def feed(self, rule: Rule, item: Event) -> list[object]:
            fed.append(str(item.timestamp))
            return []

        def flush(self) -> list[object]:
            return []

    rules = [stand_in("any", {}, {"a": "x"})]
    for limit, days in ((100, ["01", "02", "03"]), (1, ["02", "01", "03"])):
        fed.clear()
        feed = _CorrelationFeed(Recorder(), rules, scan_module.ScanOutput(), lambda alert: None, limit)
        for path in files:
            for item in scan_module.read_source(InputSource(path), problems=[]):
                feed.keep(0, item)
        feed.finish()
        assert [moment[8:10] for moment in fed] == days  # with a buffer of 1, day 1 comes after day 2
