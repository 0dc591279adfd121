"""Sigma filter documents: their condition is AND-ed onto the rules they name (pySigma 1.5.1 filters.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ruleatlas.engine.matchers import Matcher
from ruleatlas.engine.strings import all_of
from ruleatlas.model import Problem, Rule

if TYPE_CHECKING:
    from ruleatlas.engine.compile import CompiledRule


def apply_filter(rule: Rule, condition: Matcher, targets: list[CompiledRule]) -> list[Problem]:
    """AND a filter's compiled condition onto the rules it names, as pySigma's SigmaFilter.apply_on_rule.

    A rule is a target when the filter's logsource contains the rule's (each of category, product and
    service the filter sets is equal in the rule) and the filter lists the rule by id or name, or lists
    `any` (or nothing). Correlation rules are never filtered (they are not among `targets`). Returns a
    warning for each listed rule the filter does not apply to, saying why.
    """
    assert rule.filter is not None
    problems: list[Problem] = []
    refs = [ref.strip() for ref in rule.filter.rules if ref.strip()]
    any_rule = not refs or (len(refs) == 1 and refs[0].lower() == "any")
    wanted = [_ref_key(ref) for ref in refs] if not any_rule else []
    found: set[int] = set()
    outside: set[int] = set()
    for compiled in targets:
        hits = [i for i, key in enumerate(wanted) if key in _rule_keys(compiled.rule)]
        if not any_rule and not hits:
            continue
        if not _logsource_contains(rule.logsource, compiled.rule.logsource):
            outside.update(hits)
            continue
        found.update(hits)
        compiled.set_matcher(all_of([compiled.matcher, condition]))
        compiled.filters = (*compiled.filters, rule.uid)
    for index, ref in enumerate(refs if not any_rule else []):
        if index in found:
            continue
        reason = (
            "its logsource is not within the filter's logsource"
            if index in outside
            else "no compiled rule has this id or name"
        )
        problems.append(
            Problem(
                file=rule.source.path,
                message=f"filter {rule.uid} names rule '{ref}', which it does not apply to: {reason}",
                line=rule.line,
                severity="warning",
                rule_uid=rule.uid,
            )
        )
    return problems


def _ref_key(ref: str) -> tuple[str, object]:
    try:
        return ("id", uuid.UUID(ref))
    except ValueError:
        return ("name", ref)


def _rule_keys(rule: Rule) -> set[tuple[str, object]]:
    keys: set[tuple[str, object]] = set()
    if rule.id:
        with contextlib.suppress(ValueError):
            keys.add(("id", uuid.UUID(rule.id)))
    if rule.name:
        keys.add(("name", rule.name))
    return keys


def _logsource_contains(outer: Mapping[str, str], inner: Mapping[str, str]) -> bool:
    return all(
        outer.get(key) is None or outer.get(key) == inner.get(key)
        for key in ("category", "product", "service")
    )
