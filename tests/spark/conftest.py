"""Spark fixtures: a local[2] session per test module, a loopback standalone cluster, the local engine's
answers to compare with.

Spark needs pyspark (the `[spark]` extra) and Java; tests skip without them on a developer machine and fail
when CI=true, where `.ci/run` installs both. Every test here is marked `spark`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.engine.compile import CompiledSet, compile_rules
from ruleatlas.engine.output import alert_json, match_json
from ruleatlas.engine.scan import run_scan
from ruleatlas.engine.scan_rules import Selection, load_rules

RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
CORRELATIONS = Path(__file__).resolve().parents[1] / "data" / "spark" / "correlations.yml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.spark)


def _need_spark() -> None:
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install 'ruleatlas[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("Java (apt-get install openjdk-17-jre-headless)")
    if missing:
        message = "Spark tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def builder(master: str, **conf: str) -> Any:
    _need_spark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers in this virtual environment

    b = (
        SparkSession.builder.master(master)
        .appName("ruleatlas tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
    )
    for key, value in conf.items():
        b = b.config(key, value)
    return b


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = builder("local[2]").getOrCreate()
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def rule_paths(shared_dir: Path) -> list[Path]:
    sigma = shared_dir / "corpus" / "sigma"
    return [*(sigma / folder for folder in RULE_FOLDERS), CORRELATIONS]


def compile_paths(paths: Sequence[Path]) -> CompiledSet:
    """The rules `ruleatlas scan --rules PATH...` runs (default selection), compiled."""
    loaded = load_rules(paths, Selection())
    found = compile_rules(loaded.rules)
    assert [p for p in [*loaded.problems, *found.problems] if p.severity == "error"] == []
    return found


@pytest.fixture(scope="session")
def compiled(rule_paths: list[Path]) -> CompiledSet:
    return compile_paths(rule_paths)


@dataclass(slots=True)
class Answers:
    """A scan's results as comparable sets: matches and alerts as their JSONL records, and the notes."""

    matches: set[tuple[Any, ...]]
    alerts: set[tuple[Any, ...]]
    notes: set[str]
    duplicates: int = 0


def _text(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def local_answers(compiled: CompiledSet, logs: Sequence[Path]) -> Answers:
    """The local engine (`ruleatlas scan`'s run_scan) over `logs`."""
    matches: list[tuple[Any, ...]] = []
    alerts: list[tuple[Any, ...]] = []

    def on_match(match: Any) -> None:
        data = match_json(match)
        source = data["source"]
        matches.append(
            (
                data["rule"]["uid"],
                source["file"],
                source["record"],
                data["timestamp"],
                _text(data["event"]),
                _text(data["matched"]),
            )
        )

    def on_alert(alert: Any) -> None:
        data = alert_json(alert)
        alerts.append(
            (data["rule"]["uid"], data["timestamp"], _text(data["correlation"]), _text(data["events"]))
        )

    out = run_scan(compiled, logs, on_match=on_match, on_alert=on_alert)
    assert out.input_problems == [] and out.rule_failures == []
    return Answers(set(matches), set(alerts), set(out.correlation_notes), len(matches) - len(set(matches)))


def spark_answers(result: Any) -> Answers:
    """A Spark scan's DataFrames, collected into the same shape as `local_answers`."""
    matches = match_rows(result.matches)
    alerts = [
        (row.rule.uid, row.timestamp, _text(json.loads(row.correlation)), _text(json.loads(row.events)))
        for row in result.alerts.collect()
    ]
    notes = {row.message for row in result.problems.collect() if row.kind == "correlation_skip"}
    duplicates = len(matches) - len(set(matches)) + len(alerts) - len(set(alerts))
    return Answers(set(matches), set(alerts), notes, duplicates)


def match_rows(frame: Any) -> list[tuple[Any, ...]]:
    """The rows of a `MATCH_SCHEMA` frame, in `local_answers`' shape."""
    return [
        (
            row.rule.uid,
            row.source.file,
            row.source.record,
            row.timestamp,
            _text(json.loads(row.event)),
            _text(json.loads(row.matched)),
        )
        for row in frame.collect()
    ]


# --- a standalone cluster on 127.0.0.1 ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class Cluster:
    url: str
    processes: list[subprocess.Popen[bytes]]
    work: Path


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _wait_for(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master and one worker (2 cores) on 127.0.0.1, started here and stopped after (by process group)."""
    _need_spark()
    work = tmp_path_factory.mktemp("spark-cluster")
    port, web, worker_web = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(work / "worker"),
        "SPARK_LOG_DIR": str(work),
    }
    spark_class = str(_spark_class())
    started: list[subprocess.Popen[bytes]] = []
    logs = [open(work / name, "wb") for name in ("master.log", "worker.log")]  # noqa: SIM115
    try:
        started.append(
            subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(web),
                ],
                env=env,
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        _wait_for(port, 120)
        url = f"spark://127.0.0.1:{port}"
        started.append(
            subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "2g",
                    "--webui-port",
                    str(worker_web),
                    "--work-dir",
                    str(work / "worker"),
                ],
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        yield Cluster(url, started, work)
    finally:
        for process in reversed(started):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
        for log in logs:
            log.close()


def descendants(pid: int) -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        info[int(entry.name)] = (parent, command)
    out: list[tuple[int, int, str]] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            parent, command = info[child]
            out.append((child, parent, command))
            stack.append(child)
    return out
