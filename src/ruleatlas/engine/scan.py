"""Scan orchestration: events -> routed, prefiltered candidates -> matches -> correlation alerts.

`Scanner` tests each event against the rules routed to its (Channel, EventID) (routing.py) that pass the
literal prefilter (prefilter.py), and yields a `RuleMatch` per (rule, event). `run_scan` reads inputs
(readers.py), optionally in worker processes (one task per file, big EVTX files split by chunk ranges),
and streams the matches out in input order as they are found (workers send them in parts), feeding the
correlator through a bounded time-ordering buffer (`_CorrelationFeed`).

A rule that raises while matching is reported once (`RuleFailure`) and the scan goes on.
"""

from __future__ import annotations

import gc
import heapq
import os
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ruleatlas.engine.fieldmap import AUDIT_ALIASES, with_audit_aliases
from ruleatlas.engine.forked import fork_available, run_forked_parts
from ruleatlas.engine.prefilter import (
    LiteralSets,
    Plan,
    Prefilter,
    RuleFacts,
    literal_sources,
    read_fields,
    required_fields,
)
from ruleatlas.engine.routing import Pair, Route, Router, event_key, required_event_ids, route_for
from ruleatlas.engine.scan_files import file_id
from ruleatlas.logs.event import Event, InputProblem
from ruleatlas.logs.readers import (
    EVTX_CHUNK_BYTES,
    InputSource,
    evtx_chunk_count,
    plan_inputs,
    read_source,
)
from ruleatlas.model import Problem, Rule


class CompiledRuleLike(Protocol):
    """What the scanner needs of compile.py's CompiledRule (docs/engine-contract.md)."""

    @property
    def uid(self) -> str: ...
    @property
    def rule(self) -> Rule: ...
    @property
    def logsource(self) -> dict[str, str]: ...
    @property
    def required_literals(self) -> frozenset[str] | None: ...
    def match(self, fields: dict[str, object], cache: dict[object, object] | None = None) -> bool: ...
    def matched_fields(
        self, fields: dict[str, object], cache: dict[object, object] | None = None
    ) -> dict[str, object]: ...


class CompiledSetLike(Protocol):
    @property
    def rules(self) -> Sequence[CompiledRuleLike]: ...
    @property
    def correlations(self) -> Sequence[Rule]: ...
    @property
    def problems(self) -> Sequence[Problem]: ...


@dataclass(slots=True)
class RuleMatch:
    rule: CompiledRuleLike
    event: Event


@dataclass(slots=True)
class RuleFailure:
    """A rule that raised while matching: reported once, with the first event it failed on."""

    uid: str
    file: str
    record: int | None
    message: str
    count: int = 1


SPLIT_CHUNKS = 32  # EVTX chunks (64 KiB each) per task when a big file is split across workers
PLAN_CACHE = 16384  # (Channel, EventID, field names) combinations remembered (cleared when full)


