"""A progress bar for long work: drawn on a terminal, silent elsewhere (CI, pipes, files)."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() and os.environ.get("CI") != "true"
        self._last_draw = 0.0
        self._start = time.perf_counter()

    def set_total(self, total: int) -> None:
        self.total = max(total, 0)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled or not self.total:
            return
        now = time.perf_counter()
        if now - self._last_draw >= 0.1 or self.done >= self.total:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        width = 30
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(width * fraction)
        bar = "█" * filled + "░" * (width - filled)
        elapsed = time.perf_counter() - self._start
        self.stream.write(f"\r{self.label:<12} {bar} {self.done}/{self.total} {elapsed:5.1f}s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.total:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
