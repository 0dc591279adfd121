"""Sigma rules over data on Apache Spark: the local engine's matcher and correlator, run by Spark.

    from ruleatlas.spark import scan
    result = scan(spark, ["sigma/rules"], paths=["s3a://bucket/logs/"])   # or frame=df / table="db.logs"
    result.matches.write.parquet(...); result.alerts.show(); result.problems.show()

`pip install 'ruleatlas[spark]'` adds pyspark (Java 17 must be on the machine). Nothing here is translated
to Spark SQL: every executor runs the same compiled rules as `ruleatlas scan` (engine/), so the results
are the local engine's, record for record.

- Rules. The driver reads and compiles them once (their problems are reported from here, `rule_problems`),
  packs the files in an archive named by its content (bundle.py) and adds it to the job; each Python
  worker compiles them once and keeps them (worker.py, an importable module: see there why).
- Events travel as their JSON text, never as typed columns. `paths` (files or folders, any Hadoop file
  system) are read whole by Spark's binaryFile source and each file by the local readers (EVTX, JSON,
  JSONL, gzip: the same events, records and problems). `frame` / `table` must carry each event as JSON
  text in `json_column`: schema inference over logs is lossy (EVTX's `Data` list becomes a string column
  whose text holds escaped backslashes; `CategoryId` and `categoryId` collide), which gives false matches,
  so a frame without a JSON text column is refused with the way to make one.
- Correlations run as a second stage: matches of the rules they refer to are keyed by their group-by
  values (engine/correlate_keys.py), grouped, and each key's matches are fed in time order to a
  `Correlator` of its own: the local engine's code, hence its alerts.
- `stream` scans new files of a landing folder with Structured Streaming (single-event rules only:
  correlations need the whole input, which a stream never has).

Outputs are DataFrames with the fields of `ruleatlas scan --format jsonl` (`MATCH_SCHEMA`,
`ALERT_SCHEMA`); the event, matched fields and correlation details, whose keys vary, are JSON text.
`PROBLEM_SCHEMA` has the fields of `--problems FILE`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

try:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        BinaryType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("ruleatlas.spark needs pyspark: pip install 'ruleatlas[spark]'") from exc

from ruleatlas.engine.compile import CompiledSet
from ruleatlas.engine.scan_rules import Selection
from ruleatlas.logs.readers import LOG_SUFFIXES
from ruleatlas.model import Problem
from ruleatlas.spark import worker
from ruleatlas.spark.bundle import RuleBundle, bundle_for

if TYPE_CHECKING:
    from pyspark import RDD, Accumulator, SparkContext
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

__all__ = [
    "ALERT_SCHEMA",
    "MATCH_SCHEMA",
    "PROBLEM_SCHEMA",
    "Counts",
    "SparkScan",
    "TypedColumnsError",
    "scan",
    "stream",
]

RULE = StructType([StructField(name, StringType()) for name in ("uid", "id", "title", "level")])
SOURCE = StructType([StructField("file", StringType()), StructField("record", LongType())])
MATCH_SCHEMA = StructType(
    [
        StructField("type", StringType()),  # "match"
        StructField("rule", RULE),
        StructField("timestamp", StringType()),  # ISO 8601, UTC ("Z")
        StructField("event", StringType()),  # JSON text: the event's fields as read, Sigma-named
        StructField("matched", StringType()),  # JSON text: the fields whose predicates matched
        StructField("source", SOURCE),
    ]
)
ALERT_SCHEMA = StructType(
    [
        StructField("type", StringType()),  # "correlation"
        StructField("rule", RULE),
        StructField("timestamp", StringType()),  # the window's end
        StructField("correlation", StringType()),  # JSON text: {type, group, window: {start, end}, count}
        StructField("events", StringType()),  # JSON text: [{file, record, timestamp}, ...]
    ]
)
# the binaryFile source's columns
BINARY_FILE_SCHEMA = StructType(
    [
        StructField("path", StringType()),
        StructField("modificationTime", TimestampType()),
        StructField("length", LongType()),
        StructField("content", BinaryType()),
    ]
)
PROBLEM_SCHEMA = StructType(
    [
        StructField("kind", StringType()),  # input, rule_failure, correlation_skip
        StructField("rule", StringType()),
        StructField("file", StringType()),
        StructField("where", StringType()),  # what `at` counts: record, line, chunk, element, row
        StructField("at", LongType()),
        StructField("count", LongType()),
        StructField("message", StringType()),
    ]
)


@dataclass(slots=True, frozen=True)
class Counts:
    """Accumulators the tasks add to: rule compiles on workers (one per Python worker, not per task) and
    events read. Read them after an action (`.value`)."""

    compiles: Accumulator[int]
    events: Accumulator[int]

    def task(self, run: Callable[[], Iterator[tuple[Any, ...]]]) -> Iterator[tuple[Any, ...]]:
        """Run one task's rows, adding what the worker counted meanwhile."""
        compiles, events = worker.COMPILES, worker.EVENTS
        try:
            yield from run()
        finally:
            self.compiles.add(worker.COMPILES - compiles)
            self.events.add(worker.EVENTS - events)


