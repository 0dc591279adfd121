"""The build's relations pass, after the rules are stored: Sigma's `related:` links and siblings, the samples
each Sigma rule fires on, and each Sigma rule converted by pySigma's backends (`store/deploy.py` keeps them).

Conversions and fires-on results are cached under the catalog folder's `cache/` (by rule text and backend
versions; by rule text and sample content), so a rebuild converts and scans only what changed. A build with
many rules to convert or scan starts both on worker processes before the store step (`start_relations`):
they need only the rules' texts, and run while the parent writes the catalog; this pass collects them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import resource
import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from ruleatlas import __version__
from ruleatlas.analysis import deploy, related
from ruleatlas.analysis.document import DeployDoc
from ruleatlas.analysis.rows import RuleRow
from ruleatlas.build.relation_cache import RelationCache
from ruleatlas.engine.compile import RUNNABLE_KINDS
from ruleatlas.engine.fires_on import FiresCache, RuleToRun, Sample, engine_key, fires_on, list_samples
from ruleatlas.model import Rule
from ruleatlas.output import atomic
from ruleatlas.sources.sigma import parse_file
from ruleatlas.store import deploy as deploy_store
from ruleatlas.workers import forked_pool, kill, new_pool

SIGMA_LANGUAGE = "sigma"
CONVERSIONS_CACHE = "conversions.json"
FIRES_CACHE = "fires_on.json"
REGRESSION_FOLDER = "regression_data"  # SigmaHQ's samples, one folder per rule, beside its rule folders
# Fewer conversions than this are left to the relations pass (a pool costs more than it saves).
EARLY_LEAST = 50
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
    changed: Collection[str] | None = None,
    early: EarlyRelations | None = None,
) -> RelationsSummary:
    """Compute and store every rule's relations in `catalog` (a catalog file the build just wrote).

    `changed`: the rules the build deleted or wrote since the catalog's relations were last computed (an
    incremental build's patch); only their documents are read, and only their conversions and fires-on
    rows (and the links of every rule, which are cheap) are recomputed. None: every rule's.
    `early`: the conversions and scan `start_relations` began before the catalog was stored."""
    summary = RelationsSummary()
    db = sqlite3.connect(catalog)
    try:
        with RelationCache.open(cache_dir) as cache:
            _relate(db, cache, cache_dir, roots, jobs, convert, changed, summary, early)
    finally:
        db.close()
    if log is not None:
        log.write(
            f"relations: {summary.links} links; conversions {summary.conversions_run} run, "
            f"{summary.conversions_cached} cached; fires-on {summary.fires_scans} scans over "
            f"{summary.samples} samples\n"
        )
    return summary


def _relate(
    db: sqlite3.Connection,
    cache: RelationCache,
    cache_dir: Path,
    roots: Sequence[tuple[str, Path]],
    jobs: int,
    convert: bool,
    changed: Collection[str] | None,
    summary: RelationsSummary,
    early: EarlyRelations | None,
) -> None:
    deploy_store.ensure_tables(db)
    clock = _cpu()
    inputs, dirty, removed, old_refs, facts_moved = _read_inputs(db, cache, changed)
    summary.cpu["read"] = _cpu() - clock
    clock = _cpu()
    links: dict[str, list[related.Link]] | None = None
    if facts_moved:
        links = related.rule_links([_facts(i.rule) for i in inputs.values()])
        summary.links = sum(len(v) for v in links.values())
    summary.cpu["related"] = _cpu() - clock
    clock = _cpu()
    samples = _samples(cache, roots)
    samples_key = _samples_key(samples)
    fires_clock = _cpu() - clock
    # What the last pass ran with: other backends, another deploy setting or other samples redo every rule.
    state = deploy_store.relation_state(db)
    versions = deploy.versions_key() if convert else ""
    whole = dirty is None or state.get("versions") != versions or state.get("samples") != samples_key
    if whole and links is None:  # a pass over every rule rewrites every rule's links
        links = related.rule_links([_facts(i.rule) for i in inputs.values()])
        summary.links = sum(len(v) for v in links.values())
    scope: set[str] = set(inputs) | removed if whole or dirty is None else set(dirty)
    clock = _cpu()
    # other backend versions (or deploy-as turned on): every rule's text is converted again
    reconvert = state.get("versions") != versions
    conversions = (
        _conversions(db, inputs, scope, old_refs, versions, cache, jobs, summary, reconvert, early)
        if convert
        else {}
    )
    summary.cpu["deploy"] = _cpu() - clock
    clock = _cpu()
    checked, fired = _fires(db, inputs, scope, samples, cache_dir, jobs, summary, whole, early)
    summary.cpu["fires_on"] = _cpu() - clock + fires_clock
    if early is not None:
        # the early workers' CPU counts when they are joined: shown apart, with each part's own
        clock = _cpu()
        early.close()
        summary.cpu["early_workers"] = _cpu() - clock
        summary.cpu["early_deploy"] = early.cpu_deploy
        summary.cpu["early_fires_on"] = early.cpu_fires
    clock = _cpu()
    summary.changed = deploy_store.replace(
        db,
        None if links is None else {uid: [link.to_json() for link in v] for uid, v in links.items()},
        conversions,
        checked,
        fired,
        None if whole else scope,
    )
    # the inputs of the rules read again or converted again (all of them in a pass over every rule)
    deploy_store.replace_relation_inputs(
        db, removed, (i for uid, i in inputs.items() if uid in scope or i.rule.body)
    )
    deploy_store.set_relation_state(db, {"versions": versions, "samples": samples_key})
    db.commit()
    if links is None:
        summary.links = int(db.execute("SELECT COUNT(*) FROM rule_links").fetchone()[0])
    summary.cpu["write"] = _cpu() - clock


def _samples_key(samples: Sequence[Sample]) -> str:
    """The key of the samples' contents (with the engine's version): what the fires-on pass ran over."""
    return hashlib.sha256(
        json.dumps([engine_key(__version__), [(s.name, s.content_hash) for s in samples]]).encode()
    ).hexdigest()


def relations_current(
    catalog: sqlite3.Connection, cache_dir: Path, roots: Sequence[tuple[str, Path]], *, convert: bool
) -> bool:
    """Whether the relations `catalog` holds were computed from these samples and backends (a build in
    which no rule changed then has nothing to relate again)."""
    state = deploy_store.relation_state(catalog)
    if state.get("versions") != (deploy.versions_key() if convert else ""):
        return False
    with RelationCache.open(cache_dir) as cache:
        return state.get("samples") == _samples_key(_samples(cache, roots))


def _facts(rule: deploy_store.StoredRule) -> related.RuleFacts:
    """What a rule's related links are made of (`analysis/related.rule_links`)."""
    return related.facts_of(rule.uid, rule.source, rule.rule_id, rule.title, rule.logsource, rule.related)


