"""Readers: EVTX, JSON, JSONL (plain, gzip) to Sigma-named events; bad input reported with place and cause."""

from __future__ import annotations

import gzip
import json
import pickle
import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ruleatlas.logs.event import Event, InputProblem, parse_time
from ruleatlas.logs.evtx_fields import evtx_fields
from ruleatlas.logs.readers import (
    EVTX_CHUNK_BYTES,
    EVTX_HEADER_BYTES,
    MAX_DOCUMENT_BYTES,
    InputSource,
    evtx_chunk_count,
    plan_inputs,
    read_events,
    read_source,
)

# A file of 8 used chunks (733 records, 7000/7009/7045 in System) in the shared EVTX samples.
SERVICE_EVTX = (
    "logs/evtx-to-mitre-attack/TA0002-Execution/T1569.002-Service execution/"
    "ID7000,7009,7045-Payload deployed via service - Tchopper.evtx"
)


def read_all(paths: list[Path], **kwargs: object) -> tuple[list[Event], list[InputProblem]]:
    problems: list[InputProblem] = []
    events = list(read_events(paths, problems=problems, **kwargs))  # type: ignore[arg-type]
    return events, problems


@pytest.fixture()
def service_evtx(shared_dir: Path) -> Path:
    return shared_dir / SERVICE_EVTX


# --- EVTX -----------------------------------------------------------------------------------------------


def test_evtx_system_fields_use_sigma_names(service_evtx: Path) -> None:
    events, problems = read_all([service_evtx])
    assert problems == []
    assert len(events) == 733
    first = events[0]
    assert first.file == str(service_evtx)
    assert isinstance(first.record, int)
    fields = first.fields
    for name in (
        "EventID",
        "Channel",
        "Provider_Name",
        "Computer",
        "EventRecordID",
        "Level",
        "Task",
        "Keywords",
        "TimeCreated",
        "ProcessID",
        "ThreadID",
    ):
        assert name in fields, name
    assert isinstance(fields["EventID"], int)
    assert first.record == 1 and isinstance(fields["EventRecordID"], int)  # record header number vs System
    assert first.timestamp is not None and first.timestamp.tzinfo is not None
    assert first.timestamp == parse_time(fields["TimeCreated"])
    service = next(e for e in events if e.fields["EventID"] == 7045)
    assert service.fields["Channel"] == "System"
    assert service.fields["Provider_Name"] == "Service Control Manager"
    assert service.fields["Qualifiers"] == 16384  # from <EventID Qualifiers="16384">
    assert "ImagePath" in service.fields and "ServiceName" in service.fields


def test_evtx_json_twin_gives_the_same_fields(shared_dir: Path) -> None:
    """SigmaHQ's regression samples come as .evtx and as the evtx package's JSON: both read the same."""
    base = shared_dir / "corpus/sigma/regression_data/rules/windows/process_creation"
    pairs = sorted(base.glob("*/*.evtx"))[:5]
    assert pairs
    for evtx_path in pairs:
        from_evtx, p1 = read_all([evtx_path])
        from_json, p2 = read_all([evtx_path.with_suffix(".json")])
        assert p1 == [] and p2 == []
        assert len(from_json) == 1 and len(from_evtx) >= 1
        record_id = from_json[0].fields["EventRecordID"]
        match = [e for e in from_evtx if e.fields["EventRecordID"] == record_id]
        assert match, evtx_path
        # SigmaHQ's JSON twins have trailing blanks trimmed; otherwise the fields are the same
        assert _stripped(match[0].fields) == _stripped(from_json[0].fields)
        assert match[0].timestamp == from_json[0].timestamp


def _stripped(fields: dict[str, object]) -> dict[str, object]:
    return {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}


def test_evtx_unnamed_data_and_userdata() -> None:
    obj = {
        "Event": {
            "System": {
                "EventID": {"#attributes": {"Qualifiers": 0}, "#text": "18456"},
                "Channel": "Application",
                "Provider": {"#attributes": {"Name": "MSSQL"}},
                "TimeCreated": {"#attributes": {"SystemTime": "2019-01-01T00:00:00.1234567Z"}},
            },
            "EventData": {"Data": {"#text": ["sa", " Reason: x"]}, "Binary": "00"},
            "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserName": "bob"}},
        }
    }
    fields = evtx_fields(obj)
    assert fields["EventID"] == 18456 and fields["Qualifiers"] == 0
    assert fields["Data"] == ["sa", " Reason: x"]
    assert fields["Binary"] == "00"
    assert fields["SubjectUserName"] == "bob"
    assert fields["Provider_Name"] == "MSSQL"