class Scanner:
    """Match events against compiled rules; `routing` and `prefilter` may be switched off (full scan)."""

    def __init__(self, compiled: CompiledSetLike, *, routing: bool = True, prefilter: bool = True) -> None:
        self.rules: list[CompiledRuleLike] = list(compiled.rules)
        self.routes: list[Route | None] = [route_for(rule.logsource) for rule in self.rules]
        if routing:
            self.router = Router(self.routes, [required_event_ids(rule.rule) for rule in self.rules])
        else:
            self.router = Router([None] * len(self.rules))
        self.use_prefilter = prefilter
        literals = [rule.required_literals for rule in self.rules]
        self._facts = RuleFacts(
            literals=literals,
            fields=[required_fields(rule.rule) for rule in self.rules],
            reads=[read_fields(getattr(rule, "matcher", None)) for rule in self.rules],
            more_literals=[tuple(getattr(rule, "literal_groups", ()))[1:] for rule in self.rules],
            sources=[literal_sources(rule.rule) for rule in self.rules],
        )
        self._literal_sets = LiteralSets(self._facts)
        self._buckets: dict[Pair | None, Prefilter] = {}
        # (Channel, EventID, field names) as the event has them -> its bucket and plan: one lookup per event
        self._plans: dict[tuple[object, ...], tuple[Prefilter, Plan]] = {}
        self.failures: dict[int, RuleFailure] = {}
        self.events = 0
        self.candidates_tested = 0

    def _bucket(self, key: Pair | None) -> Prefilter:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = Prefilter(self.router.rules_for(key), self._facts, self._literal_sets)
            self._buckets[key] = bucket
        return bucket

    def _plan(self, fields: Mapping[str, object]) -> tuple[Prefilter, Plan]:
        channel = fields.get("Channel")
        event_id = fields.get("EventID")
        kind = type(event_id)
        if (type(channel) is str or channel is None) and (kind is int or kind is str or event_id is None):
            # raw values as the cache key: hashable, and 1 and "1" stay apart (bools take the slow way)
            cache_key = (channel, event_id, tuple(fields))
            found = self._plans.get(cache_key)
            if found is None:
                bucket = self._bucket(event_key(fields))
                found = (bucket, bucket.plan(fields))
                if len(self._plans) >= PLAN_CACHE:
                    self._plans.clear()
                self._plans[cache_key] = found
            return found
        bucket = self._bucket(event_key(fields))
        return bucket, bucket.plan(fields)

    def match_ids(self, event: Event) -> list[int]:
        """Indexes (into `self.rules`) of the rules that match `event`, ascending."""
        self.events += 1
        fields = event.fields
        channel = fields.get("Channel")
        event_id = fields.get("EventID")
        # Security 4688/4657 events also answer to Sigma's taxonomy names (see engine/fieldmap.py); the
        # test here is with_audit_aliases' own first one, so that other events skip the call
        if type(event_id) is int and event_id in AUDIT_ALIASES:
            fields = with_audit_aliases(fields)
        if self.use_prefilter:
            kind = type(event_id)
            if (type(channel) is str or channel is None) and (kind is int or kind is str or event_id is None):
                # `_plan`'s cache, looked up here: one lookup per event (its key, built the same way)
                found = self._plans.get((channel, event_id, tuple(fields)))
                bucket, plan = found if found is not None else self._plan(fields)
            else:
                bucket, plan = self._plan(fields)
            candidates = bucket.select(plan, fields)
        else:
            candidates = self._bucket(event_key(fields)).without_prefilter()
        if not candidates:
            return candidates
        self.candidates_tested += len(candidates)
        rules = self.rules
        cache: dict[object, object] = {}  # shared by the rules tested on this event (folded values)
        try:
            return [rule_id for rule_id in candidates if rules[rule_id].match(fields, cache)]
        except Exception:  # a matcher bug must not stop the scan: test rule by rule, report it, go on
            return self._match_each(candidates, fields, event)

    def _match_each(self, candidates: list[int], fields: dict[str, object], event: Event) -> list[int]:
        """`match_ids`' matching when a rule raised: each rule on its own (matching has no side effect
        but the folded-value cache, so testing the event again changes no answer)."""
        rules = self.rules
        matched: list[int] = []
        cache: dict[object, object] = {}
        for rule_id in candidates:
            try:
                if rules[rule_id].match(fields, cache):
                    matched.append(rule_id)
            except Exception as exc:
                self._fail(rule_id, event, exc)
        return matched

    def _fail(self, rule_id: int, event: Event, exc: Exception) -> None:
        failure = self.failures.get(rule_id)
        if failure is None:
            self.failures[rule_id] = RuleFailure(
                self.rules[rule_id].uid, event.file, event.record, f"{type(exc).__name__}: {exc}"
            )
        else:
            failure.count += 1

    def scan(self, events: Iterable[Event]) -> Iterator[RuleMatch]:
        rules = self.rules
        for event in events:
            for rule_id in self.match_ids(event):
                yield RuleMatch(rules[rule_id], event)


