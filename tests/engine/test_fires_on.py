"""Fires on: a SigmaHQ rule known to fire on a sample of ../shared/logs, found by the engine with its record
numbers, and the (rule, sample) cache that keeps rebuilds from scanning again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.engine.compile import compile_rules
from ruleatlas.engine.fires_on import FiresCache, RuleToRun, Sample, file_hash, fires_on, list_samples
from ruleatlas.engine.scan import run_scan
from ruleatlas.model import Rule
from ruleatlas.sources.sigma import parse_file

RULE = "rules/windows/builtin/windefend/win_defender_threat.yml"
SAMPLE = "evtx-attack-samples/AutomatedTestingTools/WinDefender_Events_1117_1116_AtomicRedTeam.evtx"
OTHER = "evtx-attack-samples/UACME_59_Sysmon.evtx"


def _rule(text: str, uid: str) -> Rule:
    [rule], _ = parse_file(text, "win_defender_threat.yml", "rules", repo_url="", commit="", companions={})
    rule.uid = uid
    return rule


class CountingScan:
    """run_scan, counting the engine runs and the rules each was given."""

    def __init__(self) -> None:
        self.runs: list[int] = []

    def __call__(self, compiled: Any, paths: Any, **kwargs: Any) -> object:
        self.runs.append(len(compiled.rules))
        return run_scan(compiled, paths, **kwargs)


@pytest.fixture(scope="module")
def defender(shared_dir: Path) -> tuple[str, list[Sample]]:
    text = (shared_dir / "corpus" / "sigma" / RULE).read_text(encoding="utf-8")
    logs = shared_dir / "logs"
    samples = [Sample(f"logs/{p}", logs / p, file_hash(logs / p)) for p in (SAMPLE, OTHER)]
    return text, samples


@pytest.fixture(scope="module")
def expected(defender: tuple[str, list[Sample]]) -> list[int]:
    """The records the engine's own scan (`ruleatlas scan`) reports for the rule over its sample."""
    text, samples = defender
    records: list[int] = []
    compiled = compile_rules([_rule(text, "sigma/win_defender_threat")])
    run_scan(compiled, [samples[0].path], on_match=lambda m: records.append(m.event.record or 0))
    assert len(records) == 11  # as `ruleatlas scan` prints: 11 matches, records 1.. of the file
    return sorted(records)


def _run(text: str, samples: list[Sample], cache: FiresCache, scan: Callable[..., object]) -> Any:
    return fires_on(
        [
            RuleToRun(
                "k-" + str(hash(text)), "sigma/win_defender_threat", _rule(text, "sigma/win_defender_threat")
            )
        ],
        samples,
        cache,
        scan=scan,
    )


def test_a_rule_fires_on_its_sample_with_record_numbers_and_a_rebuild_scans_nothing(
    defender: tuple[str, list[Sample]], expected: list[int]
) -> None:
    text, samples = defender
    scan = CountingScan()
    first = _run(text, samples, FiresCache("e1"), scan)
    key = next(iter(first.cache.rules))
    assert first.fired == {key: {f"logs/{SAMPLE}": expected}}
    assert scan.runs == [1]
    # The same rule and samples again: answered by the cache, no engine run; the cache survives a reload.
    again = fires_on([RuleToRun(key, "sigma/win_defender_threat", None)], samples, first.cache, scan=scan)
    assert again.fired == first.fired and again.scans == 0 and scan.runs == [1]


def test_only_new_rules_and_new_samples_are_scanned(
    defender: tuple[str, list[Sample]], expected: list[int], tmp_path: Path
) -> None:
    text, samples = defender
    scan = CountingScan()
    first = _run(text, samples[1:], FiresCache("e1"), scan)  # the sample it does not fire on
    assert first.fired == {} and scan.runs == [1]
    cache_file = tmp_path / "fires.json"
    cache_file.write_text(first.cache.to_json(), encoding="utf-8")
    cache = FiresCache.load(cache_file, "e1")
    # A new sample: the known rule runs over it alone.
    second = _run(text, samples, cache, scan)
    assert second.fired == {next(iter(second.cache.rules)): {f"logs/{SAMPLE}": expected}}
    assert scan.runs == [1, 1] and second.scans == 1
    # An edited rule (another key) beside the old one: only the edited one is scanned.
    edited = text.replace("level: high", "level: critical")
    assert edited != text
    old_key = next(iter(second.cache.rules))
    third = fires_on(
        [
            RuleToRun(old_key, "sigma/win_defender_threat", None),
            RuleToRun("edited", "sigma/edited", _rule(edited, "sigma/edited")),
        ],
        samples,
        second.cache,
        scan=scan,
    )
    assert scan.runs == [1, 1, 1] and third.rules_scanned == 1
    assert third.fired["edited"] == third.fired[old_key] == {f"logs/{SAMPLE}": expected}


def test_a_cache_of_another_engine_or_a_damaged_one_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "fires.json"
    path.write_text(FiresCache("e1", {"r"}, {"s"}, {"r": {"s": [3]}}).to_json(), encoding="utf-8")
    assert FiresCache.load(path, "e1").matches == {"r": {"s": [3]}}
    assert FiresCache.load(path, "e2").rules == set()
    path.write_text("{not json", encoding="utf-8")
    assert FiresCache.load(path, "e1").rules == set()


def test_regression_data_gives_its_evtx_files_only(shared_dir: Path) -> None:
    folder = shared_dir / "corpus" / "sigma" / "regression_data" / "rules-emerging-threats" / "2026"
    found = list_samples([("reg", folder)], evtx_only=frozenset({"reg"}))
    assert found and all(s.name.startswith("reg/") and s.name.endswith(".evtx") for s in found)
    both = list_samples([("reg", folder)])
    assert {s.name.rsplit(".", 1)[1] for s in both} == {"evtx", "json"}
