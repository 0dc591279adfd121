"""Fixtures of the ATT&CK view tests: the small fixture corpus (tests/data/attack_views) built with the
hand-made STIX bundle, and helpers that count coverage independently of `ruleatlas.analysis.coverage`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE_CORPUS = DATA / "attack_views" / "sigma"
FIXTURE_ATTACK = DATA / "attack" / "enterprise-attack.json"


def build_fixture(out: Path, *, attack: bool = True, pages: bool = False) -> Path:
    summary = build(
        BuildConfig(
            out=out,
            sources=[SourceSpec("sigma", FIXTURE_CORPUS)],
            attack=FIXTURE_ATTACK if attack else None,
            jobs=1,
            pages=pages,
        ),
        log=io.StringIO(),
    )
    assert summary.errors == 0 and summary.problems == 0, summary.to_json()
    return out


@pytest.fixture(scope="session")
def attack_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture corpus's catalog folder (no pages)."""
    return build_fixture(tmp_path_factory.mktemp("attack-views"))


@pytest.fixture(scope="session")
def catalog_without_attack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("no-attack"), attack=False)
