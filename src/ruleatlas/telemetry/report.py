"""Where the readiness report is kept, and reading it back: the `readiness` command writes
`<catalog>/readiness.json`; the build renders the readiness page from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORT_FILE = "readiness.json"
REPORT_FORMAT = "ruleatlas-readiness/1"


def load_report(catalog_dir: Path) -> dict[str, Any] | None:
    """The kept report, or None when there is none or it cannot be read (its page then says how to make
    one)."""
    try:
        data = json.loads((catalog_dir / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == REPORT_FORMAT else None