class TypedColumnsError(ValueError):
    """A frame without its events' JSON text: typed columns would give wrong matches (module doc)."""


@dataclass(slots=True)
class SparkScan:
    """A scan's outputs (lazy DataFrames: each action runs the job; the matching stage is persisted)."""

    matches: DataFrame
    alerts: DataFrame
    problems: DataFrame
    compiled: CompiledSet  # the driver's compile (its problems are in rule_problems)
    rule_problems: list[Problem] = field(default_factory=list)
    # files under the given folders that are not logs (suffix -> count), as `ruleatlas scan` skips them
    skipped_files: dict[str, int] = field(default_factory=dict)
    counts: Counts | None = None  # filled as the jobs run
    files: int = 0  # input files read (paths=)


def scan(
    spark: SparkSession,
    rules: Sequence[str | Path],
    *,
    paths: Sequence[str | Path] | None = None,
    frame: DataFrame | None = None,
    table: str | None = None,
    json_column: str = "raw",
    file_column: str | None = None,
    record_column: str | None = None,
    time_field: str | None = None,
    partitions: int | None = None,
    routing: bool = True,
    prefilter: bool = True,
    selection: Selection | None = None,
    placeholders: dict[str, list[str]] | None = None,
    compiled: CompiledSet | None = None,
) -> SparkScan:
    """Scan `paths`, or the JSON text column of `frame` or of the table `table` (one of the three).

    `file_column` / `record_column` name the columns giving each row's file and record (by default the
    table's name, or "dataframe", and the row's position in its partition). `partitions`: how many tasks
    read the files (default: 4 per core of the cluster). `selection` and `placeholders`: which rules run
    and report, and `%name%` values, as `ruleatlas scan`'s --include/--level/--tag/--placeholder
    (engine/scan_rules.py). `compiled`: the rules as the caller compiled them already with the same
    options (the driver then does not compile them again; their problems are the caller's).
    """
    if sum(x is not None for x in (paths, frame, table)) != 1:
        raise ValueError("scan: give exactly one of paths=, frame=, table=")
    sc = spark.sparkContext
    rule_paths = [Path(p) for p in rules]
    problems: list[Problem] = []
    selection = selection or Selection()
    placeholders = placeholders or {}
    if compiled is None:
        compiled, loaded = worker.compile_selected(rule_paths, selection, placeholders)
        problems.extend(loaded.problems)
        problems.extend(compiled.problems)
    bundle = _ship(
        sc, rule_paths, routing=routing, prefilter=prefilter, selection=selection, placeholders=placeholders
    )
    counts = Counts(sc.accumulator(0), sc.accumulator(0))
    tasks = partitions or max(sc.defaultParallelism * 4, 1)
    skipped: dict[str, int] = {}
    files = 0
    if paths is not None:
        rows, input_problems, files = _file_rows(
            spark, [str(p) for p in paths], bundle, time_field, tasks, counts, skipped
        )
    else:
        source = spark.table(table) if table is not None else frame
        assert source is not None
        rows = _document_rows(
            source,
            table or "dataframe",
            json_column,
            file_column,
            record_column,
            bundle,
            time_field,
            counts,
        )
        input_problems = []
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    matches = spark.createDataFrame(rows.filter(lambda row: row[0] == "match"), MATCH_SCHEMA)
    found = rows.filter(lambda row: row[0] == "problem").map(lambda row: row[1:])
    if compiled.correlations:
        second = _correlate(rows, bundle, tasks, counts).persist(StorageLevel.MEMORY_AND_DISK)
        alerts = spark.createDataFrame(second.filter(lambda row: row[0] == "correlation"), ALERT_SCHEMA)
        skips = (
            second.filter(lambda row: row[0] == "skip")
            .map(lambda row: (row[1], row[2]))
            .reduceByKey(lambda a, b: a + b)
            .map(lambda item: worker.skip_problem(item[0], item[1]))
        )
        found = found.union(skips)
    else:
        alerts = spark.createDataFrame(sc.emptyRDD(), ALERT_SCHEMA)
    if input_problems:
        found = found.union(sc.parallelize(input_problems, 1))
    return SparkScan(
        matches,
        alerts,
        spark.createDataFrame(found, PROBLEM_SCHEMA),
        compiled,
        problems,
        skipped,
        counts,
        files,
    )


