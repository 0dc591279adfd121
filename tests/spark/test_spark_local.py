"""The Spark engine in local[2] against the local engine, on ../shared/logs with SigmaHQ's rules and the
correlations of tests/data/spark: the same matches (every field), alerts and notes; rules compiled once per
Python worker; typed columns refused; a landing folder streamed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import compile_paths, local_answers, match_rows, spark_answers
from ruleatlas.engine.compile import CompiledSet
from ruleatlas.logs.event import InputProblem
from ruleatlas.logs.readers import read_events

LOGS = "logs"


def test_paths_give_the_local_engines_matches_and_alerts(
    spark: Any, shared_dir: Path, rule_paths: list[Path], compiled: CompiledSet
) -> None:
    from ruleatlas.spark import scan

    logs = [shared_dir / LOGS]
    expected = local_answers(compiled, logs)
    result = scan(spark, rule_paths, paths=[str(p) for p in logs], partitions=8)
    found = spark_answers(result)
    assert len(found.matches) == len(expected.matches) >= 1400
    assert found.matches == expected.matches
    assert len(found.alerts) == len(expected.alerts) >= 200
    assert found.alerts == expected.alerts
    assert found.notes == expected.notes != set()  # a correlation's skipped inputs, summed over its keys
    assert found.duplicates == expected.duplicates == 0
    assert [p for p in result.rule_problems if p.severity == "error"] == []
    assert [row for row in result.problems.collect() if row.kind != "correlation_skip"] == []
    assert result.skipped_files == {"(none)": 1, ".gpl": 1, ".md": 6, ".yaml": 10}  # as `ruleatlas scan`
    assert result.files == 356
    # compiled once per Python worker (local[2]: two), not once per task (8 file tasks, 4 correlation tasks)
    assert result.counts is not None and 1 <= result.counts.compiles.value <= 2
    assert result.counts.events.value == 11201


def _rules_reading_data(shared_dir: Path) -> list[Path]:
    """SigmaHQ rules that read the EVTX `Data` field (a list in EVTX events, text in others)."""
    sigma = shared_dir / "corpus" / "sigma" / "rules"
    return sorted(p for p in sigma.rglob("*.yml") if "    Data|" in p.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def event_lines(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The events of ../shared/logs as JSON lines (the fields the readers give), where a lake keeps them."""
    problems: list[InputProblem] = []
    folder = tmp_path_factory.mktemp("lake")
    with (folder / "events.jsonl").open("w", encoding="utf-8") as out:
        for event in read_events([shared_dir / LOGS], problems=problems):
            out.write(json.dumps(event.fields, ensure_ascii=False, default=str) + "\n")
    assert problems == []
    return folder / "events.jsonl"


def test_typed_columns_are_refused_and_json_text_is_exact(
    spark: Any, shared_dir: Path, event_lines: Path
) -> None:
    """The trap: schema inference makes `Data` (a list in EVTX events, text elsewhere) a string column,
    whose JSON rendering gives false matches. The API takes the events' JSON text and nothing else."""
    from pyspark.sql import functions as F

    from ruleatlas.spark import TypedColumnsError, scan

    rules = _rules_reading_data(shared_dir)
    assert len(rules) >= 20
    compiled = compile_paths(rules)
    expected = local_answers(compiled, [event_lines])
    assert len(expected.matches) >= 10

    spark.conf.set("spark.sql.caseSensitive", "true")  # Windows events have both CategoryId and categoryId
    typed = spark.read.json(str(event_lines))
    assert dict(typed.dtypes)["Data"] == "string"  # the list became text
    with pytest.raises(TypedColumnsError, match="JSON text"):
        scan(spark, rules, frame=typed)
    with pytest.raises(TypedColumnsError, match="not JSON text"):
        scan(spark, rules, frame=typed.withColumn("raw", F.array("Data")))

    # what refusing saves users from: the typed rows as JSON give other answers (false matches)
    lossy = scan(spark, rules, frame=typed.select(F.to_json(F.struct("*")).alias("raw")), partitions=2)
    assert spark_answers(lossy).matches and {m[0] for m in spark_answers(lossy).matches} - {
        m[0] for m in expected.matches
    }

    # the JSON text (spark.read.text's `value`), with file and line: the local engine's answers exactly
    lines = spark.read.text(str(event_lines)).withColumn("file", F.lit(str(event_lines)))
    numbered = lines.rdd.zipWithIndex().map(lambda item: (item[0].value, item[0].file, item[1] + 1))
    frame = numbered.toDF(["value", "file", "line"])
    exact = scan(spark, rules, frame=frame, json_column="value", file_column="file", record_column="line")
    found = spark_answers(exact)
    assert found.matches == expected.matches


def test_a_landing_folder_is_streamed(
    spark: Any, shared_dir: Path, rule_paths: list[Path], compiled: CompiledSet, tmp_path: Path
) -> None:
    from ruleatlas.spark import stream

    landing = tmp_path / "landing"
    landing.mkdir()
    samples = sorted((shared_dir / LOGS / "evtx-attack-samples").rglob("*.evtx"))[:40]
    for number, path in enumerate(samples):
        shutil.copy(path, landing / f"{number:03d}-{path.name}")
    expected = local_answers(_single_event(compiled), [landing])
    assert len(expected.matches) >= 20
    query = stream(
        spark,
        rule_paths,
        landing,
        tmp_path / "out",
        checkpoint=tmp_path / "checkpoint",
        max_files_per_trigger=15,
        available_now=True,
    )
    query.awaitTermination(600)
    assert query.exception() is None
    assert len(query.recentProgress) >= 3  # 40 files, at most 15 per micro-batch
    found = match_rows(spark.read.parquet(str(tmp_path / "out")))
    assert set(found) == expected.matches and len(found) == len(set(found))
    assert spark.read.parquet(str(tmp_path / "out" / "_problems")).count() == 0


def _single_event(compiled: CompiledSet) -> CompiledSet:
    """The rules without the correlations (a stream runs single-event rules: every match reported)."""
    return CompiledSet(list(compiled.rules), [], list(compiled.problems))
