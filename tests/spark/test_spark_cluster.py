"""The Spark engine on a standalone master and worker bound to 127.0.0.1 (started by the `cluster` fixture,
stopped after): executors in their own JVM, rules shipped by the driver's file server, Python workers on
the worker's side. Same answers as the local engine, also when a Python worker is killed mid-job (Spark
runs its task again), and through `ruleatlas scan --engine spark --master URL`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import CORRELATIONS, Cluster, builder, compile_paths, descendants, local_answers, spark_answers


def _rules(shared_dir: Path) -> list[Path]:
    """SigmaHQ's Windows rules and the test correlations (a smaller compile on every worker)."""
    return [shared_dir / "corpus" / "sigma" / "rules" / "windows", CORRELATIONS]


def _kill_a_python_worker(cluster: Cluster, stop: threading.Event, killed: list[int]) -> None:
    """Wait for a Python worker (a process forked by pyspark.daemon) under the cluster's worker, let it
    start its task, and kill it."""
    worker_pid = cluster.processes[1].pid
    while not stop.is_set():
        processes = descendants(worker_pid)
        daemons = {pid for pid, _parent, command in processes if "pyspark.daemon" in command}
        forked = [pid for pid, parent, _command in processes if parent in daemons]
        if forked:
            time.sleep(1.0)  # well inside its task: the rules' compile alone takes seconds
            try:
                os.kill(forked[0], signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(forked[0])
            return
        time.sleep(0.2)


def test_a_killed_python_worker_changes_nothing(cluster: Cluster, shared_dir: Path) -> None:
    from ruleatlas.spark import scan

    rules = _rules(shared_dir)
    compiled = compile_paths(rules)
    logs = [shared_dir / "logs"]
    expected = local_answers(compiled, logs)
    assert len(expected.matches) >= 1000 and len(expected.alerts) >= 200

    session = builder(
        cluster.url,
        **{
            "spark.executor.cores": "2",
            "spark.executor.memory": "1g",
            "spark.task.maxFailures": "4",
            "spark.cores.max": "2",
        },
    ).getOrCreate()
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_a_python_worker, args=(cluster, stop, killed), daemon=True)
    try:
        killer.start()
        result = scan(session, rules, paths=[str(p) for p in logs], partitions=6)
        found = spark_answers(result)
    finally:
        stop.set()
        killer.join(30)
        session.stop()
    assert killed, "no Python worker was seen to kill"
    assert found.matches == expected.matches
    assert found.alerts == expected.alerts
    assert found.notes == expected.notes
    assert found.duplicates == 0


def test_the_scan_command_runs_on_the_cluster(cluster: Cluster, shared_dir: Path, tmp_path: Path) -> None:
    rules = _rules(shared_dir)
    logs = shared_dir / "logs" / "evtx-attack-samples" / "Credential Access"
    options = [a for rule in rules for a in ("--rules", str(rule))]
    outputs = {}
    for engine in ("local", "spark"):
        out = tmp_path / f"{engine}.jsonl"
        extra = ["--engine", "spark", "--master", cluster.url] if engine == "spark" else []
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ruleatlas.cli",
                "scan",
                *options,
                *extra,
                "--format",
                "jsonl",
                "--output",
                str(out),
                str(logs),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
            env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        summary = [line for line in done.stderr.splitlines() if line.startswith("scanned ")]
        outputs[engine] = (
            sorted(json.dumps(json.loads(line), sort_keys=True) for line in out.open()),
            summary,
        )
    local, spark = outputs["local"], outputs["spark"]
    assert len(local[0]) >= 50
    assert spark[0] == local[0]  # every match and alert, every field
    assert spark[1] == local[1]  # the same closing line: events, files, rules, matches, alerts, problems