def stream(
    spark: SparkSession,
    rules: Sequence[str | Path],
    landing: str | Path,
    output: str | Path,
    *,
    checkpoint: str | Path,
    time_field: str | None = None,
    max_files_per_trigger: int | None = None,
    output_format: str = "parquet",
    available_now: bool = False,
) -> StreamingQuery:
    """Scan each new file of the `landing` folder as it arrives; matches are appended to `output`
    (`MATCH_SCHEMA`, in `output_format`), input problems to `output`/_problems. Single-event rules only:
    the correlation rules among `rules` are not run (a stream has no end to correlate over)."""
    sc = spark.sparkContext
    rule_paths = [Path(p) for p in rules]
    bundle = _ship(sc, rule_paths, routing=True, prefilter=True, correlations=False)
    counts = Counts(sc.accumulator(0), sc.accumulator(0))
    reader = (
        spark.readStream.format("binaryFile")
        .schema(BINARY_FILE_SCHEMA)  # a stream source needs its schema up front
        .option("recursiveFileLookup", "true")
    )
    if max_files_per_trigger is not None:
        reader = reader.option("maxFilesPerTrigger", max_files_per_trigger)
    files = reader.load(str(landing))
    target = str(output)

    def each_batch(batch: DataFrame, batch_id: int) -> None:
        named = batch.select("path", "content").rdd.zipWithIndex()
        rows = named.mapPartitions(
            _scan_files_task(
                bundle, time_field, counts, lambda item: (item[1], _local_name(item[0][0]), item[0][1])
            )
        ).persist(StorageLevel.MEMORY_AND_DISK)
        matches = spark.createDataFrame(rows.filter(lambda row: row[0] == "match"), MATCH_SCHEMA)
        matches.write.mode("append").format(output_format).save(target)
        found = rows.filter(lambda row: row[0] == "problem").map(lambda row: row[1:])
        spark.createDataFrame(found, PROBLEM_SCHEMA).write.mode("append").format(output_format).save(
            f"{target.rstrip('/')}/_problems"
        )
        rows.unpersist()

    writer = files.writeStream.foreachBatch(each_batch).option("checkpointLocation", str(checkpoint))
    writer = writer.trigger(availableNow=True) if available_now else writer
    return writer.start()


# --- rules to executors -----------------------------------------------------------------------------------

_SHIPPED: dict[tuple[int, str], str] = {}  # (SparkContext, archive digest) -> archive added to it
_SCRATCH: list[Path] = []


def _ship(
    sc: SparkContext,
    rule_paths: list[Path],
    *,
    routing: bool,
    prefilter: bool,
    correlations: bool = True,
    selection: Selection | None = None,
    placeholders: dict[str, list[str]] | None = None,
) -> RuleBundle:
    folder = Path(tempfile.mkdtemp(prefix="ruleatlas-spark-"))
    _SCRATCH.append(folder)
    bundle, archive = bundle_for(
        rule_paths,
        folder,
        routing=routing,
        prefilter=prefilter,
        correlations=correlations,
        selection=selection,
        placeholders=placeholders,
    )
    key = (id(sc), bundle.digest)
    if key not in _SHIPPED:  # Spark refuses a second file of the same name from another path
        sc.addFile(str(archive))
        _SHIPPED[key] = str(archive)
    return bundle


@atexit.register
def _clean() -> None:
    for folder in _SCRATCH:
        shutil.rmtree(folder, ignore_errors=True)


# --- inputs ----------------------------------------------------------------------------------------------


