"""Fires on: which log samples each Sigma rule matches, with record numbers, by this engine's own scan.

The build asks this for every Sigma detection rule over the catalog's log samples (`--samples`) and
SigmaHQ's regression data. The answer is cached by (rule hash, sample hash): the cache holds the rule
hashes and sample hashes it covers and the matches among them, so a rebuild scans only the new rules over
every sample and the old rules over the new samples (at most two scans), and a rebuild where nothing changed
scans nothing. Correlation rules need other rules' matches over time and are not run here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ruleatlas.engine.compile import compile_rules
from ruleatlas.engine.scan import RuleMatch, run_scan
from ruleatlas.model import Problem, Rule

# Bump when what the engine matches may change in a way rule and sample hashes do not show.
FIRES_VERSION = 1
SAMPLE_SUFFIXES = (".evtx", ".json", ".jsonl", ".ndjson")


@dataclass(slots=True, frozen=True)
class Sample:
    """One sample file: `name` is how pages show it (its root's label and its path under the root)."""

    name: str
    path: Path
    content_hash: str


@dataclass(slots=True, frozen=True)
class RuleToRun:
    """A rule to answer for: `rule` may be None when the cache is known to cover it (it is not parsed)."""

    key: str  # the rule's hash: its text and what else decides its matches
    uid: str
    rule: Rule | None


@dataclass(slots=True)
class FiresCache:
    """The pairs already scanned: every rule hash of `rules` against every sample hash of `samples`, and
    the matches among them (rule hash → sample hash → record numbers)."""

    engine: str = ""
    rules: set[str] = field(default_factory=set)
    samples: set[str] = field(default_factory=set)
    matches: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, engine: str) -> FiresCache:
        """The cache at `path`, or an empty one when it is missing, damaged or of another engine."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["engine"] != engine:
                return cls(engine)
            return cls(engine, set(data["rules"]), set(data["samples"]), data["matches"])
        except (OSError, ValueError, KeyError, TypeError):
            return cls(engine)

    def to_json(self) -> str:
        return json.dumps(
            {
                "engine": self.engine,
                "rules": sorted(self.rules),
                "samples": sorted(self.samples),
                "matches": self.matches,
            },
            sort_keys=True,
        )


@dataclass(slots=True)
class FiresResult:
    """Per rule key: sample name → record numbers (rules that fire on nothing have no entry)."""

    fired: dict[str, dict[str, list[int]]]
    cache: FiresCache  # covering exactly the rules and samples of this run
    scans: int = 0  # engine runs this pass needed (0 when everything came from the cache)
    rules_scanned: int = 0
    problems: list[Problem] = field(default_factory=list)


def engine_key(version: str) -> str:
    """What besides rule and sample decides a match: the package version and this module's format."""
    return f"{FIRES_VERSION}:{version}"


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_samples(
    roots: Iterable[tuple[str, Path]],
    *,
    evtx_only: frozenset[str] = frozenset(),
    content_hash: Callable[[Path], str] = file_hash,
) -> list[Sample]:
    """The sample files under each (label, root), sorted; roots named in `evtx_only` give their EVTX files
    only (SigmaHQ's regression data holds each EVTX file again as JSON: scanning both counts twice).
    `content_hash`: how a file is hashed (the build's cache answers for files whose stat did not move)."""
    out = []
    for label, root in roots:
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file())
        else:
            continue
        suffixes = (".evtx",) if label in evtx_only else SAMPLE_SUFFIXES
        for path in files:
            if path.suffix.lower() in suffixes:
                rel = path.name if path == root else path.relative_to(root).as_posix()
                out.append(Sample(f"{label}/{rel}", path, content_hash(path)))
    return out


def fires_on(
    rules: Sequence[RuleToRun],
    samples: Sequence[Sample],
    cache: FiresCache,
    *,
    workers: int = 1,
    scan: Callable[..., object] = run_scan,
) -> FiresResult:
    """Which samples each rule matches: from `cache` where it covers the pair, else by scanning."""
    by_hash = {s.content_hash: s for s in samples}
    fired: dict[str, dict[str, list[int]]] = {}
    result = FiresResult(fired, FiresCache(cache.engine, {r.key for r in rules}, set(by_hash)))
    new_rules = [r for r in rules if r.key not in cache.rules]
    old_rules = [r for r in rules if r.key in cache.rules]
    new_samples = [s for h, s in by_hash.items() if h not in cache.samples]
    jobs = [(new_rules, list(by_hash.values())), (old_rules, new_samples)]
    for todo, paths in jobs:
        if todo and paths:
            _scan(todo, paths, result, workers, scan)
    # What the cache already knew, for the pairs it covers.
    for r in old_rules:
        for sample_hash, records in cache.matches.get(r.key, {}).items():
            if sample_hash in by_hash and sample_hash in cache.samples:
                result.cache.matches.setdefault(r.key, {})[sample_hash] = records
    for key, per_sample in result.cache.matches.items():
        fired[key] = {by_hash[h].name: sorted(set(records)) for h, records in sorted(per_sample.items())}
    return result


def _scan(
    rules: Sequence[RuleToRun],
    samples: Sequence[Sample],
    result: FiresResult,
    workers: int,
    scan: Callable[..., object],
) -> None:
    missing = [r.uid for r in rules if r.rule is None]
    if missing:
        raise ValueError(f"rules to scan without their IR: {', '.join(missing[:5])}")
    compiled = compile_rules([r.rule for r in rules if r.rule is not None])
    result.problems.extend(compiled.problems)
    # The compiled set keeps its rules' uids: map them back to rule keys (uids are unique in a catalog).
    key_of = {r.uid: r.key for r in rules}
    hash_of = {str(s.path): s.content_hash for s in samples}
    matches = result.cache.matches

    def on_match(match: RuleMatch) -> None:
        key = key_of.get(match.rule.uid)
        sample = hash_of.get(str(match.event.file))
        if key is not None and sample is not None and match.event.record is not None:
            matches.setdefault(key, {}).setdefault(sample, []).append(match.event.record)

    scan(compiled, [s.path for s in samples], on_match=on_match, workers=workers)
    result.scans += 1
    result.rules_scanned += len(rules)
