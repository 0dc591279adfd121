"""Builders shared by the correlation tests: hand-made rules and events, and a feed loop."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ruleatlas.engine.correlate import CorrelationAlert, Correlator
from ruleatlas.engine.correlate_rules import parse_timespan
from ruleatlas.logs.event import Event
from ruleatlas.model import Correlation, Rule, RuleKind, Scalar, SourceRef

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
_records = itertools.count(1)


def base(
    name: str, *, rule_id: str = "", path: str = "rules/corr.yml", repo: str = "", title: str = ""
) -> Rule:
    return Rule(
        uid=f"test/{path}/{name or rule_id}",
        vendor="sigma",
        language="sigma",
        source=SourceRef(repo, path),
        folder="rules",
        id=rule_id,
        name=name,
        title=title or name,
        level="low",
    )


def corr(
    ctype: str,
    rules: Iterable[str],
    *,
    name: str = "",
    rule_id: str = "",
    group_by: Iterable[str] = ("User",),
    timespan: str = "5m",
    condition: dict[str, Scalar | list[Scalar]] | None = None,
    aliases: dict[str, dict[str, str]] | None = None,
    generate: bool = False,
    path: str = "rules/corr.yml",
    uid: str = "",
    line: int = 1,
) -> Rule:
    return Rule(
        uid=uid or f"test/{path}/{name or rule_id or ctype}",
        vendor="sigma",
        language="sigma",
        source=SourceRef("", path),
        folder="rules",
        id=rule_id,
        name=name,
        title=f"correlation {name or ctype}",
        level="high",
        kind=RuleKind.CORRELATION,
        correlation=Correlation(
            type=ctype,
            rules=tuple(rules),
            group_by=tuple(group_by),
            timespan=timespan,
            timespan_seconds=parse_timespan(timespan),
            condition=dict(condition or {}),
            aliases=dict(aliases or {}),
            generate=generate,
        ),
        line=line,
    )


def ev(seconds: float, *, file: str = "log.evtx", record: int | None = -1, **fields: object) -> Event:
    """An event `seconds` after T0; record -1 means 'the next record number'."""
    number = next(_records) if record == -1 else record
    return Event(dict(fields), file, number, T0 + timedelta(seconds=seconds))


def feed_all(correlator: Correlator, matches: Iterable[tuple[Rule, Event]]) -> list[CorrelationAlert]:
    alerts: list[CorrelationAlert] = []
    for rule, event in matches:
        alerts.extend(correlator.feed(rule, event))
    alerts.extend(correlator.flush())
    return alerts


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def errors(correlator: Correlator) -> list[str]:
    return [p.message for p in correlator.problems if p.severity == "error"]


def skip_counts(correlator: Correlator) -> dict[str, int]:
    return {skip.reason: skip.count for skip in correlator.skips}
