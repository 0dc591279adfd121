"""Where the scanner's prefilter spends its time, per kind of event (Channel, EventID) of ../shared/logs.

    .venv/bin/python bench/scan_buckets.py            # the 8 kinds that cost the prefilter most
    .venv/bin/python bench/scan_buckets.py --top 20 --passes 7

SigmaHQ's rules (as bench/scan.py reads them) over every EVTX record of ../shared/logs, parsed once. After
a warm-up pass (automata and plans built), each step of `Prefilter.select` is timed on its own over the
events of each kind, best of `--passes` passes (CPU time, process_time): the plan lookup (`Scanner._plan`),
building the folded text, the automaton search (`found`), the literal hits with the further-requirement
checks (`hits`, the search included) and the whole `select`. Printed per kind: events, share of all
events and of the prefilter's time, automaton literals (summed over the automata of a plan that searches
field by field) and automaton passes per event, text length, literals found (occurrences and distinct),
rules hit before and after the further-requirement checks, and the microseconds per event of
each step. The machine is shared: the figures move with its load (printed); compare within one run.
Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scan import evtx_files, load_compiled


def best_us(step: Callable[[object], object], items: Sequence[object], passes: int) -> float:
    best = float("inf")
    for _ in range(passes):
        start = time.process_time()
        for item in items:
            step(item)
        best = min(best, time.process_time() - start)
    return best / max(len(items), 1) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--top", type=int, default=8, help="how many kinds of event to print")
    parser.add_argument("--passes", type=int, default=5, help="timed passes per step (the best is kept)")
    args = parser.parse_args()

    from ruleatlas.engine.fieldmap import with_audit_aliases
    from ruleatlas.engine.prefilter import _split_text, values_text
    from ruleatlas.engine.scan import Scanner
    from ruleatlas.logs.event import InputProblem
    from ruleatlas.logs.readers import read_events

    compiled, info = load_compiled()
    problems: list[InputProblem] = []
    events = [with_audit_aliases(e.fields) for e in read_events(evtx_files(), problems=problems)]
    scanner = Scanner(compiled)  # type: ignore[arg-type]
    print(
        f"{info['rules_compiled']} rules, {len(events):,} events; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    by_kind: dict[tuple[object, object], list[dict[str, object]]] = defaultdict(list)
    for fields in events:
        by_kind[(fields.get("Channel"), fields.get("EventID"))].append(fields)
    for fields in events:  # warm-up: buckets, plans and automata built
        bucket, plan = scanner._plan(fields)
        bucket.select(plan, fields)

    def passes_of(item: tuple[dict[str, object], object, object]) -> list[tuple[object, str]]:
        """The automaton passes of one event: (automaton, folded text) each; one pass, or one per field
        group when the plan searches field by field (`Plan.groups`)."""
        fields, _bucket, plan = item
        literal_set = plan.literal_set  # type: ignore[attr-defined]
        if literal_set is None:
            return []
        parts = (
            [(g.search, g.split, g.values, g.numeric) for g in plan.groups]  # type: ignore[attr-defined]
            if plan.groups is not None  # type: ignore[attr-defined]
            else [(literal_set.search, plan.split, plan.values, literal_set.numeric)]  # type: ignore[attr-defined]
        )
        out: list[tuple[object, str]] = []
        for search, split, values, numeric in parts:
            text = _split_text(split, fields, numeric) if split is not None else None
            out.append((search, text if text is not None else values_text(values(fields))))
        return out

    def found_of(passes: list[tuple[object, str]]) -> set[str]:
        return {literal for search, text in passes for literal in search.occurrences(text)}  # type: ignore[attr-defined]

    select_us = {
        kind: best_us(lambda f: scanner._plan(f)[0].select(scanner._plan(f)[1], f), group, 1)  # type: ignore[arg-type]
        for kind, group in by_kind.items()
    }
    weight = {kind: select_us[kind] * len(by_kind[kind]) for kind in by_kind}
    total = sum(weight.values()) or 1.0
    print(
        f"{'Channel, EventID':<52}{'events':>7}{'ev%':>6}{'pf%':>6}{'lits':>7}{'pass':>5}{'text':>6}"
        f"{'found':>11}{'rules':>9}{'plan':>7}{'text':>7}{'found':>7}{'hits':>7}{'select':>8}  (µs/event)"
    )
    for kind in sorted(weight, key=weight.__getitem__, reverse=True)[: args.top]:
        group = by_kind[kind]
        items = [(fields, *scanner._plan(fields)) for fields in group]
        passes = [passes_of(item) for item in items]  # type: ignore[arg-type]
        # events of one kind may differ in field names, hence in plan and automata: each with its own
        searched = [(p, item[2].literal_set) for p, item in zip(passes, items, strict=True) if p]
        name = f"{kind[0]}, {kind[1]}"[:50]
        if not searched:
            print(f"{name:<52}{len(group):>7}  (no literal search)")
            continue
        raw = sum(len(search.occurrences(text)) for p, _ls in searched for search, text in p)  # type: ignore[attr-defined]
        founds = [(found_of(p), ls) for p, ls in searched]
        distinct = sum(len(f) for f, _ls in founds)
        hit_before = sum(len(set().union(*map(ls.rules_of.__getitem__, f))) for f, ls in founds)
        hit_after = sum(len(ls.hits_of(f)) for f, ls in founds)
        n = len(searched)
        chars = sum(len(t) for p, _ls in searched for _s, t in p) // n
        literals = sum(len(search.literals) for search, _text in searched[0][0])  # type: ignore[attr-defined]
        plan_us = best_us(lambda item: scanner._plan(item[0]), items, args.passes)  # type: ignore[index]
        text_us = best_us(passes_of, items, args.passes)  # type: ignore[arg-type]
        found_us = best_us(lambda pair: found_of(pair[0]), searched, args.passes)  # type: ignore[index]
        hits_us = best_us(lambda pair: pair[1].hits_of(found_of(pair[0])), searched, args.passes)  # type: ignore[index]
        whole_us = best_us(lambda item: item[1].select(item[2], item[0]), items, args.passes)  # type: ignore[index]
        print(
            f"{name:<52}{len(group):>7}{len(group) / len(events) * 100:>6.1f}"
            f"{weight[kind] / total * 100:>6.1f}"
            f"{literals:>7}{len(searched[0][0]):>5}{chars:>6}"
            f"{raw / n:>6.0f}/{distinct / n:<4.0f}{hit_before / n:>5.0f}/{hit_after / n:<3.0f}"
            f"{plan_us:>7.1f}{text_us:>7.1f}{found_us:>7.1f}{hits_us:>7.1f}{whole_us:>8.1f}",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
