"""`ruleatlas scan`: run Sigma rules over logs (EVTX, JSON, JSONL; plain or gzip).

Thin: read rules (sources.sigma), compile them (engine.compile), scan (engine.scan), write (engine.output).
Every rule or input that could not be used is reported on stderr (and, with --problems FILE, as JSONL);
the scan goes on. Exit codes: 0 clean scan, 1 some rule or input could not be used, 2 bad usage or an
environment failure (an output that is one of the logs, a folder, or cannot be written: one line, no
traceback), 141 when the reader of stdout went away (`| head`; nothing printed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from ruleatlas.engine.scan_rules import OPTIONAL
from ruleatlas.logs.event import DEFAULT_TIME_FIELDS
from ruleatlas.logs.readers import limit_text
from ruleatlas.model import LEVELS, Problem

if TYPE_CHECKING:
    from ruleatlas.engine.scan import ScanOutput

# The scan machinery (pySigma tables, Aho-Corasick) loads when `scan` runs, not for other commands.
FORMATS = ("table", "jsonl", "csv")  # engine.output.FORMATS; a test keeps the two the same

ENGINES = ("local", "spark")
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell tool's exit looks like when its reader went away
STDERR_LIMIT = 50  # problem lines per kind on stderr; --problems FILE gets them all
STDOUT = Path("/dev/stdout")  # Linux: the file standard output was redirected to, if any


def add_scan_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "scan",
        help="run Sigma rules over logs (EVTX, JSON, JSONL; plain or gzip)",
        description="Run Sigma rules over log files and report the matches. Exit 0: clean scan; 1: some rule "
        "or input could not be used (the rest was scanned); 2: bad usage.",
    )
    p.add_argument(
        "--rules",
        action="append",
        type=Path,
        required=True,
        metavar="PATH",
        help="a Sigma rule file or folder (a SigmaHQ checkout too); repeatable",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: table on a terminal, jsonl otherwise)",
    )
    p.add_argument("--output", type=Path, help="write matches here instead of stdout")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (0: one per core); files, and big EVTX files by chunks, are split",
    )
    p.add_argument(
        "--time-field",
        metavar="NAME",
        help="event time field for JSON logs (default: first of "
        + ", ".join(DEFAULT_TIME_FIELDS)
        + "; EVTX records carry their own)",
    )
    p.add_argument(
        "--problems",
        type=Path,
        metavar="FILE",
        help="write every rule and input problem here as JSONL (stderr shows the first "
        f"{STDERR_LIMIT} of each kind)",
    )
    p.add_argument(
        "--no-prefilter", action="store_true", help="test every routed rule (slower; for checking)"
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local (default: this machine, --workers processes) or spark (Apache Spark: pip install "
        "'ruleatlas[spark]', Java 17; see README)",
    )
    p.add_argument(
        "--master",
        metavar="URL",
        help="with --engine spark: local[N], spark://HOST:PORT, yarn, k8s://... (default: spark-submit's)",
    )
    p.add_argument(
        "--no-routing", action="store_true", help="ignore log sources: test every rule on every event"
    )
    p.add_argument(
        "--include",
        action="append",
        choices=sorted(OPTIONAL),
        default=[],
        help="also run rules a folder scan leaves out: "
        + "; ".join(f"{name}: {what}" for name, what in sorted(OPTIONAL.items())),
    )
    p.add_argument(
        "--placeholder",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value for the %%NAME%% placeholder of rules with the expand modifier (repeat a name for "
        "several values); implies --include placeholder",
    )
    p.add_argument(
        "--placeholders",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="YAML mapping placeholder names to a value or a list of values; implies --include placeholder",
    )
    p.add_argument(
        "--level",
        action="append",
        choices=LEVELS,
        default=[],
        help="report only rules of this level (repeatable)",
    )
    p.add_argument("--min-level", choices=LEVELS, help="report only rules of this level or above")
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="report only rules with this tag or one under it (attack.t1059 takes attack.t1059.001); "
        "repeatable: any of them",
    )
    p.add_argument(
        "--explain",
        metavar="UID",
        help="print the Python function the engine generates for this rule (uid, file stem or rule id) "
        "and the objects it calls, then exit: no LOGS needed",
    )
    p.add_argument(
        "logs",
        nargs="*",
        type=Path,
        metavar="LOGS",
        help=f"log files or folders (one JSON document may be at most {limit_text()})",
    )
    return p


def _explain(args: argparse.Namespace) -> int:
    """`--explain UID`: the generated source of one rule's matcher (engine/codegen.py), with the objects
    its names stand for; exit 1 when no rule, or several, answer to UID, or it cannot be compiled."""
    from ruleatlas.engine.codegen import generated_source
    from ruleatlas.engine.compile import compile_rules
    from ruleatlas.engine.scan_rules import Selection, load_rules

    wanted = args.explain
    loaded = load_rules(args.rules, Selection(include=frozenset(OPTIONAL)))
    found = [
        rule
        for rule in loaded.rules
        if wanted in (rule.uid, rule.uid.partition("/")[2], rule.id) and rule.correlation is None
    ]
    if len(found) != 1:
        names = ", ".join(rule.uid for rule in found[:10])
        why = f"several rules answer to it: {names}" if found else "no detection rule with that uid or id"
        sys.stderr.write(f"ruleatlas scan --explain {wanted}: {why}\n")
        return EXIT_PROBLEMS
    rule = found[0]
    compiled = compile_rules([rule], kinds=frozenset({rule.kind}))
    if not compiled.rules:
        for problem in compiled.problems:
            sys.stderr.write(f"ruleatlas scan --explain {wanted}: {problem.message}\n")
        return EXIT_PROBLEMS
    source, emitter = generated_source(compiled.rules[0].matcher)
    out = sys.stdout
    out.write(f"# {rule.uid}: {rule.title} ({rule.source.path})\n")
    out.write(f"# traceback lines name it <compiled {rule.uid}>; the names it calls:\n")
    for name, obj in emitter.namespace.items():
        if name.startswith("k"):
            text = repr(obj)
            out.write(f"#   {name} = {text[:200] + ' …' if len(text) > 200 else text}\n")
    out.write(source)
    return EXIT_OK


def _problem_record(kind: str, **data: object) -> dict[str, object]:
    return {"kind": kind, **data}


class _ProblemReport:
    """Problems to stderr (capped per kind) and to --problems FILE (all); counts the ones that matter."""

    def __init__(self, stream: TextIO, sink: TextIO | None) -> None:
        self.stream = stream
        self.sink = sink
        self.shown: dict[str, int] = {}
        self.hidden: dict[str, int] = {}
        self.errors = 0
        self.warnings = 0

    def add(self, kind: str, line: str, record: dict[str, object], *, error: bool = True) -> None:
        if error:
            self.errors += 1
        else:
            self.warnings += 1
        if self.sink is not None:
            self.sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        if not error and self.sink is not None:
            return  # warnings go to the file only when there is one
        if self.shown.get(kind, 0) < STDERR_LIMIT:
            self.shown[kind] = self.shown.get(kind, 0) + 1
            self.stream.write(f"{'warning' if not error else 'error'}: {line}\n")
        else:
            self.hidden[kind] = self.hidden.get(kind, 0) + 1

    def rule_problem(self, problem: Problem) -> None:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        hint = f" (hint: {problem.hint})" if problem.hint else ""
        self.add(
            "rule",
            f"{where}: {problem.message}{hint}",
            _problem_record(
                "rule",
                file=problem.file,
                line=problem.line,
                rule=problem.rule_uid,
                severity=problem.severity,
                message=problem.message,
                hint=problem.hint,
            ),
            error=problem.severity == "error",
        )

    def close(self) -> None:
        for kind, count in self.hidden.items():
            more = "in --problems FILE" if self.sink is not None else "(use --problems FILE for all)"
            self.stream.write(f"... and {count} more {kind} problems {more}\n")


def report_scan_problems(report: _ProblemReport, output: ScanOutput) -> None:
    for p in output.input_problems:
        report.add(
            "input",
            str(p),
            _problem_record("input", file=p.file, where=p.where, at=p.record, message=p.message),
        )
    for f in output.rule_failures:
        at = f"{f.file}: record {f.record}" if f.record is not None else f.file
        times = f" ({f.count} events)" if f.count > 1 else ""
        report.add(
            "rule",
            f"rule {f.uid} failed while matching{times}, first on {at}: {f.message}",
            _problem_record(
                "rule_failure", rule=f.uid, file=f.file, record=f.record, count=f.count, message=f.message
            ),
        )
    for message in output.correlation_problems:
        report.add("correlation", message, _problem_record("correlation", message=message))
    for message in output.correlation_notes:
        report.add("correlation", message, _problem_record("correlation_skip", message=message), error=False)
    for p in output.input_warnings:
        record = _problem_record("input_warning", file=p.file, at=p.record, message=p.message)
        report.add("input", str(p), record, error=False)
    for path in output.not_read:
        message = f"{path}: not read, it is this scan's own output (--output or --problems)"
        record = _problem_record("not_read", file=str(path), message=message)
        report.add("input", message, record, error=False)


def cmd_scan(args: argparse.Namespace) -> int:
    from ruleatlas.engine.scan_files import OutputFailed, OutputRefused

    try:
        return _scan(args)
    except OutputRefused as exc:
        sys.stderr.write(f"ruleatlas scan: {exc}\n")
        return EXIT_USAGE
    except OutputFailed as exc:
        sys.stderr.write(f"ruleatlas scan: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE_CLOSED


def _silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _open_output(path: Path | None, where: str) -> Any:
    from ruleatlas.engine.scan_files import GuardedStream, OutputFailed

    if path is None:
        return nullcontext(None)
    try:
        stream = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise OutputFailed(f"{where} {path}", exc) from exc
    return _closing_guarded(stream, f"{where} {path}", GuardedStream)


@contextmanager
def _closing_guarded(stream: TextIO, where: str, guard: Any) -> Iterator[Any]:
    from ruleatlas.engine.scan_files import OutputFailed

    try:
        yield guard(stream, where)
    finally:
        try:
            stream.close()
        except OSError as exc:  # the last buffered bytes could not be written (full disk)
            raise OutputFailed(where, exc) from exc


def _scan(args: argparse.Namespace) -> int:
    from ruleatlas.engine.compile import RUNNABLE_KINDS, compile_rules
    from ruleatlas.engine.output import make_writer
    from ruleatlas.engine.scan import default_workers, run_scan
    from ruleatlas.engine.scan_files import GuardedStream, check_outputs
    from ruleatlas.engine.scan_rules import PlaceholderError, Selection, load_rules, parse_placeholders
    from ruleatlas.logs.readers import plan_inputs
    from ruleatlas.progress import Progress

    err = sys.stderr
    if args.explain:
        return _explain(args)
    if not args.logs:
        err.write("ruleatlas scan: no LOGS: name the log files or folders to scan\n")
        return EXIT_USAGE
    if args.workers < 0:
        err.write("ruleatlas scan: --workers must be 0 (all cores) or more\n")
        return EXIT_USAGE
    try:
        placeholders = parse_placeholders(args.placeholder, args.placeholders)
    except PlaceholderError as exc:
        err.write(f"ruleatlas scan: {exc}\n")
        return EXIT_USAGE
    workers = args.workers or default_workers()
    if args.master and args.engine != "spark":
        err.write("ruleatlas scan: --master goes with --engine spark\n")
        return EXIT_USAGE
    if args.engine == "spark" and importlib.util.find_spec("pyspark") is None:
        err.write("ruleatlas scan: --engine spark needs pyspark: pip install 'ruleatlas[spark]'\n")
        return EXIT_USAGE
    # before anything is opened for writing: an output that is one of the logs would be emptied on open
    # (stdout redirected with `>>` to one of the logs would grow it while it is read: refused too)
    stdout = STDOUT if args.output is None and STDOUT.exists() else None
    check_outputs(
        [("--output", args.output), ("--problems", args.problems), ("standard output", stdout)],
        plan_inputs(args.logs, []).files,
    )
    include = set(args.include) | ({"placeholder"} if placeholders else set())
    selection = Selection(
        include=frozenset(include),
        levels=frozenset(args.level),
        min_level=args.min_level,
        tags=tuple(tag.lower() for tag in args.tag),
    )
    with _open_output(args.problems, "--problems") as sink:
        report = _ProblemReport(err, sink)
        loaded = load_rules(args.rules, selection)
        for problem in loaded.problems:
            report.rule_problem(problem)
        rules = loaded.rules
        if selection.filters and not any(rule.correlation is not None for rule in rules):
            rules = [rule for rule in rules if selection.reports(rule)]  # nothing else needs the others
        compiled = compile_rules(rules, placeholders=placeholders, kinds=RUNNABLE_KINDS | selection.kinds)
        for problem in compiled.problems:
            report.rule_problem(problem)
        for note in loaded.notes:
            err.write(f"note: {note}\n")
        if not compiled.rules and not compiled.correlations:
            report.close()
            why = " (--level, --min-level and --tag left none)" if loaded.rules and selection.filters else ""
            err.write(f"ruleatlas scan: no rule to run{why}\n")
            return EXIT_USAGE
        fmt = args.format or ("table" if (args.output is None and sys.stdout.isatty()) else "jsonl")
        with _open_output(args.output, "--output") as opened, Progress("scan", 0) as progress:
            out = opened if opened is not None else GuardedStream(sys.stdout, "to stdout")
            writer = make_writer(fmt, cast(TextIO, out))  # GuardedStream: the write side of a TextIO

            def advance(done: int, total: int) -> None:
                progress.set_total(total)
                progress.advance(done - progress.done)

            if args.engine == "spark":
                from ruleatlas.spark.cli import run_spark_scan

                result = run_spark_scan(
                    args,
                    compiled,
                    on_match=writer.match,
                    on_alert=writer.alert,
                    selection=selection,
                    placeholders=placeholders,
                )
            else:
                result = run_scan(
                    compiled,
                    args.logs,
                    on_match=writer.match,
                    on_alert=writer.alert,
                    workers=workers,
                    time_field=args.time_field,
                    progress=advance,
                    routing=not args.no_routing,
                    prefilter=not args.no_prefilter,
                    exclude=[path for path in (args.output, args.problems) if path is not None],
                    reports=selection.reports if selection.filters else None,
                )
            writer.close()
            result.input_problems.extend(writer.problems)
            result.input_warnings.extend(writer.warnings)
        report_scan_problems(report, result)
        report.close()
        stats = result.stats
        skipped = sum(stats.skipped_files.values())
        skipped_text = (
            (
                f"; {skipped} files in folders skipped as not logs ("
                + ", ".join(f"{k} {v}" for k, v in sorted(stats.skipped_files.items()))
                + ")"
            )
            if skipped
            else ""
        )
        err.write(
            f"scanned {stats.events} events from {stats.files} files with {len(compiled.rules)} rules"
            f" and {len(compiled.correlations)} correlations: {stats.matches} matches, {stats.alerts} "
            f"correlation alerts; {report.errors} problems, {report.warnings} warnings{skipped_text}\n"
        )
        if fmt != "table" and writer.summary.per_rule:
            writer.summary.write(err)
    return EXIT_PROBLEMS if report.errors else EXIT_OK
