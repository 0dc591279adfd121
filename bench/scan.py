"""Scan benchmark: SigmaHQ rules over the shared EVTX samples repeated to a million events.

    .venv/bin/python bench/scan.py                  # full run: parse-only, 1 core, memory growth, --workers 2
    .venv/bin/python bench/scan.py --events 200000  # shorter
    .venv/bin/python bench/scan.py --mode scan --repeat 10 --workers 1   # one measurement, JSON out

Rules: rules/, rules-emerging-threats/, rules-threat-hunting/ of ../shared/corpus/sigma. Logs: every .evtx
under ../shared/logs, the list repeated until it holds at least --events records. "parse" and "scan" read
the files again each time (no cache: every record is parsed each time); "engine" alone parses each file
once and feeds the same events again, to show the scanner's own rate apart from EVTX parsing (labelled so).
Each measurement runs in its own process so that its peak memory (ru_maxrss) is its own; the rule set is
read and compiled in each, outside the timing.

Printed: the CPU cost per event of each stage (parse, route, prefilter, match: `--mode stages`), events,
events/s by the wall clock and per CPU second (process_time of the measuring process; with
--workers 2 the CPU of parent and workers together) for parse-only, engine-only and the full scan, the
scan/parse ratio, peak RSS at two input sizes (flat = it does not grow with the input), and 1 vs 2
workers. The 1-minute load average is printed around each measurement: on a shared machine the wall-clock
figures fall with the load, the CPU figures much less. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RULEATLAS_SHARED", REPO.parent / "shared"))
RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def evtx_files() -> list[Path]:
    return sorted((SHARED / "logs").rglob("*.evtx"))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_compiled() -> tuple[object, dict[str, object]]:
    from ruleatlas.engine.compile import compile_rules
    from ruleatlas.sources.sigma import read_sigma_tree

    start = time.perf_counter()
    result = read_sigma_tree(SHARED / "corpus" / "sigma")
    rules = [rule for rule in result.rules if rule.folder in RULE_FOLDERS]
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = compile_rules(rules)
    compile_s = time.perf_counter() - start
    info = {
        "rules_read": len(rules),
        "rules_compiled": len(compiled.rules),
        "compile_problems": len(compiled.problems),
        "read_s": round(read_s, 2),
        "compile_s": round(compile_s, 2),
        "with_literals": sum(1 for r in compiled.rules if r.required_literals is not None),
    }
    return compiled, info


def measure(mode: str, repeat: int, workers: int) -> dict[str, object]:
    """One measurement in this process."""
    from ruleatlas.logs.event import InputProblem
    from ruleatlas.logs.readers import read_events

    files = evtx_files() * repeat
    out: dict[str, object] = {"mode": mode, "repeat": repeat, "workers": workers, "files": len(files)}
    out["load_before"] = round(os.getloadavg()[0], 2)
    if mode == "api":  # the evtx package alone: records_json strings, then json.loads or orjson.loads
        from evtx import PyEvtxParser

        from ruleatlas.logs.evtx_fields import fast_loads

        decoders = {"records_json": None, "records_json+json": json.loads, "records_json+orjson": fast_loads}
        for label, decode in decoders.items():
            if label.endswith("orjson") and decode is None:
                continue  # orjson not installed
            start, cpu = time.perf_counter(), time.process_time()
            count = 0
            for path in files:
                for record in PyEvtxParser(str(path), number_of_threads=1).records_json():
                    if decode is not None:
                        decode(record["data"])
                    count += 1
            seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
            out[label] = {"events": count, "rate": round(count / seconds), "cpu_rate": round(count / cpu_s)}
        start, cpu = time.perf_counter(), time.process_time()
        count = 0
        for path in files:
            for _record in PyEvtxParser(str(path), number_of_threads=1).records():
                count += 1
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        out["records_xml"] = {
            "events": count,
            "rate": round(count / seconds),
            "cpu_rate": round(count / cpu_s),
        }
    elif mode == "parse":  # readers: EVTX records into Sigma-named events with their time, no rules
        problems: list[InputProblem] = []
        start, cpu = time.perf_counter(), time.process_time()
        count = sum(1 for _ in read_events(files, problems=problems))
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        out.update(
            events=count,
            seconds=round(seconds, 2),
            rate=round(count / seconds),
            cpu_rate=round(count / cpu_s),
            problems=len(problems),
        )
    elif mode == "engine":  # the scanner alone: each distinct file parsed once, its events fed `repeat` times
        from ruleatlas.engine.scan import Scanner

        compiled, info = load_compiled()
        out.update(info)
        problems = []
        events = list(read_events(evtx_files(), problems=problems))
        scanner = Scanner(compiled)  # type: ignore[arg-type]
        matches = 0
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            for event in events:
                matches += len(scanner.match_ids(event))
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        count = len(events) * repeat
        out.update(
            events=count,
            matches=matches,
            seconds=round(seconds, 2),
            rate=round(count / seconds),
            cpu_rate=round(count / cpu_s),
            candidates_per_event=round(scanner.candidates_tested / count, 2),
        )
    elif mode == "stages":  # the scanner's stages apart, per event: route, prefilter, match
        out.update(stage_costs(repeat))
    else:  # scan
        from ruleatlas.engine.scan import run_scan

        compiled, info = load_compiled()
        out.update(info)
        out["peak_mb_after_compile"] = round(peak_mb(), 1)
        matches = 0

        def count_match(match: object) -> None:
            nonlocal matches
            matches += 1

        start, cpu = time.perf_counter(), time.process_time()
        result = run_scan(compiled, files, on_match=count_match, workers=workers)  # type: ignore[arg-type]
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        stats = result.stats
        out.update(
            events=stats.events,
            matches=matches,
            seconds=round(seconds, 2),
            rate=round(stats.events / seconds),
            cpu_rate=round(stats.events / cpu_s),  # of this process: with workers, the parent's share only
            candidates_per_event=round(stats.candidates_tested / max(stats.events, 1), 2),
            problems=len(result.input_problems) + len(result.rule_failures),
        )
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        if workers > 1:
            out["peak_mb_workers"] = round(children.ru_maxrss / 1024, 1)
            worker_cpu = children.ru_utime + children.ru_stime
            # events per CPU second summed over the workers: what two free cores would give each
            out["worker_cpu_rate"] = round(stats.events / worker_cpu) if worker_cpu else None
            # all the CPU the scan took (parent and workers): the cost of splitting shows here
            out["total_cpu_rate"] = round(stats.events / (cpu_s + worker_cpu))
    out["peak_mb"] = round(peak_mb(), 1)
    out["load_after"] = round(os.getloadavg()[0], 2)
    return out


def stage_costs(repeat: int) -> dict[str, object]:
    """CPU microseconds per event of routing (audit aliases, bucket and plan lookup), prefilter (the
    automaton pass) and matching (the candidates' generated functions), each timed over its own loop on
    events parsed once, after one warm-up pass of all three (automata, plans and RE2's lazy DFAs built:
    one-time costs left out)."""
    from ruleatlas.engine.fieldmap import with_audit_aliases
    from ruleatlas.engine.scan import Scanner
    from ruleatlas.logs.event import InputProblem
    from ruleatlas.logs.readers import read_events

    compiled, _info = load_compiled()
    problems: list[InputProblem] = []
    events = [event.fields for event in read_events(evtx_files(), problems=problems)]
    scanner = Scanner(compiled)  # type: ignore[arg-type]
    rules = scanner.rules
    plan_of = scanner._plan  # the stage under measurement
    # warm-up, matching included: RE2 builds a pattern's DFA lazily, during its first searches (~0.1 s
    # for SigmaHQ's `.{1000,}`), a one-time cost that would otherwise count as matching
    for fields in events:
        aliased = with_audit_aliases(fields)
        bucket, plan = plan_of(aliased)
        warm_cache: dict[object, object] = {}
        for rule_id in bucket.select(plan, aliased):
            rules[rule_id].match(aliased, warm_cache)
    route = prefilter = match = 0.0
    tested = 0
    for _ in range(repeat):
        start = time.process_time()
        routed = [(aliased, plan_of(aliased)) for aliased in map(with_audit_aliases, events)]
        middle = time.process_time()
        selected = [(aliased, bucket.select(plan, aliased)) for aliased, (bucket, plan) in routed]
        end = time.process_time()
        for aliased, candidates in selected:
            cache: dict[object, object] = {}
            tested += len(candidates)
            for rule_id in candidates:
                rules[rule_id].match(aliased, cache)
        route += middle - start
        prefilter += end - middle
        match += time.process_time() - end
    count = len(events) * repeat
    return {
        "events": count,
        "route_us": round(route / count * 1e6, 2),
        "prefilter_us": round(prefilter / count * 1e6, 2),
        "match_us": round(match / count * 1e6, 2),
        "candidates_per_event": round(tested / count, 2),
    }


def parse_parts(api: dict[str, object], parse_us: float) -> None:
    """The reader's CPU per event split into the evtx package's records_json, the JSON decode and the
    rest (System/EventData to Sigma-named fields, the Event, the reading loop), from the `api` and
    `parse` runs (separate processes: the parts are differences of rates, so roughly additive)."""
    raw, decoded = api.get("records_json"), api.get("records_json+orjson") or api.get("records_json+json")
    if not isinstance(raw, dict) or not isinstance(decoded, dict):
        return
    raw_us = 1e6 / float(raw["cpu_rate"])
    decoded_us = 1e6 / float(decoded["cpu_rate"])
    print(
        f"parse per event, CPU microseconds: {parse_us:.1f} = evtx records_json {raw_us:.1f} + JSON decode "
        f"{decoded_us - raw_us:.1f} + fields, Event and loop {parse_us - decoded_us:.1f}"
    )


def run_child(mode: str, repeat: int, workers: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--mode", mode, "--repeat", str(repeat), "--workers", str(workers)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} x{repeat} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="at least this many events per run")
    parser.add_argument(
        "--mode", choices=("api", "parse", "engine", "stages", "scan"), help="run one measurement, print JSON"
    )
    parser.add_argument("--repeat", type=int, default=0, help="with --mode: how many times the file list")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, max(args.repeat, 1), args.workers)))
        return 0

    files = evtx_files()
    from evtx import PyEvtxParser

    per_pass = sum(sum(1 for _ in PyEvtxParser(str(p)).records_json()) for p in files)
    repeat = -(-args.events // per_pass)
    print(
        f"logs: {len(files)} EVTX files, {per_pass} records per pass; x{repeat} = {per_pass * repeat} events"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
        f"python {sys.version.split()[0]}"
    )
    print(
        "rates: events per wall-clock second, and per CPU second of the measuring process in brackets"
        " (other work on the machine slows the first much more than the second); load = 1-minute load"
        " average before/after each measurement"
    )

    def line(label: str, entry: dict[str, object], extra: str = "") -> None:
        load = f"load {entry.get('load_before', '?')}/{entry.get('load_after', '?')}"
        print(
            f"{label:<31}{entry['rate']:>9,} events/s [{entry['cpu_rate']:>7,}]  {entry['events']:>9,} events"
            f"  {extra}{load}"
        )

    api = run_child("api", max(repeat // 4, 1), 1)
    for label in ("records_json", "records_json+json", "records_json+orjson", "records_xml"):
        entry = api.get(label)
        if not isinstance(entry, dict):
            continue
        loads = {"load_before": api["load_before"], "load_after": api["load_after"]}
        line(f"evtx API {label}", {**entry, **loads})
    parse = run_child("parse", repeat, 1)
    line("parse only (readers)", parse, f"{parse['seconds']}s  peak {parse['peak_mb']} MB  ")
    engine = run_child("engine", repeat, 1)
    line(
        "engine only (parsed once)",
        engine,
        f"{engine['candidates_per_event']} rules tested/event (route + prefilter + match)  ",
    )
    stages = run_child("stages", max(repeat // 4, 1), 1)
    parse_us = 1e6 / float(parse["cpu_rate"])  # type: ignore[arg-type]
    parse_parts(api, parse_us)
    print(
        f"per event, CPU microseconds: parse {parse_us:.1f}, route {stages['route_us']}, prefilter "
        f"{stages['prefilter_us']}, match {stages['match_us']} ({stages['candidates_per_event']} rules "
        f"tested/event); load {stages['load_before']}/{stages['load_after']}"
    )
    small = run_child("scan", max(repeat // 10, 1), 1)
    one = run_child("scan", repeat, 1)
    print(
        f"rules: {one['rules_read']} read ({one['read_s']}s), {one['rules_compiled']} compiled "
        f"({one['compile_s']}s, {one['compile_problems']} problems), {one['with_literals']} with literals"
    )
    line("scan, 1 worker", one, f"{one['seconds']}s  {one['matches']} matches  ")
    ratio = float(one["rate"]) / float(parse["rate"])  # type: ignore[arg-type]
    cpu_ratio = float(one["cpu_rate"]) / float(parse["cpu_rate"])  # type: ignore[arg-type]
    print(
        f"scan / parse-only rate         {ratio:.2f} [{cpu_ratio:.2f}]  (target >= 0.5; parse-only = the"
        " scan's own reader, read_events: records_json + JSON decode + evtx_fields + Event, no rules)"
    )
    print(
        f"peak memory, 1 worker: {small['peak_mb']} MB at {small['events']:,} events, {one['peak_mb']} MB at "
        f"{one['events']:,} events (after reading and compiling the rules: {one['peak_mb_after_compile']} MB)"
    )
    two = run_child("scan", repeat, 2)
    speedup = float(two["rate"]) / float(one["rate"])  # type: ignore[arg-type]
    line(
        "scan, 2 workers",
        {**two, "cpu_rate": two.get("total_cpu_rate", 0)},
        f"{two['seconds']}s  {two['matches']} matches  ",
    )
    print(
        f"2 workers vs 1: wall-clock speed-up x{speedup:.2f}; CPU per event x"
        f"{float(one['cpu_rate']) / float(two.get('total_cpu_rate') or 1):.2f} of one worker's "  # type: ignore[arg-type]
        f"(bracket above: all processes' CPU); per worker CPU second {two.get('worker_cpu_rate')} events, "
        f"parent {two['cpu_rate']} events per its CPU second; peak parent {two['peak_mb']} MB, "
        f"largest worker {two.get('peak_mb_workers')} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