def test_evtx_chunk_ranges_cover_the_file(service_evtx: Path) -> None:
    chunks = evtx_chunk_count(service_evtx)
    assert chunks == 17  # 8 used + 9 empty preallocated chunks
    whole, _ = read_all([service_evtx])
    parts: list[Event] = []
    problems: list[InputProblem] = []
    for start in range(0, chunks, 3):
        parts.extend(
            read_source(InputSource(service_evtx, (start, min(start + 3, chunks))), problems=problems)
        )
    assert problems == []
    assert [e.record for e in parts] == [e.record for e in whole]
    assert [e.fields for e in parts] == [e.fields for e in whole]


def test_truncated_evtx_names_the_chunk_and_keeps_earlier_records(service_evtx: Path, tmp_path: Path) -> None:
    data = service_evtx.read_bytes()
    cut = EVTX_HEADER_BYTES + 2 * EVTX_CHUNK_BYTES + 30000  # inside chunk 2
    broken = tmp_path / "cut.evtx"
    broken.write_bytes(data[:cut])
    other = tmp_path / "other.jsonl"
    other.write_text('{"EventID": 1, "Channel": "x"}\n')
    events, problems = read_all([tmp_path])
    evtx_events = [e for e in events if e.file == str(broken)]
    assert 0 < len(evtx_events) < 733  # chunks 0 and 1 read
    assert any(e.file == str(other) for e in events)  # the other file still read
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == str(broken)
    assert problem.where == "chunk" and problem.record == 2
    assert "truncated EVTX" in problem.message and "30000 of 65536 bytes" in problem.message


def test_bit_flipped_evtx_reports_records_and_reads_the_rest(service_evtx: Path, tmp_path: Path) -> None:
    data = bytearray(service_evtx.read_bytes())
    rng = random.Random(7)
    start = EVTX_HEADER_BYTES + EVTX_CHUNK_BYTES + 512  # the records of chunk 1
    for _ in range(200):
        data[start + rng.randrange(60000)] ^= 0xFF
    broken = tmp_path / "flipped.evtx"
    broken.write_bytes(bytes(data))
    events, problems = read_all([broken, service_evtx])
    broken_events = [e for e in events if e.file == str(broken)]
    assert 500 < len(broken_events) < 733  # the damaged chunk lost, the others read
    assert sum(1 for e in events if e.file == str(service_evtx)) == 733  # next file read
    assert problems, "damage must be reported"
    assert all(p.file == str(broken) for p in problems)
    assert all("cannot be decoded" in p.message for p in problems)
    # each names its record, or, when the damage hides the record number, the record read before it
    assert all(p.record is not None or "after record " in p.message for p in problems)
    lost = {e.record for e in read_all([service_evtx])[0]} - {e.record for e in broken_events}
    assert min(lost) == min(p.record for p in problems if p.record is not None)


def test_evtx_with_a_broken_header_is_reported(service_evtx: Path, tmp_path: Path) -> None:
    data = bytearray(service_evtx.read_bytes()[: EVTX_HEADER_BYTES + EVTX_CHUNK_BYTES])
    data[1] ^= 0xFF  # no longer ElfFile: not recognised as EVTX
    broken = tmp_path / "header.evtx"
    broken.write_bytes(bytes(data))
    events, problems = read_all([broken])
    assert events == []
    assert len(problems) == 1 and problems[0].file == str(broken)
    assert "not EVTX, gzip or JSON" in problems[0].message


def test_gzip_evtx_and_gzip_jsonl(service_evtx: Path, tmp_path: Path) -> None:
    gz_evtx = tmp_path / "a.evtx.gz"
    gz_evtx.write_bytes(gzip.compress(service_evtx.read_bytes()))
    gz_jsonl = tmp_path / "b.jsonl.gz"
    gz_jsonl.write_bytes(
        gzip.compress(b'{"EventID": 4688, "Channel": "Security"}\nnot json\n{"EventID": 1}\n')
    )
    events, problems = read_all([gz_evtx, gz_jsonl])
    assert sum(1 for e in events if e.file == str(gz_evtx)) == 733
    assert [e.fields.get("EventID") for e in events if e.file == str(gz_jsonl)] == [4688, 1]
    assert [(p.file, p.where, p.record) for p in problems] == [(str(gz_jsonl), "line", 2)]


