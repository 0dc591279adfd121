"""`ruleatlas scan`: formats, exit codes, problems with their places, correlations, workers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ruleatlas.cli import main
from ruleatlas.engine import output, scan_cli

WHOAMI = """\
title: Whoami Execution
id: 11111111-1111-4111-8111-111111111111
status: test
level: medium
tags:
    - attack.discovery
    - attack.t1033
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\whoami.exe'
    condition: selection
"""

BROKEN = """\
title: Broken
logsource:
    product: windows
detection:
    selection:
        Image|badmodifier: 'x'
    condition: selection
"""

CORRELATION = """\
title: Whoami Twice
id: 22222222-2222-4222-8222-222222222222
level: high
correlation:
    type: event_count
    rules:
        - 11111111-1111-4111-8111-111111111111
    group-by:
        - Computer
    timespan: 1h
    condition:
        gte: 2
"""


def _event(n: int, image: str = "C:\\Windows\\System32\\whoami.exe", computer: str = "pc1") -> str:
    return json.dumps(
        {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 1,
            "Image": image,
            "Computer": computer,
            "@timestamp": f"2024-01-01T00:0{n}:00Z",
        }
    )


@pytest.fixture()
def setup(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami.yml").write_text(WHOAMI)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(_event(1) + "\n" + _event(2, "C:\\x\\notepad.exe") + "\n")
    (logs / "b.jsonl").write_text(_event(3, computer="pc2") + "\n")
    return tmp_path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["scan", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_jsonl_matches_and_a_clean_exit(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["--rules", str(setup / "rules"), "--format", "jsonl", str(setup / "logs")], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 2
    first = rows[0]
    assert first["type"] == "match"
    assert first["rule"] == {
        "uid": "sigma/whoami",
        "id": "11111111-1111-4111-8111-111111111111",
        "title": "Whoami Execution",
        "level": "medium",
    }
    assert first["timestamp"] == "2024-01-01T00:01:00Z"
    assert first["source"] == {"file": str(setup / "logs" / "a.jsonl"), "record": 1}
    assert first["event"]["Computer"] == "pc1"
    assert first["matched"] == {"Image": "C:\\Windows\\System32\\whoami.exe"}
    assert rows[1]["source"] == {"file": str(setup / "logs" / "b.jsonl"), "record": 1}
    assert "scanned 3 events from 2 files with 1 rules" in err and "2 matches" in err
    assert "discovery" in err  # summary per tactic on stderr for machine formats


def test_table_and_csv(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--rules", str(setup / "rules"), "--format", "table", str(setup / "logs")], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["time", "(UTC)", "level", "rule", "computer", "matched"]
    assert lines[1].startswith("2024-01-01T00:01:00  medium    Whoami Execution")
    assert "pc1" in lines[1] and "Image=C:\\Windows\\System32\\whoami.exe" in lines[1]
    assert "matches per rule (1 rules):" in out
    assert "      2  discovery" in out
    code, out, _ = _run(["--rules", str(setup / "rules"), "--format", "csv", str(setup / "logs")], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["type"], r["rule_uid"], r["computer"], r["event_id"], r["record"]) for r in rows] == [
        ("match", "sigma/whoami", "pc1", "1", "1"),
        ("match", "sigma/whoami", "pc2", "1", "1"),
    ]
    assert json.loads(rows[0]["matched"]) == {"Image": "C:\\Windows\\System32\\whoami.exe"}


def test_problems_are_reported_with_place_and_the_scan_goes_on(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (setup / "rules" / "broken.yml").write_text(BROKEN)
    (setup / "logs" / "c.jsonl").write_text("not json\n" + _event(4) + "\n")
    problems = setup / "problems.jsonl"
    output_file = setup / "out.jsonl"
    code, out, err = _run(
        [
            "--rules",
            str(setup / "rules"),
            "--output",
            str(output_file),
            "--problems",
            str(problems),
            str(setup / "logs"),
            str(setup / "missing.evtx"),
        ],
        capsys,
    )
    assert code == 1
    assert out == ""
    assert len(output_file.read_text().splitlines()) == 3  # the good rule ran over the good lines
    assert "error: broken.yml:6: rule sigma/broken cannot run" in err
    assert f"error: {setup / 'logs' / 'c.jsonl'}: line 1: invalid JSON" in err
    assert f"error: {setup / 'missing.evtx'}: no such file or folder" in err
    records = [json.loads(line) for line in problems.read_text().splitlines()]
    kinds = sorted(r["kind"] for r in records)
    assert kinds == ["input", "input", "rule"]
    line_problem = next(r for r in records if r["kind"] == "input" and r["at"] == 1)
    assert line_problem["where"] == "line" and line_problem["file"] == str(setup / "logs" / "c.jsonl")


def test_correlation_alerts(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (setup / "rules" / "twice.yml").write_text(CORRELATION)
    (setup / "logs" / "c.jsonl").write_text(_event(4) + "\n")
    code, out, err = _run(["--rules", str(setup / "rules"), "--format", "jsonl", str(setup / "logs")], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    # generate: false (the default): the base rule's own matches are not reported, only the correlation
    assert [r["type"] for r in rows] == ["correlation"]
    alert = rows[0]
    assert alert["rule"]["uid"] == "sigma/twice" and alert["rule"]["level"] == "high"
    assert alert["correlation"]["type"] == "event_count"
    assert alert["correlation"]["group"] == {"Computer": "pc1"}
    assert alert["correlation"]["count"] == 2
    assert alert["correlation"]["window"] == {"start": "2024-01-01T00:01:00Z", "end": "2024-01-01T00:04:00Z"}
    assert [(Path(e["file"]).name, e["record"]) for e in alert["events"]] == [("a.jsonl", 1), ("c.jsonl", 1)]
    assert "1 correlation alerts" in err


def test_workers_give_the_same_output(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(5):
        (setup / "logs" / f"more{n}.jsonl").write_text("\n".join(_event(n % 9) for _ in range(20)) + "\n")
    args = ["--rules", str(setup / "rules"), "--format", "jsonl", str(setup / "logs")]
    one = _run([*args, "--workers", "1"], capsys)
    two = _run([*args, "--workers", "2"], capsys)
    assert one[0] == two[0] == 0
    assert one[1] == two[1] and len(one[1].splitlines()) == 102


def test_the_scan_does_not_read_its_own_output(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = setup / "logs"
    out_file = logs / "matches.jsonl"  # inside the scanned folder, with a log's name, made by this scan
    args = ["--rules", str(setup / "rules"), "--format", "jsonl", "--output", str(out_file), str(logs)]
    for workers in ("1", "2"):
        out_file.unlink(missing_ok=True)
        code, _, err = _run([*args, "--workers", workers], capsys)
        assert code == 0, err  # a warning, not an error
        assert f"warning: {out_file}: not read, it is this scan's own output" in err
        assert "scanned 3 events from 2 files" in err
        assert [json.loads(line)["source"]["file"] for line in out_file.read_text().splitlines()] == [
            str(logs / "a.jsonl"),
            str(logs / "b.jsonl"),
        ]


@pytest.mark.parametrize("option", ["--output", "--problems"])
@pytest.mark.parametrize("how", ["direct", "in_folder", "symlink", "hardlink"])
def test_an_output_that_is_one_of_the_logs_is_refused_before_anything_is_written(
    setup: Path, capsys: pytest.CaptureFixture[str], option: str, how: str
) -> None:
    log = setup / "logs" / "a.jsonl"
    before = log.read_bytes()
    target = log
    scanned = str(log) if how != "in_folder" else str(setup / "logs")
    if how == "symlink":
        target = setup / "link.jsonl"
        target.symlink_to(log)
    elif how == "hardlink":
        target = setup / "hard.jsonl"
        target.hardlink_to(log)
    code, out, err = _run(["--rules", str(setup / "rules"), option, str(target), scanned], capsys)
    assert code == 2
    assert err.startswith(f"ruleatlas scan: {option} {target} is one of the logs to scan")
    assert "Traceback" not in err and out == ""
    assert log.read_bytes() == before  # not truncated, not appended to


def test_output_and_problems_naming_one_file_are_refused(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = setup / "same.jsonl"
    same.write_text("keep\n")
    args = [
        "--rules",
        str(setup / "rules"),
        "--output",
        str(same),
        "--problems",
        str(same),
        str(setup / "logs"),
    ]
    code, _, err = _run(args, capsys)
    assert code == 2 and "is the same file as --output" in err
    assert same.read_text() == "keep\n"


def test_output_errors_are_one_line_and_exit_2(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = ["--rules", str(setup / "rules")]
    code, _, err = _run([*rules, "--output", str(setup), str(setup / "logs")], capsys)
    assert (code, err) == (2, f"ruleatlas scan: --output {setup} is a folder; name a file to write\n")
    code, _, err = _run([*rules, "--output", "/dev/full", "--format", "jsonl", str(setup / "logs")], capsys)
    assert code == 2
    assert (
        err.strip().splitlines()[-1]
        == "ruleatlas scan: cannot write --output /dev/full: No space left on device"
    )
    assert "Traceback" not in err
    code, _, err = _run(
        [*rules, "--output", str(setup / "no" / "such" / "dir.jsonl"), str(setup / "logs")], capsys
    )
    assert code == 2 and "cannot write --output" in err and "No such file or directory" in err


def test_a_closed_pipe_ends_the_scan_quietly(setup: Path) -> None:
    import subprocess
    import sys

    for n in range(3):
        (setup / "logs" / f"many{n}.jsonl").write_text("\n".join(_event(n) for _ in range(3000)) + "\n")
    script = "import sys; from ruleatlas.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", script, "scan", "--rules", str(setup / "rules"), "--format", "jsonl"]
    scan = subprocess.Popen([*args, str(setup / "logs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert scan.stdout is not None and scan.stderr is not None
    assert scan.stdout.readline().startswith(b'{"type":"match"')
    scan.stdout.close()  # `| head -1`
    err = scan.stderr.read().decode()
    assert scan.wait(timeout=120) == scan_cli.EXIT_PIPE_CLOSED
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_usage_errors(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = setup / "empty_rules"
    empty.mkdir()
    code, _, err = _run(["--rules", str(empty), str(setup / "logs")], capsys)
    assert code == 2 and "no rule to run" in err
    code, _, err = _run(["--rules", str(setup / "rules"), "--workers", "-1", str(setup / "logs")], capsys)
    assert code == 2 and "--workers" in err


def test_formats_agree() -> None:
    assert scan_cli.FORMATS == output.FORMATS


@pytest.mark.parametrize("workers", ["1", "2"])
def test_deep_json_and_lone_surrogates_cost_one_event_and_the_output_stays_json(
    setup: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    logs = setup / "logs"
    deep = '{"EventID": 1, "x": ' + "[" * 1000 + "]" * 1000 + "}"
    (logs / "0deep.jsonl").write_text(deep + "\n")
    lone = _event(5).replace("pc1", "pc\\ud800")  # a JSON escape of an unpaired surrogate
    (logs / "c.jsonl").write_text(lone + "\n")
    out_file = setup / "out.jsonl"
    args = ["--rules", str(setup / "rules"), "--output", str(out_file), "--workers", workers, str(logs)]
    code, _, err = _run(args, capsys)
    assert code == 1  # the deep line is an input error
    assert f"error: {logs / '0deep.jsonl'}: line 1: JSON nested too deeply" in err
    assert f"warning: {logs / 'c.jsonl'}: line 1: text that is not valid Unicode" in err
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [Path(r["source"]["file"]).name for r in rows] == ["a.jsonl", "b.jsonl", "c.jsonl"]
    assert rows[2]["event"]["Computer"] == "pc\ud800"  # written as JSON's own escape, read back the same


def test_a_fifo_in_a_scanned_folder_is_skipped(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    os.mkfifo(setup / "logs" / "pipe.jsonl")
    code, out, err = _run(["--rules", str(setup / "rules"), "--format", "jsonl", str(setup / "logs")], capsys)
    assert code == 0
    assert f"warning: {setup / 'logs' / 'pipe.jsonl'}: a named pipe (FIFO), not a log file: skipped" in err
    assert len(out.splitlines()) == 2


PLACEHOLDER_RULE = """\
title: Admin Logon Elsewhere
id: 44444444-4444-4444-8444-444444444444
level: high
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        User|expand: '%Admins%'
    condition: selection
