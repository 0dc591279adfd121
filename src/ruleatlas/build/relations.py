"""The build's relations pass, after the rules are stored: Sigma's `related:` links and siblings, the samples
each Sigma rule fires on, and each Sigma rule converted by pySigma's backends (`store/deploy.py` keeps them).

Conversions and fires-on results are cached under the catalog folder's `cache/` (by rule text and backend
versions; by rule text and sample content), so a rebuild converts and scans only what changed.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ruleatlas import __version__
from ruleatlas.analysis import deploy, related
from ruleatlas.engine.compile import RUNNABLE_KINDS
from ruleatlas.engine.fires_on import FiresCache, RuleToRun, Sample, engine_key, fires_on, list_samples
from ruleatlas.model import Rule
from ruleatlas.output import atomic
from ruleatlas.sources.sigma import parse_file
from ruleatlas.store import deploy as deploy_store
from ruleatlas.workers import forked_pool

SIGMA_LANGUAGE = "sigma"
CONVERSIONS_CACHE = "conversions.json"
FIRES_CACHE = "fires_on.json"
REGRESSION_FOLDER = "regression_data"  # SigmaHQ's samples, one folder per rule, beside its rule folders
# Rules the fires-on pass runs: what the engine runs alone (correlations need other rules over time).
FIRES_KINDS = frozenset(kind.value for kind in RUNNABLE_KINDS)


@dataclass(slots=True)
class RelationsSummary:
    links: int = 0
    conversions_cached: int = 0
    conversions_run: int = 0  # rules converted by the backends in this pass
    fires_scans: int = 0  # engine runs over samples in this pass (0: all from the cache)
    fires_rules_scanned: int = 0
    samples: int = 0
    changed: set[str] = field(default_factory=set)  # rules whose relations changed: their pages to render
    cpu: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "links": self.links,
            "conversions_run": self.conversions_run,
            "conversions_cached": self.conversions_cached,
            "fires_scans": self.fires_scans,
            "fires_rules_scanned": self.fires_rules_scanned,
            "samples": self.samples,
            "pages_changed": len(self.changed),
            **{f"cpu_ms_{name}": round(seconds * 1000) for name, seconds in self.cpu.items()},
        }


def _cpu() -> float:
    """CPU seconds of this process and of its finished workers (the pools' processes are joined)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sample_roots(samples: Path | None, sigma_checkouts: Sequence[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """The log samples (`--samples`) and every Sigma checkout's regression data."""
    roots = [] if samples is None else [(samples.name or "samples", samples)]
    for name, path in sigma_checkouts:
        if (path / REGRESSION_FOLDER).is_dir():
            roots.append((f"{name}/{REGRESSION_FOLDER}", path / REGRESSION_FOLDER))
    return roots


def relate(
    catalog: Path,
    cache_dir: Path,
    roots: Sequence[tuple[str, Path]],
    *,
    jobs: int = 1,
    log: TextIO | None = None,
    convert: bool = True,
) -> RelationsSummary:
    """Compute and store every rule's relations in `catalog` (a catalog file the build just wrote)."""
    summary = RelationsSummary()
    db = sqlite3.connect(catalog)
    try:
        clock = _cpu()
        rules = deploy_store.stored_rules(db)
        summary.cpu["read"] = _cpu() - clock
        clock = _cpu()
        links = related.rule_links(
            [related.facts_of(r.uid, r.source, r.rule_id, r.title, r.logsource, r.related) for r in rules]
        )
        summary.links = sum(len(v) for v in links.values())
        summary.cpu["related"] = _cpu() - clock
        sigma = [r for r in rules if r.language == SIGMA_LANGUAGE]
        clock = _cpu()
        conversions = _conversions(sigma, cache_dir, jobs, summary) if convert else {}
        summary.cpu["deploy"] = _cpu() - clock
        clock = _cpu()
        checked, fired = _fires(sigma, cache_dir, roots, jobs, summary)
        summary.cpu["fires_on"] = _cpu() - clock
        clock = _cpu()
        summary.changed = deploy_store.replace(
            db, {uid: [link.to_json() for link in v] for uid, v in links.items()}, conversions, checked, fired
        )
        summary.cpu["write"] = _cpu() - clock
    finally:
        db.close()
    if log is not None:
        log.write(
            f"relations: {summary.links} links; conversions {summary.conversions_run} run, "
            f"{summary.conversions_cached} cached; fires-on {summary.fires_scans} scans over "
            f"{summary.samples} samples\n"
        )
    return summary


# -- deploy as ----------------------------------------------------------------------------------------------

# Conversions this process has made or read, by (backend versions, rule key): a second build in one process
# (tests, a server that rebuilds) converts nothing twice even into a fresh output folder. Forked workers
# inherit it.
_MEMO: dict[tuple[str, str], list[dict[str, str]]] = {}


def _correlated_bodies(rule: deploy_store.StoredRule, by_ref: dict[str, str]) -> tuple[str, ...]:
    """The documents a correlation refers to (by id or name), so that backends can resolve them."""
    return tuple(by_ref[ref] for ref in rule.correlation_rules if ref in by_ref)


def _conversions(
    rules: Sequence[deploy_store.StoredRule], cache_dir: Path, jobs: int, summary: RelationsSummary
) -> dict[str, list[dict[str, str]]]:
    versions = deploy.versions_key()
    cache_file = cache_dir / CONVERSIONS_CACHE
    cached: dict[str, Any] = {}
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
        if data.get("versions") == versions:
            cached = data["items"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        cached = {}  # missing or damaged: converted again
    by_ref: dict[str, str] = {}
    for r in rules:
        for ref in (r.rule_id, r.name):
            if ref:
                by_ref.setdefault(ref, r.body)
    keyed = []
    for r in rules:
        extra = _correlated_bodies(r, by_ref)
        keyed.append((r.uid, deploy.conversion_key("\n---\n".join([r.body, *extra])), r.body, extra))
    for key, value in cached.items():
        _MEMO.setdefault((versions, key), value)
    todo = {key: (body, extra) for _, key, body, extra in keyed if (versions, key) not in _MEMO}
    summary.conversions_run = len(todo)
    summary.conversions_cached = len(keyed) - len(todo)
    items = [(key, body, extra) for key, (body, extra) in todo.items()]
    fresh: dict[str, Any] = {}
    if jobs <= 1 or len(items) < 50:
        fresh.update(deploy.convert_batch(items))
    else:
        size = max(10, len(items) // (jobs * 8))
        with forked_pool(jobs) as pool:
            futures = [
                pool.submit(deploy.convert_batch, items[i : i + size]) for i in range(0, len(items), size)
            ]
            for fut in futures:
                fresh.update(fut.result())
    for key, value in fresh.items():
        _MEMO[(versions, key)] = value
    # Only this catalog's rules are kept: the cache does not grow with every edit.
    kept = {key: _MEMO[(versions, key)] for _, key, _, _ in keyed}
    if fresh or set(kept) != set(cached):
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(cache_file, json.dumps({"versions": versions, "items": kept}))
    return {uid: kept[key] for uid, key, _, _ in keyed}


# -- fires on -----------------------------------------------------------------------------------------------


def _rule_from_body(uid: str, body: str) -> Rule | None:
    rules, _ = parse_file(body, uid, "", repo_url="", commit="", companions={})
    if len(rules) != 1:
        return None
    rules[0].uid = uid  # the catalog's uid (made unique across files), which matches report
    return rules[0]


def _fires(
    rules: Sequence[deploy_store.StoredRule],
    cache_dir: Path,
    roots: Sequence[tuple[str, Path]],
    jobs: int,
    summary: RelationsSummary,
) -> tuple[dict[str, int], dict[str, dict[str, list[int]]]]:
    runnable = [r for r in rules if r.kind in FIRES_KINDS and not r.correlation_rules and not r.is_filter]
    regression = frozenset(label for label, _ in roots if label.endswith(REGRESSION_FOLDER))
    samples: list[Sample] = list_samples(roots, evtx_only=regression)
    summary.samples = len(samples)
    if not samples:
        return {}, {}
    engine = engine_key(__version__)
    cache_file = cache_dir / FIRES_CACHE
    cache = FiresCache.load(cache_file, engine)
    keys = {r.uid: hashlib.sha256(r.body.encode("utf-8", "surrogateescape")).hexdigest() for r in runnable}
    # Rules are parsed again only when they have to run (a new rule, or new samples for old ones).
    new_samples = any(s.content_hash not in cache.samples for s in samples)
    to_run = []
    for r in runnable:
        key = keys[r.uid]
        if key in cache.rules and not new_samples:
            to_run.append(RuleToRun(key, r.uid, None))
            continue
        parsed = _rule_from_body(r.uid, r.body)
        if parsed is not None:
            to_run.append(RuleToRun(key, r.uid, parsed))
    result = fires_on(to_run, samples, cache, workers=jobs)
    summary.fires_scans = result.scans
    summary.fires_rules_scanned = result.rules_scanned
    if result.scans or result.cache.rules != cache.rules or result.cache.samples != cache.samples:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(cache_file, result.cache.to_json())
    ran = {r.uid: r.key for r in to_run}
    checked = {uid: len(samples) for uid in ran}
    fired = {uid: result.fired[key] for uid, key in ran.items() if key in result.fired}
    return checked, fired
