"""`ruleatlas coverage` as a terminal table: coverage per tactic, then the gaps grouped by tactic."""

from __future__ import annotations

from ruleatlas.analysis.coverage_matrix import CoverageSummary


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "-"


def _row(name: str, techniques: int, covered: int, subs: int, subs_covered: int, rules: int | str) -> str:
    share = _percent(covered, techniques) if isinstance(techniques, int) else ""
    return f"{name:<34} {techniques:>10} {covered:>8} {share:>5}  {subs:>10} {subs_covered:>8}  {rules:>6}"


def render_coverage_table(summary: CoverageSummary) -> str:
    """`summary`: `ruleatlas.analysis.coverage.coverage_summary()`."""
    filters = summary["filters"]
    shown = [f"{name} {', '.join(v) if isinstance(v, list) else v}" for name, v in filters.items() if v]
    left_out = ", ".join(f"{n} {reason}" for reason, n in summary["left_out"].items()) or "none"
    lines = [
        f"ATT&CK {summary['attack_version']} coverage"
        + (f" ({'; '.join(shown)})" if shown else "")
        + f": {summary['rules_counted']:,} detection rules counted",
        f"left out: {left_out} rules that name techniques"
        + (f"; {summary['filtered_out']:,} rules filtered out" if summary["filtered_out"] else ""),
        "",
    ]
    header = f"{'tactic':<34} {'techniques':>10} {'covered':>8} {'':>5}  {'sub-techn.':>10} {'covered':>8}  "
    header += f"{'rules':>6}"
    lines += [header, "-" * len(header)]
    for t in summary["tactics"]:
        name = f"{t['id']} {t['name']}"
        lines.append(
            _row(
                name,
                t["techniques"],
                t["covered"],
                t["subtechniques"],
                t["subtechniques_covered"],
                t["rules"],
            )
        )
    parents = [t for t in summary["techniques"] if not t["is_subtechnique"]]
    subs = [t for t in summary["techniques"] if t["is_subtechnique"]]
    covered = sum(1 for t in parents if t["rules"])
    sub_covered = sum(1 for t in subs if t["rules"])
    lines.append("-" * len(header))
    lines.append(
        _row(
            "all tactics (distinct)", len(parents), covered, len(subs), sub_covered, summary["rules_counted"]
        )
    )
    gaps = summary["gaps"]
    lines += ["", f"Gaps: {len(gaps)} techniques and sub-techniques with no rule"]
    names = {t["id"]: t["name"] for t in summary["tactics"]}
    for tactic_id, tactic_name in names.items():
        here = [g for g in gaps if tactic_id in g["tactics"]]
        if here:
            lines.append(f"  {tactic_id} {tactic_name} ({len(here)})")
            lines += [f"    {g['id']:<10} {g['name']}" for g in here]
    if summary["retired"]:
        lines += ["", "Retired techniques still tagged:"]
        for r in summary["retired"]:
            where = f"counted under {r['replaced_by']}" if r["replaced_by"] else "counted nowhere"
            # A moved id says where it went ("moved to T1685 in v19 (by name)"); the others their state.
            state = r["note"] if r["status"] == "moved" else r["status"]
            lines.append(f"  {r['id']:<10} {r['name']} ({state}, {r['rules']} rules): {where}")
    return "\n".join(lines) + "\n"
