"""The relations fixture (tests/data/relations: Sigma rules made in pairs, a class of three, two rules on one
cloud action) as the relation tests build it: a copy of its rules that a test may edit, and the build's
configuration (with telemetry, so that cloud actions resolve)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ruleatlas.config import BuildConfig, SourceSpec

TEST_DATA = Path(__file__).resolve().parent / "data"


def relations_rules(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh copy of the fixture's Sigma rules (a folder named `sigma` under a new temporary folder)."""
    rules = tmp_path_factory.mktemp(name) / "sigma"
    shutil.copytree(TEST_DATA / "relations" / "sigma", rules)
    return rules


def relations_config(rules: Path, out: Path, *, deploy_as: bool = False) -> BuildConfig:
    """Conversions (`deploy_as`) are per rule, cached by its text: no relation between rules needs them."""
    return BuildConfig(
        out=out,
        sources=[SourceSpec("sigma", rules)],
        attack=TEST_DATA / "attack",
        telemetry=TEST_DATA / "telemetry" / "providers",
        jobs=1,
        pages=False,
        deploy_as=deploy_as,
    )
