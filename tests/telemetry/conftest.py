"""Telemetry fixtures: the real catalog, loaded once from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.telemetry import TelemetryCatalog, load_telemetry


@pytest.fixture(scope="session")
def telemetry(shared_dir: Path) -> TelemetryCatalog:
    return load_telemetry(shared_dir / "providers", shared_dir / "corpus" / "sigma")
