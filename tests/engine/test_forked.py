"""Forked workers: results in job order, errors and dead workers reported, nothing left running."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator

import pytest

from ruleatlas.engine.forked import WorkerError, run_forked, run_forked_parts


def _slow_square(n: int) -> int:
    time.sleep(random.random() / 500)  # finish out of order
    return n * n


def test_results_come_back_in_job_order() -> None:
    jobs = list(range(200))
    assert list(run_forked(_slow_square, jobs, workers=3)) == [n * n for n in jobs]
    assert list(run_forked(_slow_square, [7], workers=4)) == [49]  # more workers than jobs
    assert list(run_forked(_slow_square, [], workers=2)) == []


def test_inherited_state_reaches_the_workers_without_pickling() -> None:
    unpicklable = {"f": lambda n: n + 1}  # a lambda cannot be pickled; a fork inherits it
    assert list(run_forked(lambda n: unpicklable["f"](n), [1, 2, 3], workers=2)) == [2, 3, 4]


def _fail_on_five(n: int) -> int:
    if n == 5:
        raise ValueError("five is bad")
    return n


def test_an_exception_in_a_job_is_raised_with_its_place() -> None:
    with pytest.raises(WorkerError, match="job 5 failed in a worker: ValueError: five is bad"):
        list(run_forked(_fail_on_five, list(range(10)), workers=2))


def _die_on_three(n: int) -> int:
    if n == 3:
        os._exit(7)  # as a crash in native code would
    return n


def test_a_dead_worker_is_reported_not_waited_for() -> None:
    with pytest.raises(WorkerError, match="exit code 7"):
        list(run_forked(_die_on_three, list(range(10)), workers=2))


def test_stopping_early_stops_the_workers() -> None:
    import multiprocessing

    results = run_forked(_slow_square, list(range(100)), workers=2)
    assert next(results) == 0
    results.close()
    assert multiprocessing.active_children() == []


def _countdown(n: int) -> Iterator[tuple[int, int]]:
    for part in range(n % 4):
        time.sleep(0.001 * ((n * 7) % 3))
        yield (n, part)


def test_parts_come_in_job_order_and_part_order() -> None:
    jobs = list(range(40))
    expected = [(n, part) for n in jobs for part in range(n % 4)]
    assert list(run_forked_parts(_countdown, jobs, workers=3)) == expected
