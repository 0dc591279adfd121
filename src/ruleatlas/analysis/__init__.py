"""Analysis of parsed rules: indicators, canonical fields, event coverage, documents, relations."""

from __future__ import annotations

import hashlib
from pathlib import Path

ANALYSIS_DIR = Path(__file__).resolve().parent


def analysis_fingerprint() -> str:
    """A hash of the analysis code (canonicaliser tables, indicators, coverage, rows). The build keys the
    catalog on it, so a changed mapping re-analyses every rule instead of leaving old rows beside new ones."""
    digest = hashlib.sha256()
    for path in sorted(ANALYSIS_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(ANALYSIS_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
