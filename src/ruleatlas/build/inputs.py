"""The build's inputs besides the rule files: ATT&CK, telemetry definitions and log samples, loaded only when
some rule needs them and cached as JSON (`DIR/cache/`, keyed by the input's fingerprint, each file replaced
whole), which a full build's catalog stores as it is; and what the current catalog was built from, which
decides whether a build can be incremental."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ruleatlas import fastjson
from ruleatlas.attack import AttackData, load_attack
from ruleatlas.config import BuildConfig
from ruleatlas.logs.readers import InputProblem, read_events
from ruleatlas.model import Problem
from ruleatlas.output import atomic
from ruleatlas.store import Catalog
from ruleatlas.telemetry import TelemetryCatalog, load_telemetry
from ruleatlas.telemetry.observed import Observed, ObservedJson, observed_json
from ruleatlas.telemetry.platforms.samples import panther_test_events

T = TypeVar("T")


def fingerprint(path: Path | None) -> str:
    """Cheap identity of a file or folder tree: names, sizes and modification times."""
    if path is None:
        return ""
    digest = hashlib.sha256(str(path.resolve()).encode())
    stack = [path] if path.is_dir() else []
    if path.is_file():
        st = path.stat()
        digest.update(f"{st.st_size}\0{st.st_mtime_ns}".encode())
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file():
                    st = entry.stat()
                    digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(slots=True)
class Loaded(Generic[T]):
    """An input, loaded or read from the cache, with its JSON text (what the catalog stores)."""

    value: T
    text: str


def _cached_json(
    cache_dir: Path,
    name: str,
    key: str,
    load: Callable[[], T],
    dump: Callable[[T], Any],
    undump: Callable[[Any], T],
) -> Loaded[T]:
    """`load()`, or its JSON form from the cache when `key` (the input's fingerprint) has not changed."""
    cache_file = cache_dir / f"{name}.json"
    if cache_file.is_file():
        try:
            text = cache_file.read_text(encoding="utf-8")
            header, _, body = text.partition("\n")
            if json.loads(header) == key:
                return Loaded(undump(fastjson.loads(body)), body)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt below
    value = load()
    body = json.dumps(dump(value))
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(cache_file, json.dumps(key) + "\n" + body)
    return Loaded(value, body)


@dataclass(slots=True)
class PreviousCatalog:
    """What the current catalog was built from: its meta, file hashes and rule uids."""

    meta: dict[str, str]
    files: dict[tuple[str, str], str]
    base_uids: dict[str, tuple[str, str, str, str, str]]


def read_previous(path: Path) -> PreviousCatalog | None:
    if not path.is_file():
        return None
    try:
        catalog = Catalog(path)
        try:
            return PreviousCatalog(catalog.meta(), catalog.files(), catalog.base_uids())
        finally:
            catalog.close()
    except Exception:  # an older or damaged catalog is simply rebuilt
        return None


class InputContext:
    """ATT&CK and telemetry, loaded only when some rule needs analysing."""

    def __init__(self, config: BuildConfig, cache_dir: Path, keys: dict[str, str]) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.keys = keys
        self._attack: Loaded[AttackData] | None = None
        self._telemetry: Loaded[TelemetryCatalog] | None = None
        self._samples: ObservedJson | None = None

    def attack(self) -> Loaded[AttackData] | None:
        path = self.config.attack
        if path is not None and self._attack is None:
            self._attack = _cached_json(
                self.cache_dir,
                "attack",
                self.keys["attack"],
                lambda: load_attack(path),
                lambda a: a.to_json(),
                AttackData.from_json,
            )
        return self._attack

    def telemetry(self) -> Loaded[TelemetryCatalog] | None:
        path = self.config.telemetry
        if path is not None and self._telemetry is None:
            sigma_dir = next((s.path for s in self.config.sources if s.name == "sigma"), None)
            self._telemetry = _cached_json(
                self.cache_dir,
                "telemetry",
                self.keys["telemetry"],
                lambda: load_telemetry(path, sigma_dir),
                lambda t: t.to_json(),
                TelemetryCatalog.from_json,
            )
        return self._telemetry

    def samples(self, key: str) -> ObservedJson | None:
        """What the log samples (`--samples`, ../shared/logs) hold per event type: read once, then from
        cache/samples.json until the logs or the telemetry definitions change (`key`)."""
        path, tests, loaded = self.config.samples, self.config.test_events, self.telemetry()
        if (path is None and tests is None) or loaded is None:
            return None
        if self._samples is None:
            self._samples = _cached_json(
                self.cache_dir,
                "samples",
                key,
                lambda: _collect_samples(path, tests, loaded.value),
                lambda data: data,
                _stored_samples,
            ).value
        return self._samples


def _stored_samples(data: object) -> ObservedJson:
    found = observed_json(data)
    if found is None:
        raise ValueError("the samples cache holds no samples")  # rebuilt by the caller
    return found


def _collect_samples(path: Path | None, tests: Path | None, telemetry: TelemetryCatalog) -> ObservedJson:
    """One streaming pass over the samples: per event type its count, fields, first event, enum values.
    `path`: log samples; `tests`: a Panther analysis checkout, whose rule tests hold cloud and SaaS events."""
    problems: list[InputProblem] = []
    test_problems: list[Problem] = []
    observed = Observed(telemetry, examples=True, values=True)
    if path is not None:
        root = path if path.is_dir() else path.parent
        for event in read_events([path], problems=problems):
            source = Path(event.file)
            shown = source.relative_to(root).as_posix() if source.is_relative_to(root) else source.name
            where = f"{shown}, record {event.record}" if event.record is not None else shown
            observed.add(event.fields, where)
    if tests is not None:
        for fields, where in panther_test_events(tests, test_problems):
            observed.add(fields, f"Panther rule test {where}")
    data = observed.to_json()
    data["problems"] = [str(p) for p in problems] + [
        f"{p.file}{f':{p.line}' if p.line else ''}: {p.message}" for p in test_problems
    ]
    return data