def test_damaged_gzip_is_reported(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(20000)))
    broken = tmp_path / "cut.jsonl.gz"
    broken.write_bytes(data[: len(data) // 2])
    events, problems = read_all([broken])
    assert 0 < len(events) < 20000
    assert len(problems) == 1 and problems[0].file == str(broken)
    assert "gzip data damaged" in problems[0].message


# --- JSON / JSONL ---------------------------------------------------------------------------------------


def test_flat_jsonl_keeps_names_and_reads_time(shared_dir: Path) -> None:
    files = sorted((shared_dir / "logs/otrf-security-datasets/windows").rglob("*.json"))
    events, problems = read_all(files[:1])
    assert problems == []
    assert events and all(e.record == i + 1 for i, e in enumerate(events))  # line numbers
    first = events[0]
    assert first.fields["Channel"] and isinstance(first.fields["EventID"], int)
    assert first.timestamp is not None
    assert first.timestamp == parse_time(first.fields.get("@timestamp") or first.fields["TimeCreated"])


def test_invalid_json_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n{"a": 2,\n\n[1, 2]\n{"a": 3}\n"text"\n{"a": 4}')
    events, problems = read_all([path])
    assert [e.fields["a"] for e in events] == [1, 3, 4]
    assert [e.record for e in events] == [1, 5, 7]
    assert [(p.record, p.where) for p in problems] == [(2, "line"), (4, "line"), (6, "line")]
    assert problems[0].message.startswith("invalid JSON")
    assert "not an object" in problems[1].message and "list" in problems[1].message
    assert str(problems[0]) == f"{path}: line 2: {problems[0].message}"


def test_damaged_first_line_and_text_that_is_not_json(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text('garbage at the start\n{"a": 1}\n')
    prose = tmp_path / "prose.log"
    prose.write_text("".join(f"line {i} of a plain text log\n" for i in range(150)))
    events, problems = read_all([damaged, prose])
    assert [e.fields["a"] for e in events] == [1]
    assert (Path(problems[0].file).name, problems[0].record) == ("damaged.jsonl", 1)
    prose_problems = [p for p in problems if p.file == str(prose)]
    assert len(prose_problems) == 101  # each line up to the 100th, then one that gives the file up
    assert prose_problems[-1].message.startswith("the first 100 lines are not JSON: rest of file skipped")


def test_json_shapes(tmp_path: Path) -> None:
    (tmp_path / "array.json").write_text('[{"a": 1}, {"a": 2}]')
    (tmp_path / "pretty.json").write_text(json.dumps({"a": 3, "b": {"c": {"d": "x"}}}, indent=2))
    (tmp_path / "several.json").write_text('{\n "a": 4\n}\n{\n "a": 5\n}\n')
    (tmp_path / "bom.jsonl").write_bytes('\ufeff{"a": 6}\n'.encode())
    events, problems = read_all([tmp_path])
    assert problems == []
    assert [e.fields["a"] for e in events] == [1, 2, 6, 3, 4, 5]
    nested = next(e for e in events if e.fields["a"] == 3)
    assert nested.fields["b.c.d"] == "x" and nested.fields["b.c"] == {"d": "x"}
    assert [e.record for e in events if e.file.endswith("array.json")] == [1, 2]


def test_cloudtrail_records_are_one_event_each(tmp_path: Path) -> None:
    records = [
        {"eventTime": "2024-01-02T03:04:05Z", "eventName": "ConsoleLogin", "userIdentity": {"type": "Root"}},
        {"eventTime": "2024-01-02T03:04:06Z", "eventName": "StopLogging"},
    ]
    (tmp_path / "trail.json").write_text(json.dumps({"Records": records}))  # one line, as AWS writes it
    (tmp_path / "pretty.json").write_text(json.dumps({"Records": [records[1], 7]}, indent=2))
    with gzip.open(tmp_path / "trail.json.gz", "wt") as f:
        f.write(json.dumps({"Records": records}))
    (tmp_path / "other.json").write_text(json.dumps({"Records": [1, 2], "More": True}))  # not a wrapper
    events, problems = read_all([tmp_path], time_field="eventTime")
    names = [(Path(e.file).name, e.record, e.fields.get("eventName")) for e in events]
    assert names == [
        ("other.json", 1, None),
        ("pretty.json", 1, "StopLogging"),
        ("trail.json", 1, "ConsoleLogin"),
        ("trail.json", 2, "StopLogging"),
        ("trail.json.gz", 1, "ConsoleLogin"),
        ("trail.json.gz", 2, "StopLogging"),
    ]
    assert events[2].fields["userIdentity.type"] == "Root"
    assert events[2].timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'pretty.json'}: element 1: record 2 of its Records list is a JSON int, not an object: "
        "skipped"
    ]


def test_json_array_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('[\n{"a": 1},\n{"a": 2} {"a": 3},\n{"a": 4}\n]')
    (tmp_path / "open.json").write_text('[{"a": 1},\n')
    (tmp_path / "garbage.json").write_text('[{"a": 1}, {"a": tru}]')
    events, problems = read_all([tmp_path])
    assert sorted(e.fields["a"] for e in events) == [1, 1, 1, 2]
    by_file = {Path(p.file).name: p for p in problems}
    assert by_file["bad.json"].record == 3 and "expected ',' or ']'" in by_file["bad.json"].message
    assert "not closed" in by_file["open.json"].message
    assert "invalid JSON" in by_file["garbage.json"].message


def test_time_field_and_default_time_fields(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"@timestamp": "2024-01-02T03:04:05+02:00"}\n{"UtcTime": "2024-01-02 03:04:05.123"}\n'
        '{"when": 1704164645}\n{"when": 1704164645000}\n{"nothing": 1}\n'
        '{"x": {"t": "2024-01-02T03:04:05Z"}}\n'
    )
    events, _ = read_all([path])
    assert events[0].timestamp == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert events[1].timestamp == datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    assert events[2].timestamp is None and events[4].timestamp is None
    timed, _ = read_all([path], time_field="when")
    assert timed[2].timestamp == timed[3].timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    nested, _ = read_all([path], time_field="x.t")
    assert nested[5].timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_event_time_is_found_when_first_asked_and_kept() -> None:
    fields: dict[str, object] = {"TimeCreated": "2024-01-02T03:04:05.5Z", "EventID": 1}
    lazy = Event(fields, "a.evtx", 7, None, "TimeCreated", "2030-01-01T00:00:00Z")
    when = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert lazy.timestamp == when
    fields["TimeCreated"] = "1999-01-01T00:00:00Z"  # found once: later changes do not move it
    assert lazy.timestamp == when
    fallback = Event({"EventID": 1}, "a.evtx", 8, None, "TimeCreated", "2030-01-01T00:00:00Z")
    assert fallback.timestamp == datetime(2030, 1, 1, tzinfo=UTC)  # the record's own time
    assert Event({}, "a.json", 1, None, None).timestamp is None
    known = Event({"x": 1}, "a.json", 2, when)
    assert known.timestamp == when
    # equal by what they hold; a worker sends them pickled, with the time found
    copy = pickle.loads(pickle.dumps(Event({"t": "2024-01-02T03:04:05.5Z"}, "b.json", 3, None, "t")))
    assert copy == Event({"t": "2024-01-02T03:04:05.5Z"}, "b.json", 3, when)
    assert copy != Event({"t": "2024-01-02T03:04:05.5Z"}, "b.json", 4, when)
    assert "b.json" in repr(copy)


def test_empty_unknown_and_mixed_folder(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    (tmp_path / "notes.md").write_text("# not a log")
    (tmp_path / "rules.yml").write_text("title: x")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.jsonl").write_text('{"a": 1}\n')
    (sub / "bin.log").write_bytes(b"\x00\x01binary")
    (sub / "latin.jsonl").write_bytes(b'{"a": "\xe9"}\n')
    problems: list[InputProblem] = []
    plan = plan_inputs([tmp_path, tmp_path / "missing"], problems)
    assert plan.skipped == {".md": 1, ".yml": 1}
    assert [p.name for p in plan.files] == ["blank.jsonl", "empty.json", "a.jsonl", "bin.log", "latin.jsonl"]
    assert [p.message for p in problems] == ["no such file or folder"]
    events, problems = read_all([tmp_path])
    assert [e.fields["a"] for e in events] == [1]
    messages = {Path(p.file).name: p.message for p in problems}
    assert messages["empty.json"] == "empty file: no events"
    assert messages["blank.jsonl"] == "empty file: no events"
    assert "not EVTX, gzip or JSON" in messages["bin.log"]
    assert "invalid JSON" in messages["latin.jsonl"]


def test_named_file_is_read_whatever_its_name(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_text('{"a": 1}\n')
    events, problems = read_all([path])
    assert problems == [] and len(events) == 1


# --- big single-line JSON: bounded memory ---------------------------------------------------------------

_MEASURE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from ruleatlas.logs.readers import read_events
    problems = []
    count = sum(1 for _ in read_events([Path(sys.argv[1])], problems=problems))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child of a big pytest process would
    # report its parent's peak; VmHWM belongs to this process image alone.
    status = Path("/proc/self/status").read_text()
    peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(json.dumps({"events": count, "peak_mb": peak_mb, "problems": [str(p) for p in problems]}))
    """
)


def _measure(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _write_big_line(path: Path, opener: str, closer: str, total: int) -> int:
    element = json.dumps(
        {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "CommandLine": "x" * 2000}
    )
    count = 0
    with path.open("w") as f:
        f.write(opener)
        while f.tell() < total:
            if count:
                f.write(",")
            f.write(element if opener == "[" else f'"k{count}": {element}')
            count += 1
        f.write(closer)
    return count


def test_100mb_single_line_json_array_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    count = _write_big_line(path, "[", "]", 100 * 1024 * 1024)
    assert path.stat().st_size >= 100 * 1024 * 1024
    result = _measure(path)
    assert result["events"] == count and result["problems"] == []
    assert result["peak_mb"] < 200, result  # the file is 100 MB: it was never held whole


def test_100mb_single_json_object_is_rejected_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    _write_big_line(path, "{", "}", 100 * 1024 * 1024)
    result = _measure(path)
    assert result["events"] == 0
    problems = result["problems"]
    assert isinstance(problems, list) and len(problems) == 1
    assert MAX_DOCUMENT_BYTES == 16 * 1024 * 1024
    assert problems[0] == (
        f"{path}: line 1: JSON line longer than the 16 MiB limit for one document: "
        "skipped (split it into one event per line, or into an array)"
    )
    assert result["peak_mb"] < 200, result


def test_pretty_printed_document_over_the_limit_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ruleatlas.logs.readers as readers

    monkeypatch.setattr(readers, "MAX_DOCUMENT_BYTES", 4096)
    path = tmp_path / "pretty.json"
    path.write_text("{\n" + ",\n".join(f'  "k{i}": "{"v" * 50}"' for i in range(200)) + "\n}\n")
    events, problems = read_all([path])
    assert events == []
    assert len(problems) == 1 and problems[0].record == 1
    assert problems[0].message == "JSON value 1 is larger than the 4096 bytes limit for one document: skipped"


def test_json_nested_too_deeply_costs_one_line_and_the_rest_is_read(tmp_path: Path) -> None:
    """json's decoder raises RecursionError at about 1,000 levels: that aborted the whole scan."""
    deep = '{"EventID": 1, "x": ' + "[" * 1000 + "]" * 1000 + "}"
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(deep + "\n" + json.dumps({"EventID": 2}) + "\n")
    (logs / "b.json").write_text("[" + deep + "]")  # a document: no line to resume at
    (logs / "c.jsonl").write_text(json.dumps({"EventID": 3}) + "\n")
    events, problems = read_all([logs])
    assert [e.fields["EventID"] for e in events] == [2, 3]
    assert [(Path(p.file).name, p.record, p.where) for p in problems] == [
        ("a.jsonl", 1, "line"),
        ("b.json", 1, "line"),
    ]
    assert "nested too deeply" in problems[0].message and problems[0].message.endswith("skipped")
    assert problems[1].message.endswith("rest of file skipped")


def test_a_fifo_named_like_a_log_is_skipped_with_a_warning(tmp_path: Path) -> None:
    import os

    logs = tmp_path / "logs"
    logs.mkdir()
    os.mkfifo(logs / "pipe.jsonl")  # reading it would block until a writer comes: forever
    (logs / "good.jsonl").write_text(json.dumps({"EventID": 1}) + "\n")
    problems: list[InputProblem] = []
    plan = plan_inputs([logs, logs / "pipe.jsonl"], problems)
    assert plan.files == [logs / "good.jsonl"] and problems == []
    assert [(Path(w.file).name, w.message) for w in plan.warnings] == [
        ("pipe.jsonl", "a named pipe (FIFO), not a log file: skipped"),
        ("pipe.jsonl", "a named pipe (FIFO), not a log file: skipped"),
    ]
    events, problems = read_all([logs])  # read_events reports them among the problems: nothing silent
    assert len(events) == 1 and [Path(p.file).name for p in problems] == ["pipe.jsonl"]
