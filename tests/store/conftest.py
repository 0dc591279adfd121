"""The store's query tests read a real build of tests/data/browse (12 rules made to exercise every facet)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def store_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store-catalog")
    build(
        BuildConfig(
            out=out,
            sources=[SourceSpec("sigma", DATA / "browse" / "sigma")],
            attack=DATA / "attack",
            jobs=1,
            pages=False,
        )
    )
    return out