# --- whole scans ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class ScanStats:
    events: int = 0
    matches: int = 0
    alerts: int = 0
    sources: int = 0
    files: int = 0
    candidates_tested: int = 0
    skipped_files: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class TaskResult:
    """A part of a job's result: the matches found since the previous part (a job sends several, so that
    matches stream out while a big file is still being read). `sources` and `failures` come with the
    job's last part (`last`)."""

    index: int
    matches: list[tuple[int, Event]]
    problems: list[InputProblem]
    failures: list[tuple[int, RuleFailure]]
    events: int
    candidates_tested: int
    sources: int = 0  # how many tasks (files or chunk ranges) the job covered; set on its last part
    last: bool = True

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Sent from a worker: each matched event pickled on its own, so that one nested too deeply for
        pickle (JSON allows about 1,000 levels) costs its match, reported, and not the whole scan."""
        packed: list[tuple[int, bytes]] = []
        problems = list(self.problems)
        for rule_id, event in self.matches:
            try:
                packed.append((rule_id, pickle.dumps(event, pickle.HIGHEST_PROTOCOL)))
            except RecursionError:
                problems.append(
                    InputProblem(
                        event.file,
                        event.record,
                        f"event nested too deeply to pass between processes: its match (rule "
                        f"#{rule_id + 1} of the set) not reported; scan it with --workers 1",
                        where="record" if event.file.lower().endswith(".evtx") else "line",
                    )
                )
        fields = (self.failures, self.events, self.candidates_tested, self.sources, self.last)
        return (_unpack_result, (self.index, packed, problems, *fields))


def _unpack_result(
    index: int, packed: list[tuple[int, bytes]], problems: list[InputProblem], *rest: Any
) -> TaskResult:
    matches = [(rule_id, pickle.loads(data)) for rule_id, data in packed]
    return TaskResult(index, matches, problems, *rest)


def make_tasks(files: Sequence[Path], workers: int) -> list[InputSource]:
    """One task per file; with several workers, EVTX files of more than SPLIT_CHUNKS chunks are split."""
    tasks: list[InputSource] = []
    for path in files:
        chunks = (
            evtx_chunk_count(path) if workers > 1 and _size(path) > SPLIT_CHUNKS * EVTX_CHUNK_BYTES else 0
        )
        if chunks > SPLIT_CHUNKS:
            tasks.extend(
                InputSource(path, (start, min(start + SPLIT_CHUNKS, chunks)))
                for start in range(0, chunks, SPLIT_CHUNKS)
            )
        else:
            tasks.append(InputSource(path))
    return tasks


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


PART_MATCHES = 256  # matches per part sent back from a worker (in process: each match goes at once)
PART_EVENTS = 65_536  # events read without a match before a part is sent anyway (progress, problems)


def scan_sources(
    scanner: Scanner,
    index: int,
    sources: Sequence[InputSource],
    time_field: str | None,
    part_matches: int = PART_MATCHES,
) -> Iterator[TaskResult]:
    """Scan consecutive tasks (a worker's job) into parts of at most `part_matches` matches: memory stays
    flat however many matches a file gives, and they reach the output while the file is read."""
    problems: list[InputProblem] = []
    scanner.failures = {}  # this job's failures only; the caller sums them up
    matches: list[tuple[int, Event]] = []
    match_ids = scanner.match_ids
    events_mark, tested_mark = scanner.events, scanner.candidates_tested

    def part(last: bool) -> TaskResult:
        nonlocal matches, problems, events_mark, tested_mark
        result = TaskResult(
            index,
            matches,
            problems,
            list(scanner.failures.items()) if last else [],
            scanner.events - events_mark,
            scanner.candidates_tested - tested_mark,
            len(sources) if last else 0,
            last,
        )
        matches, problems = [], []
        events_mark, tested_mark = scanner.events, scanner.candidates_tested
        return result

    for source in sources:
        for event in read_source(source, time_field=time_field, problems=problems):
            for rule_id in match_ids(event):
                matches.append((rule_id, event))
            if len(matches) >= part_matches or scanner.events - events_mark >= PART_EVENTS:
                yield part(False)
    yield part(True)


JOB_BYTES = 4 * 1024 * 1024  # input per worker job (at most; at least 8 jobs per worker when input allows)


def _source_bytes(source: InputSource) -> int:
    if source.chunks is not None:
        return (source.chunks[1] - source.chunks[0]) * EVTX_CHUNK_BYTES
    return _size(source.path)


def group_tasks(tasks: Sequence[InputSource], workers: int) -> list[tuple[InputSource, ...]]:
    """Consecutive tasks grouped into jobs of up to JOB_BYTES of input: each job costs a round trip to a
    worker (pickling, pipes: forked.py), which small files (a few dozen records each) would pay per file.
    Jobs stay small enough for `workers` to share the work evenly."""
    sizes = [_source_bytes(source) for source in tasks]
    limit = max(1, min(JOB_BYTES, sum(sizes) // max(workers * 8, 1)))
    jobs: list[tuple[InputSource, ...]] = []
    current: list[InputSource] = []
    held = 0
    for source, size in zip(tasks, sizes, strict=True):
        current.append(source)
        held += size
        if held >= limit:
            jobs.append(tuple(current))
            current, held = [], 0
    if current:
        jobs.append(tuple(current))
    return jobs


def _task_results(
    scanner: Scanner, tasks: Sequence[InputSource], workers: int, time_field: str | None
) -> Iterator[TaskResult]:
    if workers <= 1 or len(tasks) <= 1 or not fork_available():
        for index, source in enumerate(tasks):
            yield from scan_sources(scanner, index, (source,), time_field, part_matches=1)
        return
    jobs = list(enumerate(group_tasks(tasks, workers)))

    def run(job: tuple[int, tuple[InputSource, ...]]) -> Iterator[TaskResult]:  # in a forked worker
        return scan_sources(scanner, job[0], job[1], time_field)

    yield from run_forked_parts(run, jobs, workers)  # in job order, so output stays in input order


@dataclass(slots=True)
class ScanOutput:
    """What a scan produced, streamed to `on_match` / `on_alert`, summed up here."""

    stats: ScanStats = field(default_factory=ScanStats)
    input_problems: list[InputProblem] = field(default_factory=list)
    rule_failures: list[RuleFailure] = field(default_factory=list)
    correlation_problems: list[str] = field(default_factory=list)  # correlations that cannot run
    correlation_notes: list[str] = field(default_factory=list)  # inputs a correlation skipped, and why
    not_read: list[Path] = field(default_factory=list)  # input files that are the scan's own output
    input_warnings: list[InputProblem] = field(default_factory=list)  # FIFOs skipped, text escaped


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """The objects alive now (the compiled rules and the scanner's tables: ~280,000 for SigmaHQ) left out
    of the cyclic garbage collector's passes while the scan runs: they live as long as the scan, and each
    full pass would walk them all again. Measured on one pass over ../shared/logs (7,805 events, the CPU
    mostly spent building automata and plans): 202-247 µs per event frozen, 285-321 not (load 22-26).
    Forked workers inherit the freeze (CPython's advice before fork).
    Left alone when the caller froze objects itself: the freeze is one per process, and unfreezing at the
    end would undo theirs."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_scan(
    compiled: CompiledSetLike,
    paths: Sequence[Path],
    *,
    on_match: Callable[[RuleMatch], None],
    on_alert: Callable[[Any], None] = lambda alert: None,
    workers: int = 1,
    time_field: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    routing: bool = True,
    prefilter: bool = True,
    exclude: Sequence[Path] = (),
    reports: Callable[[Rule], bool] | None = None,
) -> ScanOutput:
    """Scan `paths` with `compiled`, streaming: each match goes to `on_match` as soon as it is found, in
    input order (files in the order given, folders sorted, events in file order); correlation alerts go to
    `on_alert` as they fire, between the matches (see `_CorrelationFeed` for the order they are fed in).
    `progress(done, total)` counts tasks. Files of `exclude` (the scan's own outputs, written while it
    runs) are not read even when a folder of `paths` holds them, compared by identity (device, inode);
    `ScanOutput.not_read` lists them. `reports(rule)`, when given, says which rules' matches and alerts are
    reported (the others still run and feed correlations)."""
    out = ScanOutput()
    scanner = Scanner(compiled, routing=routing, prefilter=prefilter)
    with _frozen_heap():
        plan = plan_inputs(paths, out.input_problems)
        out.input_warnings = plan.warnings
        if exclude:
            plan.files, out.not_read = _without(plan.files, exclude)
        out.stats.files = len(plan.files)
        out.stats.skipped_files = plan.skipped
        tasks = make_tasks(plan.files, workers)
        out.stats.sources = len(tasks)
        wanted = [reports is None or reports(rule.rule) for rule in scanner.rules]

        def alert(item: Any) -> None:
            if reports is None or reports(item.rule):
                out.stats.alerts += 1
                on_alert(item)

        correlation = _CorrelationFeed.create(compiled, scanner.rules, out, alert)
        failures: dict[int, RuleFailure] = {}
        done = 0
        for result in _task_results(scanner, tasks, workers, time_field):
            out.stats.events += result.events
            out.stats.candidates_tested += result.candidates_tested
            out.input_problems.extend(result.problems)
            for rule_id, failure in result.failures:
                known = failures.get(rule_id)
                if known is None:
                    failures[rule_id] = failure
                else:
                    known.count += failure.count
            for rule_id, event in result.matches:
                if correlation is not None:
                    correlation.keep(rule_id, event)
                    if correlation.hidden(rule_id):
                        continue
                if wanted[rule_id]:
                    out.stats.matches += 1
                    on_match(RuleMatch(scanner.rules[rule_id], event))
            if result.last:
                done += result.sources
                if progress is not None:
                    progress(done, len(tasks))
        out.rule_failures = [failures[i] for i in sorted(failures)]
        if correlation is not None:
            correlation.finish()
        return out


def _without(files: list[Path], exclude: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """`files` less those that are one of `exclude`, by identity (a symlink or hard link is the file)."""
    targets = {key for key in (file_id(path) for path in exclude) if key is not None}
    if not targets:
        return files, []
    kept: list[Path] = []
    dropped: list[Path] = []
    for path in files:
        (dropped if file_id(path) in targets else kept).append(path)
    return kept, dropped


REORDER_MATCHES = 10_000  # correlation inputs held to put them in time order (see _CorrelationFeed)


class _CorrelationFeed:
    """Feeds the matches of rules that correlations refer to into the correlator, in time order as far as a
    bounded buffer allows.

    Matches arrive in input order, which is time order within most logs but not across files (a folder of
    hosts' exports, each a day). They wait in a heap of at most `REORDER_MATCHES`, oldest fed first when it
    is full: input out of order by less than that many correlation inputs is fed exactly in time order, as
    if sorted; an input older than what was already fed is put in order by the correlator when it still
    falls within its group's window, else counted as a skip (late input), never silently lost. Memory
    stays bounded by the buffer, the correlator's time-based expiry and its caps (groups, entries).

    Rules referred to only by correlations with `generate: false` (the spec's default) report no matches or
    alerts of their own (`Correlator.outputs`): they only feed the correlations.
    """

    def __init__(
        self,
        correlator: Any,
        rules: Sequence[CompiledRuleLike],
        out: ScanOutput,
        on_alert: Callable[[Any], None],
        limit: int = REORDER_MATCHES,
    ) -> None:
        self.correlator = correlator
        self.rules = rules
        wanted = correlator.referenced_uids
        self.referenced = {i for i, rule in enumerate(rules) if rule.uid in wanted}
        self._hidden = {i for i, rule in enumerate(rules) if not correlator.outputs(rule.rule)}
        self.out = out
        self.on_alert = on_alert
        self.limit = max(1, limit)
        self.heap: list[tuple[datetime, int, int, Event]] = []
        self.seq = 0

    @classmethod
    def create(
        cls,
        compiled: CompiledSetLike,
        rules: Sequence[CompiledRuleLike],
        out: ScanOutput,
        on_alert: Callable[[Any], None],
        limit: int = REORDER_MATCHES,
    ) -> _CorrelationFeed | None:
        correlations = list(compiled.correlations)
        if not correlations:
            return None
        from ruleatlas.engine.correlate import Correlator

        correlator = Correlator(correlations, [rule.rule for rule in rules])
        out.correlation_problems.extend(
            f"{p.file}{f':{p.line}' if p.line else ''}: {p.message}" for p in correlator.problems
        )
        return cls(correlator, rules, out, on_alert, limit)

    def hidden(self, rule_id: int) -> bool:
        return rule_id in self._hidden

    def keep(self, rule_id: int, event: Event) -> None:
        if rule_id not in self.referenced:
            return
        self.seq += 1
        # untimed events sort first; the correlator counts them as skipped (no timestamp)
        heapq.heappush(self.heap, (event.timestamp or _NO_TIME, self.seq, rule_id, event))
        if len(self.heap) > self.limit:
            self._feed(heapq.heappop(self.heap))

    def _feed(self, item: tuple[datetime, int, int, Event]) -> None:
        _, _, rule_id, event = item
        for alert in self.correlator.feed(self.rules[rule_id].rule, event):
            if self.correlator.outputs(alert.rule):
                self.on_alert(alert)

    def finish(self) -> None:
        heap = self.heap
        while heap:
            self._feed(heapq.heappop(heap))
        for alert in self.correlator.flush():
            if self.correlator.outputs(alert.rule):
                self.on_alert(alert)
        for skip in self.correlator.skips:
            self.out.correlation_notes.append(
                f"correlation {skip.rule.uid}: {skip.count} inputs not used: {skip.reason}"
            )


_NO_TIME = datetime.min.replace(tzinfo=UTC)