"""


@pytest.fixture()
def checkout(setup: Path) -> Path:
    """A SigmaHQ-shaped checkout: rules/, rules-placeholder/, deprecated/."""
    root = setup / "sigma"
    for folder in ("rules", "rules-placeholder", "deprecated"):
        (root / folder).mkdir(parents=True)
    (root / "rules" / "whoami.yml").write_text(WHOAMI)
    (root / "rules-placeholder" / "admins.yml").write_text(PLACEHOLDER_RULE)
    old = WHOAMI.replace("11111111-1111-4111-8111-111111111111", "55555555-5555-4555-8555-555555555555")
    (root / "deprecated" / "old_whoami.yml").write_text(old.replace("status: test", "status: deprecated"))
    event = json.loads(_event(6))
    event["User"] = "CORP\\bob"
    (setup / "logs" / "c.jsonl").write_text(json.dumps(event) + "\n")
    return root


def test_a_checkout_scan_leaves_placeholder_and_deprecated_rules_out_unless_asked(
    checkout: Path, setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = str(setup / "logs")
    code, out, err = _run(["--rules", str(checkout), "--format", "jsonl", logs], capsys)
    assert code == 0 and "warning:" not in err and "0 problems, 0 warnings" in err  # no placeholder warnings
    assert f"note: {checkout}: 1 deprecated rules (deprecated/ or status: deprecated) not run" in err
    assert f"note: {checkout}: 1 rules-placeholder/ (needs --placeholder values) not run" in err
    assert {json.loads(line)["rule"]["uid"] for line in out.splitlines()} == {"sigma/whoami"}

    code, out, err = _run(
        ["--rules", str(checkout), "--format", "jsonl", "--placeholder", "Admins=*\\bob", logs], capsys
    )
    assert code == 0, err
    hits = [json.loads(line) for line in out.splitlines() if "admins" in line]
    assert [(h["rule"]["uid"], h["matched"]) for h in hits] == [("sigma/admins", {"User": "CORP\\bob"})]

    values = setup / "placeholders.yml"
    values.write_text("placeholders:\n  Admins: ['*\\\\alice', '*\\\\bob']\n")
    code, out, err = _run(
        ["--rules", str(checkout), "--format", "jsonl", "--placeholders", str(values), logs], capsys
    )
    assert code == 0 and sum("sigma/admins" in line for line in out.splitlines()) == 1

    code, out, err = _run(
        ["--rules", str(checkout), "--format", "jsonl", "--include", "placeholder", logs], capsys
    )
    assert "Admins" in err and "warning:" in err  # asked for, without values: said once
    code, out, _ = _run(
        ["--rules", str(checkout), "--format", "jsonl", "--include", "deprecated", logs], capsys
    )
    assert sum("old_whoami" in line for line in out.splitlines()) == 3

    code, _, err = _run(["--rules", str(checkout), "--placeholder", "novalue", logs], capsys)
    assert code == 2 and "write NAME=VALUE" in err


def test_level_and_tag_filters(checkout: Path, setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--rules",
        str(checkout),
        "--format",
        "jsonl",
        "--placeholder",
        "Admins=*\\bob",
        str(setup / "logs"),
    ]

    def uids(*more: str) -> set[str]:
        code, out, err = _run([*args, *more], capsys)
        assert code == 0, err
        return {json.loads(line)["rule"]["uid"] for line in out.splitlines()}

    assert uids() == {"sigma/whoami", "sigma/admins"}
    assert uids("--min-level", "high") == {"sigma/admins"}
    assert uids("--level", "medium") == {"sigma/whoami"}
    code, _, err = _run([*args, "--level", "low"], capsys)
    assert code == 2 and "no rule to run (--level, --min-level and --tag left none)" in err
    assert uids("--tag", "attack.t1033") == {"sigma/whoami"}
    assert uids("--tag", "attack.discovery", "--tag", "attack.t1078") == {"sigma/whoami"}
    assert uids("--tag", "attack.t10", "--tag", "attack.t1033") == {"sigma/whoami"}
    code, _, err = _run([*args, "--tag", "attack.t10"], capsys)  # a tag or one under it, not any prefix
    assert code == 2


def test_filters_keep_the_rules_a_correlation_needs(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (setup / "rules" / "twice.yml").write_text(CORRELATION)  # level high, over the medium whoami rule
    (setup / "logs" / "c.jsonl").write_text(_event(4) + "\n")
    args = ["--rules", str(setup / "rules"), "--format", "jsonl", "--min-level", "high", str(setup / "logs")]
    code, out, err = _run(args, capsys)
    assert code == 0, err
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["correlation"]


def test_table_is_in_time_order_with_the_whole_computer_name(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_name = "WORKSTATION-FINANCE-0042.corp.example.com"
    (setup / "logs" / "0early.jsonl").write_text(_event(0, computer=long_name) + "\n")  # read first, latest
    late = json.loads(_event(9, computer=long_name))
    late["@timestamp"] = "2024-01-01T00:09:00Z"
    (setup / "logs" / "0early.jsonl").write_text(json.dumps(late) + "\n")
    code, out, _ = _run(["--rules", str(setup / "rules"), "--format", "table", str(setup / "logs")], capsys)
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("2024-")]
    assert [row[:19] for row in rows] == ["2024-01-01T00:01:00", "2024-01-01T00:03:00", "2024-01-01T00:09:00"]
    assert long_name in rows[2]


def test_matched_evidence_names_fields_and_values_for_a_security_4688_event(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_filter = WHOAMI.replace(
        "    condition: selection",
        "    filter:\n        ParentImage: 'C:\\Allowed\\x.exe'\n    condition: selection and not filter",
    )
    assert "not filter" in with_filter
    (setup / "rules" / "whoami.yml").write_text(with_filter)
    event = {
        "Channel": "Security",
        "EventID": 4688,
        "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
        "Computer": "dc1",
        "@timestamp": "2024-01-01T00:05:00Z",
    }
    (setup / "logs" / "sec.jsonl").write_text(json.dumps(event) + "\n")
    code, out, err = _run(["--rules", str(setup / "rules"), "--format", "jsonl", str(setup / "logs")], capsys)
    assert code == 0, err
    rows = {Path(r["source"]["file"]).name: r for r in map(json.loads, out.splitlines())}
    assert rows["sec.jsonl"]["matched"] == {
        "Image": "C:\\Windows\\System32\\whoami.exe"
    }  # no ParentImage: null
    assert rows["a.jsonl"]["matched"] == {"Image": "C:\\Windows\\System32\\whoami.exe"}


def test_killing_the_main_process_takes_the_workers_with_it(setup: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    logs = setup / "logs"
    for n in range(60):
        (logs / f"bulk{n:02}.jsonl").write_text("\n".join(_event(n % 9) for _ in range(3000)) + "\n")
    script = "import sys; from ruleatlas.cli import main; sys.exit(main(sys.argv[1:]))"
    for sig in (signal.SIGKILL, signal.SIGTERM):
        scan = subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                "scan",
                "--rules",
                str(setup / "rules"),
                "--workers",
                "2",
                "--output",
                str(setup / "out.jsonl"),
                str(logs),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        workers: list[int] = []
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = _children(scan.pid)
        assert len(workers) == 2, "the scan never started its workers"
        os.kill(scan.pid, sig)
        scan.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], f"workers outlived a {sig.name} of the parent"


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stdout_appended_to_one_of_the_logs_is_refused(setup: Path) -> None:
    import subprocess
    import sys

    log = setup / "logs" / "a.jsonl"
    before = log.read_bytes()
    script = "import sys; from ruleatlas.cli import main; sys.exit(main(sys.argv[1:]))"
    with log.open("ab") as appended:  # `ruleatlas scan ... logs >> logs/a.jsonl`
        done = subprocess.run(
            [sys.executable, "-c", script, "scan", "--rules", str(setup / "rules"), str(setup / "logs")],
            stdout=appended,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert done.returncode == 2
    assert b"standard output /dev/stdout is one of the logs to scan" in done.stderr
    assert log.read_bytes() == before
