"""A CPU-time budget for one query on a SQLite connection.

Search text is the client's to choose: a legal 1,000-character query of `value:` filters costs over a
second of CPU, and a few clients varying such queries would keep every worker busy. SQLite calls the
progress handler every `STEPS` virtual-machine instructions; once this thread has used `seconds` of CPU
since the budget began, the handler asks SQLite to stop, and the statement fails with "interrupted".

The handler is Python: each call takes the interpreter lock that SQLite otherwise runs without. Called
every 10,000 instructions it made searches wait on the lock for seconds on a busy server (measured with
bench/serve.py); every million (roughly 10-50 ms of work) costs nothing a search notices, and the budget
is overshot by at most that much.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

STEPS = 1_000_000


class QueryBudget:
    __slots__ = ("exceeded", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.exceeded = False

    @contextlib.contextmanager
    def applied(self, db: sqlite3.Connection) -> Iterator[None]:
        deadline = time.thread_time() + self.seconds

        def check() -> int:
            if time.thread_time() > deadline:
                self.exceeded = True
                return 1
            return 0

        db.set_progress_handler(check, STEPS)
        try:
            yield
        finally:
            db.set_progress_handler(None, 0)  # the connection goes back to the pool without it
