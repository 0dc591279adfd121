"""`ruleatlas scan`: run Sigma rules over logs (EVTX, JSON, JSONL; plain or gzip).

Thin: read rules (sources.sigma), compile them (engine.compile), scan (engine.scan), write (engine.output).
Every rule or input that could not be used is reported on stderr (and, with --problems FILE, as JSONL);
the scan goes on. Exit codes: 0 clean scan, 1 some rule or input could not be used, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ruleatlas.engine.event import DEFAULT_TIME_FIELDS
from ruleatlas.engine.readers import limit_text
from ruleatlas.model import Problem, Rule, RuleKind

if TYPE_CHECKING:
    from ruleatlas.engine.scan import ScanOutput

# The scan machinery (pySigma tables, Aho-Corasick) loads when `scan` runs, not for other commands.
FORMATS = ("table", "jsonl", "csv")  # engine.output.FORMATS; a test keeps the two the same

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
STDERR_LIMIT = 50  # problem lines per kind on stderr; --problems FILE gets them all
NOT_RUN_FROM_FOLDERS = (RuleKind.DEPRECATED, RuleKind.UNSUPPORTED)


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
        "--no-routing", action="store_true", help="ignore log sources: test every rule on every event"
    )
    p.add_argument(
        "logs",
        nargs="+",
        type=Path,
        metavar="LOGS",
        help=f"log files or folders (one JSON document may be at most {limit_text()})",
    )
    return p


def load_rules(paths: Sequence[Path], problems: list[Problem], notes: list[str]) -> list[Rule]:
    """Rules from Sigma files and folders; folder rules that are deprecated or unsupported are not run."""
    from ruleatlas.sources.sigma import parse_sigma_file, read_sigma_tree

    rules: list[Rule] = []
    for path in paths:
        if path.is_dir():
            result = read_sigma_tree(path)
            problems.extend(result.errors)
            kept = [rule for rule in result.rules if rule.kind not in NOT_RUN_FROM_FOLDERS]
            if len(kept) < len(result.rules):
                notes.append(
                    f"{path}: {len(result.rules) - len(kept)} deprecated or unsupported rules not run"
                )
            rules.extend(kept)
        elif path.is_file():
            try:
                text = path.read_bytes().decode("utf-8", errors="surrogateescape")
            except OSError as exc:
                problems.append(Problem(str(path), f"cannot read rule file: {exc.strerror or exc}"))
                continue
            found, file_problems = parse_sigma_file(text, str(path), path.parent.name or ".")
            rules.extend(found)
            problems.extend(file_problems)
        else:
            problems.append(Problem(str(path), "no such rule file or folder"))
    return rules


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
    for path in output.not_read:
        message = f"{path}: not read, it is this scan's own output (--output or --problems)"
        record = _problem_record("not_read", file=str(path), message=message)
        report.add("input", message, record, error=False)


def cmd_scan(args: argparse.Namespace) -> int:
    from ruleatlas.engine.compile import compile_rules
    from ruleatlas.engine.output import make_writer
    from ruleatlas.engine.scan import default_workers, run_scan
    from ruleatlas.progress import Progress

    err = sys.stderr
    if args.workers < 0:
        err.write("ruleatlas scan: --workers must be 0 (all cores) or more\n")
        return EXIT_USAGE
    workers = args.workers or default_workers()
    sink_ctx = args.problems.open("w", encoding="utf-8") if args.problems else nullcontext(None)
    with sink_ctx as sink:
        report = _ProblemReport(err, sink)
        source_problems: list[Problem] = []
        notes: list[str] = []
        rules = load_rules(args.rules, source_problems, notes)
        for problem in source_problems:
            report.rule_problem(problem)
        compiled = compile_rules(rules)
        for problem in compiled.problems:
            report.rule_problem(problem)
        for note in notes:
            err.write(f"note: {note}\n")
        if not compiled.rules and not compiled.correlations:
            report.close()
            err.write("ruleatlas scan: no rule to run\n")
            return EXIT_USAGE
        fmt = args.format or ("table" if (args.output is None and sys.stdout.isatty()) else "jsonl")
        out_ctx = (
            args.output.open("w", encoding="utf-8", newline="") if args.output else nullcontext(sys.stdout)
        )
        with out_ctx as out, Progress("scan", 0) as progress:
            writer = make_writer(fmt, out)

            def advance(done: int, total: int) -> None:
                progress.set_total(total)
                progress.advance(done - progress.done)

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
            )
            writer.close()
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