def _read_inputs(
    db: sqlite3.Connection, cache: RelationCache, changed: Collection[str] | None
) -> tuple[dict[str, deploy_store.RelationInput], set[str] | None, set[str], set[str], bool]:
    """Every rule's relation inputs: the stored ones, with the documents of `changed` rules read again (all
    documents when `changed` is None or the stored inputs do not match the catalog's rules).

    Returns the inputs by uid, the rules read again (None: all), the rules gone since the last pass, the
    ids and names the rules read again had (a correlation naming one is converted again), and whether
    the related links can differ from the stored ones: every rule read again, a rule gone or new, or a
    rule read again whose facts (id, title, log source, `related:`, source) moved. Links are a function
    of every rule's facts alone, so when none moved the stored links are the links."""
    stored = deploy_store.relation_inputs(db)
    uids = {uid for (uid,) in db.execute("SELECT uid FROM rules")}
    if changed is not None:
        todo = set(changed) & uids
        if (set(stored) - set(changed)) | todo != uids:
            changed = None  # inputs of an older catalog, or of another pass: read every document
    if changed is None:
        todo = uids
    fresh = deploy_store.stored_rules(db, None if changed is None else todo)
    removed = set(stored) - uids
    inputs = {uid: i for uid, i in stored.items() if uid in uids and uid not in todo}
    runnable = {r.uid: r.body for r in fresh if _runnable(r)}
    fires_keys = cache.fires_keys(runnable)
    for r in fresh:
        inputs[r.uid] = deploy_store.RelationInput(r, "", fires_keys.get(r.uid, ""))
    # a rule read again carries its body until its conversion key is made (`_conversions`)
    ordered = dict(sorted(inputs.items()))
    old_refs = {
        ref
        for uid in (set(stored) if changed is None else set(changed))
        if uid in stored
        for ref in (stored[uid].rule.rule_id, stored[uid].rule.name)
        if ref
    }
    gone = removed | (set(changed or ()) - uids)
    facts_moved = (
        changed is None
        or bool(gone)
        or any(r.uid not in stored or _facts(stored[r.uid].rule) != _facts(r) for r in fresh)
    )
    return ordered, None if changed is None else todo | gone, gone, old_refs, facts_moved


