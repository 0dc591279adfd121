"""Matcher speed: matches/s for typical predicates, then the matching cost over the SigmaHQ corpus.

    .venv/bin/python bench/match_micro.py [--shared ../shared] [--seconds 0.3]

Part 1 builds one-rule sets from hand-made IR and calls `match` on a hit and a miss event, each call with a
fresh per-event cache as the scanner does. Part 2 (needs ../shared) compiles every SigmaHQ rule and runs them
over SigmaHQ's regression samples: raw rule evaluations/s, then matching-only events/s when each event meets
only the rules of its category (Sysmon EventID -> category, as routing does) whose required literals occur
in it (as the prefilter does; candidate selection is left out of the timing, it is the scanner's cost).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ruleatlas.engine import CompiledRule, compile_rules
from ruleatlas.engine.values import scalar_text
from ruleatlas.model import All, Any, Kind, Pred, Ref, Rule, SourceRef, Stage

ROOT = Path(__file__).resolve().parents[1]

CMD = (
    r'"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass '
    r"-Command \"& {Get-ChildItem -Path C:\Users\alice\AppData\Local\Temp -Filter *.tmp | Remove-Item}\""
)
HIT = {
    "EventID": 1,
    "Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    "CommandLine": CMD + " -enc SQBFAFgA",
    "ParentImage": r"C:\Windows\explorer.exe",
    "User": "CORP\\alice",
    "DestinationIp": "10.20.30.40",
    "IntegrityLevel": "High",
}
MISS = {**HIT, "Image": r"C:\Program Files\App\app.exe", "CommandLine": CMD, "DestinationIp": "8.8.8.8"}


def p(field: str | None, kind: str, value: object, **kw: object) -> Pred:
    return Pred(field, Kind(kind), value, **kw)  # type: ignore[arg-type]


def rule_of(expr: object) -> CompiledRule:
    rule = Rule(
        uid="bench/r",
        vendor="sigma",
        language="sigma",
        source=SourceRef("bench", "bench.yml"),
        folder="rules",
        stages=[Stage(0, "condition", "condition", "", Ref("sel")), Stage(1, "sel", "search", "", expr)],  # type: ignore[arg-type]
    )
    compiled = compile_rules([rule])
    assert not compiled.problems, compiled.problems
    return compiled.rules[0]


IMAGES = [
    rf"\{name}.exe"
    for name in (
        "powershell",
        "pwsh",
        "cmd",
        "wscript",
        "cscript",
        "mshta",
        "rundll32",
        "regsvr32",
        "certutil",
        "bitsadmin",
        "msbuild",
        "installutil",
    )
]
CASES: list[tuple[str, object]] = [
    ("eq number (EventID: 1)", p("EventID", "eq", 1)),
    ("eq string", p("IntegrityLevel", "eq", "high")),
    ("endswith, 12 values", Any(tuple(p("Image", "ends_with", v) for v in IMAGES))),
    ("startswith", p("ParentImage", "starts_with", "C:\\Windows\\")),
    ("contains", p("CommandLine", "contains", " -enc ")),
    (
        "contains, 8 values",
        Any(
            tuple(
                p("CommandLine", "contains", v)
                for v in (
                    " -e ",
                    " -en ",
                    " -enc ",
                    " -enco ",
                    "frombase64",
                    "iex(",
                    "invoke-",
                    "downloadstring",
                )
            )
        ),
    ),
    (
        "contains|all, 3 values",
        All(tuple(p("CommandLine", "contains", v) for v in ("-noprofile", "bypass", "-enc"))),
    ),
    ("contains|cased", p("CommandLine", "contains", "-NoProfile", cased=True)),
    ("wildcard a*b?c", p("Image", "wildcard", r"C:\Windows\\*\power?hell.exe")),
    ("windash contains", p("CommandLine", "contains", " -enc ", transforms=("windash",))),
    ("base64offset contains", p("CommandLine", "contains", "IEX", transforms=("utf16le", "base64offset"))),
    ("regex", p("CommandLine", "regex", r"-[Ee]nc(odedCommand)?\s+[A-Za-z0-9+/=]{8,}")),
    ("regex guarded (nested)", p("CommandLine", "regex", r"(\w+\s?)+enc")),
    (
        "cidr, 3 networks",
        Any(tuple(p("DestinationIp", "cidr", c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))),
    ),
    ("fieldref", p("ParentImage", "fieldref", "Image")),
    ("null", p("OriginalFileName", "eq", None)),
    ("keyword", p(None, "contains", "downloadstring")),
    (
        "selection: 3 fields and-ed",
        All(
            (
                p("EventID", "eq", 1),
                Any(tuple(p("Image", "ends_with", v) for v in IMAGES)),
                p("CommandLine", "contains", " -enc "),
            )
        ),
    ),
]


def rate(fn: Callable[[], object], seconds: float) -> float:
    calls = 0
    batch = 1000
    start = time.process_time()
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return calls / elapsed


def micro(seconds: float) -> None:
    print(f"{'predicate':<30} {'hit/s':>12} {'miss/s':>12}   (one fresh cache per call)")
    for label, expr in CASES:
        rule = rule_of(expr)
        hit, miss = HIT, MISS
        results = (rule.match(hit), rule.match(miss))
        hit_rate = rate(lambda r=rule, e=hit: r.match(e, {}), seconds)
        miss_rate = rate(lambda r=rule, e=miss: r.match(e, {}), seconds)
        print(f"{label:<30} {hit_rate:12,.0f} {miss_rate:12,.0f}   answers {results}")


# Sysmon EventID -> Sigma category (the part of pySigma's sysmon pipeline the samples need)
SYSMON = {
    1: "process_creation",
    3: "network_connection",
    5: "process_termination",
    6: "driver_load",
    7: "image_load",
    8: "create_remote_thread",
    10: "process_access",
    11: "file_event",
    12: "registry_add",
    13: "registry_set",
    14: "registry_rename",
    15: "create_stream_hash",
    17: "pipe_created",
    18: "pipe_created",
    22: "dns_query",
    23: "file_delete",
    26: "file_delete",
}
REGISTRY = {"registry_add", "registry_set", "registry_rename", "registry_delete"}


def _events(root: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(root.rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        decoder, pos = json.JSONDecoder(), 0
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            doc, pos = decoder.raw_decode(text, pos)
            event = doc.get("Event", doc)
            fields: dict[str, object] = {}
            for key, value in event.get("System", {}).items():
                if isinstance(value, dict):
                    fields.update({f"{key}_{k}": v for k, v in value.get("#attributes", {}).items()})
                else:
                    fields[key] = value
            data = event.get("EventData")
            if isinstance(data, dict):
                fields.update({k.replace(" ", ""): v for k, v in data.items() if k != "#attributes"})
            out.append(fields)
    return out


def _text(fields: dict[str, object]) -> str:
    parts = []
    stack = list(fields.values())
    while stack:
        value = stack.pop()
        if isinstance(value, dict | list):
            stack.extend(value.values() if isinstance(value, dict) else value)
        elif (t := scalar_text(value)) is not None:
            parts.append(t)
    return "\x00".join(parts).casefold()


def corpus(shared: Path, seconds: float) -> None:
    from ruleatlas.sources.sigma import read_sigma_tree

    sigma = shared / "corpus" / "sigma"
    start = time.process_time()
    parsed = read_sigma_tree(sigma)
    parse_s = time.process_time() - start
    start = time.process_time()
    compiled = compile_rules(parsed.rules)
    compile_s = time.process_time() - start
    rules = compiled.rules
    no_literals = sum(1 for r in rules if r.required_literals is None)
    print(
        f"\nSigmaHQ: {len(parsed.rules)} rules parsed in {parse_s:.2f} s; {len(rules)} compiled in "
        f"{compile_s:.2f} s ({1000 * compile_s / max(1, len(rules)):.2f} ms/rule); "
        f"{len(compiled.problems)} problems; {no_literals} rules without required literals"
    )
    events = _events(sigma / "regression_data")
    if not events:
        return
    # raw throughput: every rule on every event
    start = time.process_time()
    evaluations = hits = 0
    while time.process_time() - start < seconds * 5:
        for event in events:
            cache: dict[object, object] = {}
            for rule in rules:
                hits += rule.match(event, cache)
            evaluations += len(rules)
    elapsed = time.process_time() - start
    print(
        f"all rules x {len(events)} regression events: {evaluations / elapsed:,.0f} rule evaluations/s "
        f"({hits} matches)"
    )
    # routed + prefiltered candidates, matching only
    by_category: dict[str, list[CompiledRule]] = {}
    for rule in rules:
        if rule.logsource.get("product") == "windows" and rule.logsource.get("category"):
            by_category.setdefault(rule.logsource["category"], []).append(rule)
    work = []
    routed = candidates = 0
    for event in events:
        if event.get("Channel") != "Microsoft-Windows-Sysmon/Operational":
            continue
        category = SYSMON.get(event.get("EventID"))  # type: ignore[arg-type]
        pool = [
            r
            for c in ({category} | (REGISTRY if category in REGISTRY else set()))
            for r in by_category.get(c, [])
        ]
        text = _text(event)
        chosen = [
            r for r in pool if r.required_literals is None or any(lit in text for lit in r.required_literals)
        ]
        routed += len(pool)
        candidates += len(chosen)
        work.append((event, chosen))
    start = time.process_time()
    done = 0
    while time.process_time() - start < seconds * 5:
        for event, chosen in work:
            cache = {}
            for rule in chosen:
                rule.match(event, cache)
        done += len(work)
    elapsed = time.process_time() - start
    print(
        f"Sysmon samples: {len(work)} events, {routed / len(work):.0f} routed rules/event, "
        f"{candidates / len(work):.1f} prefilter candidates/event -> matching {done / elapsed:,.0f} events/s"
    )
    start = time.process_time()
    done = 0
    while time.process_time() - start < seconds * 5:
        for event, _chosen in work:
            cache = {}
            pool = by_category.get(SYSMON.get(event.get("EventID")), [])  # type: ignore[arg-type]
            for rule in pool:
                rule.match(event, cache)
        done += len(work)
    elapsed = time.process_time() - start
    print(f"  same events, routing only (no prefilter): matching {done / elapsed:,.0f} events/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--seconds", type=float, default=0.3, help="time per figure")
    args = parser.parse_args()
    micro(args.seconds)
    if (args.shared / "corpus" / "sigma").is_dir():
        corpus(args.shared, args.seconds)
    else:
        print(f"\n(no corpus at {args.shared}: corpus figures skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
