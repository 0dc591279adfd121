"""Shared test fixtures.

`shared_dir` is the public data folder (`../shared` beside the repository, or $RULEATLAS_SHARED). Tests that
read it skip when it is absent on a developer machine and fail when CI=true, where it must be there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ruleatlas.telemetry import TelemetryCatalog

if TYPE_CHECKING:
    from ruleatlas.build.summary import BuildSummary

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"


def _shared_path() -> Path:
    configured = os.environ.get("RULEATLAS_SHARED")
    return Path(configured) if configured else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _shared_path()
    if not (path / "corpus").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared data not found at {path}; CI must provide ../shared")
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def test_data() -> Path:
    return TEST_DATA


@pytest.fixture(scope="session")
def store_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog (no pages) of tests/data/browse: 12 rules made to exercise every facet, with ATT&CK."""
    from ruleatlas.build import build
    from ruleatlas.config import BuildConfig, SourceSpec

    out = tmp_path_factory.mktemp("store-catalog")
    build(
        BuildConfig(
            out=out,
            sources=[SourceSpec("sigma", TEST_DATA / "browse" / "sigma")],
            attack=TEST_DATA / "attack",
            jobs=1,
            pages=False,
        )
    )
    return out


@pytest.fixture(scope="session")
def corpus_catalog(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole of ../shared's Sigma corpus built once, with ATT&CK, telemetry, the log samples and Panther's
    rule-test events (cloud and SaaS samples), for every test to read."""
    from ruleatlas.build import build
    from ruleatlas.config import BuildConfig, SourceSpec

    out = tmp_path_factory.mktemp("corpus-catalog")
    build(
        BuildConfig(
            out=out,
            sources=[SourceSpec("sigma", shared_dir / "corpus" / "sigma")],
            attack=shared_dir / "attack",
            telemetry=shared_dir / "providers",
            samples=shared_dir / "logs",
            test_events=shared_dir / "corpus" / "panther",
            # pySigma conversions of ~3,700 rules cost a minute of CPU and no test of this catalog reads
            # them: deploy-as is tested on its own fixture (tests/test_convert_build.py)
            deploy_as=False,
        )
    )
    return out


@pytest.fixture(scope="session")
def telemetry(shared_dir: Path) -> TelemetryCatalog:
    """The real telemetry catalog, loaded once from ../shared for every test that reads it."""
    from ruleatlas.telemetry import load_telemetry

    return load_telemetry(shared_dir / "providers", shared_dir / "corpus" / "sigma")


@pytest.fixture(scope="session")
def all_vendors_catalog(
    shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, BuildSummary]:
    """Every source of ../shared (nine, seven vendor labels) built once into one catalog with its pages, and
    the build's summary (tests/test_build_all_vendors.py reads the catalog, tests/web/test_vendor_site.py
    checks every link of the site)."""
    from ruleatlas.build import build
    from ruleatlas.config import BuildConfig, shared_defaults

    sources, attack, telemetry = shared_defaults(shared_dir)
    out = tmp_path_factory.mktemp("all-vendors") / "out"
    # conversions have their own tests (tests/test_convert_build.py) and cost minutes over nine sources
    config = BuildConfig(out=out, sources=sources, attack=attack, telemetry=telemetry, deploy_as=False)
    return out, build(config)