def _runnable(rule: deploy_store.StoredRule) -> bool:
    """A rule the fires-on pass runs: a Sigma detection the engine runs alone."""
    return (
        rule.language == SIGMA_LANGUAGE
        and rule.kind in FIRES_KINDS
        and not rule.correlation_rules
        and not rule.is_filter
    )


# -- deploy as ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class EarlyRelations:
    """Conversions and the fires-on scan started on worker processes before the catalog is stored
    (`start_relations`), which the relations pass collects: the store step keeps one core busy, the
    workers fill the other."""

    pool: ProcessPoolExecutor | None
    futures: list[Future[tuple[list[tuple[str, list[DeployDoc]]], float]]]
    fires: Future[tuple[FiresCache, int, int, float]] | None = None
    cpu_deploy: float = 0.0  # the workers' own CPU seconds in each part
    cpu_fires: float = 0.0

    def collect(self) -> dict[str, list[DeployDoc]]:
        """Every conversion, by conversion key (waits for them)."""
        out: dict[str, list[DeployDoc]] = {}
        for future in self.futures:
            pairs, cpu = future.result()
            out.update(pairs)
            self.cpu_deploy += cpu
        self.futures = []
        return out

    def collect_fires(self) -> tuple[FiresCache, int, int] | None:
        """The scanned rules and samples as a fires-on cache, with the scans and rules scanned (waits)."""
        if self.fires is None:
            return None
        cache, scans, rules, cpu = self.fires.result()
        self.fires = None
        self.cpu_fires += cpu
        return cache, scans, rules

    def close(self) -> None:
        """Stop the workers: at once when work is still queued (the build failed before it used it)."""
        if self.pool is None:
            return
        if self.futures or self.fires is not None:
            kill(self.pool)
            self.futures, self.fires = [], None
        else:
            self.pool.shutdown()
        self.pool = None