def _file_rows(
    spark: SparkSession,
    given: list[str],
    bundle: RuleBundle,
    time_field: str | None,
    tasks: int,
    counts: Counts,
    skipped: dict[str, int],
) -> tuple[RDD[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Stage 1 over files: listed on the driver (to number them in `ruleatlas scan`'s order and to skip
    what is not a log), read whole by the executors."""
    problems: list[tuple[Any, ...]] = []
    existing = []
    for path in given:
        if "://" not in path and not path.startswith("file:") and not os.path.exists(path):
            problems.append(("input", None, path, "record", None, 1, "no such file or folder"))
        else:
            existing.append(path)
    if not existing:
        return spark.sparkContext.emptyRDD(), problems, 0
    listing = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(existing)
    roots = [(_local_name(_absolute(path)).rstrip("/"), str(PurePosixPath(path))) for path in existing]
    placed = [
        (uri, *_place(_local_name(uri), roots))
        for uri in (row.path for row in listing.select("path").collect())
    ]
    order: dict[str, tuple[int, str]] = {}
    for uri, _key, name, given_file in sorted(placed, key=lambda item: item[1]):
        if given_file or _is_log_name(name):
            order[uri] = (len(order), name)
        else:
            suffix = PurePosixPath(name).suffix.lower() or "(none)"
            skipped[suffix] = skipped.get(suffix, 0) + 1
    numbered = spark.sparkContext.broadcast(order)
    wanted = listing.filter(F.col("path").isin(list(order)))
    content = wanted.select("path", "content").rdd.repartition(min(tasks, max(len(order), 1)))

    def number(item: Any) -> tuple[int, str, bytes]:
        index, name = numbered.value[item[0]]
        return index, name, bytes(item[1])

    return content.mapPartitions(_scan_files_task(bundle, time_field, counts, number)), problems, len(order)


def _scan_files_task(
    bundle: RuleBundle,
    time_field: str | None,
    counts: Counts,
    number: Callable[[Any], tuple[int, str, bytes]],
) -> Callable[[Iterable[Any]], Iterator[tuple[Any, ...]]]:
    def run(items: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        return counts.task(lambda: worker.scan_files(bundle, time_field, map(number, items)))

    return run


def _document_rows(
    source: DataFrame,
    default_file: str,
    json_column: str,
    file_column: str | None,
    record_column: str | None,
    bundle: RuleBundle,
    time_field: str | None,
    counts: Counts,
) -> RDD[tuple[Any, ...]]:
    types = dict(source.dtypes)
    if json_column not in types:
        raise TypedColumnsError(
            f"the frame has no column {json_column!r} holding each event as JSON text (columns: "
            f"{', '.join(list(types)[:12])}{', ...' if len(types) > 12 else ''}). Read logs with "
            "spark.read.text(...) (the 'value' column: json_column='value'), or keep the JSON when loading; "
            "to_json(struct(*)) of a typed table only helps if its columns kept every event's types: "
            "schema inference turns lists into strings and gives wrong matches"
        )
    if types[json_column] not in ("string", "binary"):
        raise TypedColumnsError(
            f"column {json_column!r} is {types[json_column]}, not JSON text (string): events must travel "
            "as their JSON text"
        )
    text = F.col(json_column).cast(StringType())
    file = F.col(file_column).cast(StringType()) if file_column else F.lit(default_file)
    record = F.col(record_column).cast(LongType()) if record_column else F.lit(None).cast(LongType())
    rows = source.select(text, file, record).rdd

    def run(partition: int, items: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        documents = (tuple(item) for item in items)
        return counts.task(lambda: worker.scan_documents(bundle, time_field, partition, documents))

    return rows.mapPartitionsWithIndex(run)


def _correlate(
    rows: RDD[tuple[Any, ...]], bundle: RuleBundle, tasks: int, counts: Counts
) -> RDD[tuple[Any, ...]]:
    feeds = rows.filter(lambda row: row[0] == "feed").map(lambda row: ((row[1], row[2]), row))

    def run(item: tuple[tuple[int, str], Any]) -> Iterator[tuple[Any, ...]]:
        (family, _key), fed = item
        return counts.task(lambda: worker.correlate_group(bundle, family, fed))

    return feeds.groupByKey(tasks).flatMap(run)


def _local_name(uri: str) -> str:
    """The name `ruleatlas scan` gives a local file (its path); other file systems keep their URI."""
    if uri.startswith("file:"):
        rest = uri[5:]
        if rest.startswith("///"):
            rest = rest[2:]
        return _unquote(rest)
    return uri


def _unquote(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)


def _absolute(path: str) -> str:
    return path if "://" in path or path.startswith("file:") else os.path.abspath(path)


def _place(name: str, roots: list[tuple[str, str]]) -> tuple[tuple[Any, ...], str, bool]:
    """Where `ruleatlas scan` reads a file, the name it gives it, and whether it was given itself.

    Order: the given paths in order; in a folder, its files (sorted) before its subfolders (sorted), as
    plan_inputs walks them. Name: the given path joined with the path inside it (as `Path(root) / ...`)."""
    for number, (base, given) in enumerate(roots):
        if name == base:
            return (number, ()), given, True
        if name.startswith(base + "/"):
            parts = name[len(base) + 1 :].split("/")
            key = (number, (*tuple((1, part) for part in parts[:-1]), (0, parts[-1])))
            return key, str(PurePosixPath(given, *parts)), False
    return (len(roots), ((0, name),)), name, False


def _is_log_name(name: str) -> bool:
    lower = name.lower()
    lower = lower.removesuffix(".gz")
    return lower.endswith(LOG_SUFFIXES)