def start_relations(
    rows: Iterable[RuleRow],
    cache_dir: Path,
    roots: Sequence[tuple[str, Path]],
    jobs: int,
    *,
    convert: bool = True,
) -> EarlyRelations | None:
    """Start converting the Sigma rules of `rows` (those a correlation does not refer from: their key is
    their text alone), and scanning the runnable ones over the samples under `roots`, on `jobs` forked
    workers while the caller goes on (the store step); the relations pass collects them. What this
    process or the cache holds is not done again. None when nothing is worth a pool: a serial build, or
    fewer than EARLY_LEAST rules to convert and to scan (the relations pass does those)."""
    if jobs <= 1:
        return None
    versions = deploy.versions_key()
    bodies: dict[str, str] = {}
    runnable: dict[str, str] = {}
    for row in rows:
        if row.vendor != SIGMA_LANGUAGE:
            continue
        doc = orjson.loads(row.doc_json)
        if doc.get("language") != SIGMA_LANGUAGE:
            continue
        body = doc.get("body") or ""
        if (doc.get("correlation") or {}).get("rules"):
            continue
        bodies.setdefault(deploy.conversion_key(body), body)
        if row.kind in FIRES_KINDS and doc.get("filter") is None:
            runnable[row.uid] = body
    todo = {key for key in bodies if (versions, key) not in _MEMO} if convert else set()
    if len(todo) < EARLY_LEAST and len(runnable) < EARLY_LEAST:
        return None  # a rebuild of a few rules: nothing to list or hash
    with RelationCache.open(cache_dir) as cache:
        if len(todo) >= EARLY_LEAST:
            for key, value in cache.conversions(versions, todo).items():
                _MEMO[(versions, key)] = value
        fires_items, samples = _fires_to_scan(cache, cache_dir, roots, runnable)
    items: list[tuple[str, str, tuple[str, ...]]] = [
        (key, bodies[key], ()) for key in sorted(todo) if (versions, key) not in _MEMO
    ]
    if len(items) < EARLY_LEAST:
        items = []
    if not items and not fires_items:
        return None
    if items:
        deploy.prepare_workers()  # the workers fork with the backends made
    pool = new_pool(jobs)
    early = EarlyRelations(pool, [])
    try:
        if fires_items:  # first: one worker scans while the others convert
            early.fires = pool.submit(_scan_early, fires_items, samples, engine_key(__version__))
        size = max(10, len(items) // (jobs * 8))
        early.futures = [pool.submit(_convert_early, items[i : i + size]) for i in range(0, len(items), size)]
    except BaseException:
        early.close()
        raise
    return early


def _fires_to_scan(
    cache: RelationCache, cache_dir: Path, roots: Sequence[tuple[str, Path]], runnable: dict[str, str]
) -> tuple[list[tuple[str, str, str]], list[Sample]]:
    """The (uid, body, fires-on key) of the runnable rules the fires-on cache does not answer for over
    the samples, and the samples; none when fewer than EARLY_LEAST."""
    samples = _samples(cache, roots)
    if not samples or len(runnable) < EARLY_LEAST:
        return [], samples
    keys = cache.fires_keys(runnable)
    known = FiresCache.load(cache_dir / FIRES_CACHE, engine_key(__version__))
    covered = {s.content_hash for s in samples} <= known.samples
    items = [
        (uid, body, keys[uid])
        for uid, body in runnable.items()
        if not covered or keys[uid] not in known.rules
    ]
    return (items if len(items) >= EARLY_LEAST else []), samples


def _samples(cache: RelationCache, roots: Sequence[tuple[str, Path]]) -> list[Sample]:
    regression = frozenset(label for label, _ in roots if label.endswith(REGRESSION_FOLDER))
    return list_samples(roots, evtx_only=regression, content_hash=cache.hasher())


def _convert_early(
    items: list[tuple[str, str, tuple[str, ...]]],
) -> tuple[list[tuple[str, list[DeployDoc]]], float]:
    """A worker's task: `deploy.convert_batch`, with the CPU seconds it took."""
    start = time.process_time()
    pairs = deploy.convert_batch(items)
    return pairs, time.process_time() - start


def _scan_early(
    items: list[tuple[str, str, str]], samples: list[Sample], engine: str
) -> tuple[FiresCache, int, int, float]:
    """A worker's task: the rules (uid, body, fires-on key) parsed and scanned over every sample, as a
    cache covering them, with the scans and rules scanned and the CPU seconds it took."""
    start = time.process_time()
    to_run = []
    for uid, body, key in items:
        rule = _rule_from_body(uid, body)
        if rule is not None:
            to_run.append(RuleToRun(key, uid, rule))
    result = fires_on(to_run, samples, FiresCache(engine), workers=1)
    return result.cache, result.scans, result.rules_scanned, time.process_time() - start


# Conversions this process has made or read, by (backend versions, rule key): a second build in one process
# (tests, a server that rebuilds) converts nothing twice even into a fresh output folder. Forked workers
# inherit it.
_MEMO: dict[tuple[str, str], list[dict[str, str]]] = {}


def _bodies(db: sqlite3.Connection, uids: Collection[str]) -> dict[str, str]:
    where, params = deploy_store._in("uid", uids)
    return dict(db.execute(f"SELECT uid, json_extract(doc, '$.body') FROM rules WHERE {where}", params))


def _conversions(
    db: sqlite3.Connection,
    inputs: dict[str, deploy_store.RelationInput],
    scope: set[str],
    old_refs: set[str],
    versions: str,
    cache: RelationCache,
    jobs: int,
    summary: RelationsSummary,
    reconvert: bool,
    early: EarlyRelations | None = None,
) -> dict[str, list[dict[str, str]]]:
    """The conversions of the Sigma rules in `scope` and of the correlations referring to one of them
    (added to `scope`). Keys are made again (from the bodies) for the rules read again and those
    correlations; the others' come from `inputs`, where the new keys are set."""
    sigma = [i.rule for i in inputs.values() if i.rule.language == SIGMA_LANGUAGE]
    # a correlation's conversion holds the documents it refers to (by id or name): the first in uid order
    by_ref: dict[str, str] = {}
    for r in sigma:
        for ref in (r.rule_id, r.name):
            if ref:
                by_ref.setdefault(ref, r.uid)
    moved_refs = old_refs | {
        ref for uid in scope if uid in inputs for ref in (inputs[uid].rule.rule_id, inputs[uid].rule.name)
    }
    moved_refs.discard("")
    todo = [
        r
        for r in sigma
        if reconvert
        or r.body  # read again
        or not inputs[r.uid].conversion_key
        or any(ref in moved_refs or by_ref.get(ref) in scope for ref in r.correlation_rules)
    ]
    scope.update(r.uid for r in todo)
    redone = {r.uid for r in todo}
    kept = [(r.uid, inputs[r.uid].conversion_key) for r in sigma if r.uid in scope and r.uid not in redone]
    needed = redone | {by_ref[ref] for r in todo for ref in r.correlation_rules if ref in by_ref}
    bodies = {uid: inputs[uid].rule.body for uid in needed if inputs[uid].rule.body}
    bodies.update(_bodies(db, needed - set(bodies)))
    keyed = []
    for r in todo:
        extra = tuple(bodies[by_ref[ref]] for ref in r.correlation_rules if ref in by_ref)
        body = bodies.get(r.uid) or ""
        key = deploy.conversion_key("\n---\n".join([body, *extra]))
        keyed.append((r.uid, key, body, extra))
        inputs[r.uid] = deploy_store.RelationInput(
            dataclasses.replace(r, body=""), key, inputs[r.uid].fires_key
        )
    missing = {key for _, key, _, _ in keyed if (versions, key) not in _MEMO}
    missing |= {key for _, key in kept if (versions, key) not in _MEMO}
    for key, value in cache.conversions(versions, missing).items():
        _MEMO[(versions, key)] = value
    # what the workers started before the store step converted (the cache learns it below)
    fresh: dict[str, Any] = early.collect() if early is not None else {}
    for key, value in fresh.items():
        _MEMO[(versions, key)] = value
    pending = {key: (body, extra) for _, key, body, extra in keyed if (versions, key) not in _MEMO}
    early_used = len(fresh.keys() & {key for _, key, _, _ in keyed})
    summary.conversions_run = len(pending) + early_used
    summary.conversions_cached = len(sigma) - summary.conversions_run
    items = [(key, body, extra) for key, (body, extra) in pending.items()]
    if jobs <= 1 or len(items) < 50:
        fresh.update(deploy.convert_batch(items))
    else:
        deploy.prepare_workers()  # the workers fork with the backends made
        size = max(10, len(items) // (jobs * 8))
        with forked_pool(jobs) as pool:
            futures = [
                pool.submit(deploy.convert_batch, items[i : i + size]) for i in range(0, len(items), size)
            ]
            for fut in futures:
                fresh.update(fut.result())
    for key, value in fresh.items():
        _MEMO[(versions, key)] = value
    cache.put_conversions(versions, fresh)
    if len(scope) >= len(inputs):  # every rule: the cache keeps this catalog's alone (no growth per edit)
        cache.prune_conversions(versions, {i.conversion_key for i in inputs.values() if i.conversion_key})
    out = {uid: _MEMO[(versions, key)] for uid, key, _, _ in keyed}
    # a kept key missing from the cache (deleted by hand) is converted on the next full pass; shown empty
    out.update({uid: _MEMO.get((versions, key), []) for uid, key in kept})
    return out


# -- fires on -----------------------------------------------------------------------------------------------


def _rule_from_body(uid: str, body: str) -> Rule | None:
    rules, _ = parse_file(body, uid, "", repo_url="", commit="", companions={})
    if len(rules) != 1:
        return None
    rules[0].uid = uid  # the catalog's uid (made unique across files), which matches report
    return rules[0]


def _fires(
    db: sqlite3.Connection,
    inputs: dict[str, deploy_store.RelationInput],
    scope: set[str],
    samples: list[Sample],
    cache_dir: Path,
    jobs: int,
    summary: RelationsSummary,
    whole: bool,
    early: EarlyRelations | None = None,
) -> tuple[dict[str, int], dict[str, dict[str, list[int]]]]:
    """Fires-on results of the runnable rules in `scope`, by their fires-on key (their logic): from the
    cache, else by scanning them over every sample. `whole`: every rule is in scope, and the cache kept
    covers exactly this catalog's rules."""
    summary.samples = len(samples)
    runnable = [i for uid, i in inputs.items() if uid in scope and i.fires_key]
    if not samples or not runnable:
        return {}, {}
    engine = engine_key(__version__)
    cache_file = cache_dir / FIRES_CACHE
    cache = disk = FiresCache.load(cache_file, engine)
    by_hash = {s.content_hash for s in samples}
    scanned = early.collect_fires() if early is not None else None
    if scanned is not None and whole and scanned[0].samples == by_hash:
        # the scan started before the store step: its rules over these samples, beside what the cache
        # answered for (the rules it knew, when it covered these samples)
        known = cache if by_hash <= cache.samples else FiresCache(engine)
        matches = {
            key: within
            for key, per_sample in known.matches.items()
            if (within := {h: records for h, records in per_sample.items() if h in by_hash})
        }
        matches.update(scanned[0].matches)
        cache = FiresCache(engine, known.rules | scanned[0].rules, set(by_hash), matches)
        summary.fires_scans, summary.fires_rules_scanned = scanned[1], scanned[2]
    covered = by_hash <= cache.samples
    # Rules are parsed only when they have to run (a new logic, or new samples for old ones).
    to_run = []
    need = [i for i in runnable if not covered or i.fires_key not in cache.rules]
    bodies = _bodies(db, {i.rule.uid for i in need if not i.rule.body})
    for i in runnable:
        if covered and i.fires_key in cache.rules:
            to_run.append(RuleToRun(i.fires_key, i.rule.uid, None))
            continue
        parsed = _rule_from_body(i.rule.uid, i.rule.body or bodies.get(i.rule.uid) or "")
        if parsed is not None:
            to_run.append(RuleToRun(i.fires_key, i.rule.uid, parsed))
    if whole:
        result = fires_on(to_run, samples, cache, workers=jobs)
        kept = result.cache
    else:
        # A part of the rules: the cache keeps every rule it knew, and learns the ones scanned now.
        result = fires_on(to_run, samples, cache, workers=jobs)
        kept = FiresCache(engine, cache.rules | result.cache.rules, cache.samples, dict(cache.matches))
        kept.matches.update(result.cache.matches)
    summary.fires_scans += result.scans
    summary.fires_rules_scanned += result.rules_scanned
    if kept.rules != disk.rules or kept.samples != disk.samples or kept.matches != disk.matches:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(cache_file, kept.to_json())
    ran = {r.uid: r.key for r in to_run}
    checked = {uid: len(samples) for uid in ran}
    fired = {uid: result.fired[key] for uid, key in ran.items() if key in result.fired}
    return checked, fired
