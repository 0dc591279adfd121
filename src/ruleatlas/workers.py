"""Forked worker pools that never outlive the process that started them.

A killed build (SIGKILL of its main process, which no handler sees) used to leave its pool workers running
as orphans holding 110–250 MB each and the build's output pipe. Each worker asks the kernel to kill it when
its parent dies (Linux `PR_SET_PDEATHSIG`), and exits at once if the parent is already gone. Workers ignore
Ctrl-C: the parent gets it, stops the pool and reports once, instead of every worker printing a traceback.

`map_batches` is the one way the build and the page writers spread a list of items over the workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None


def _set_parent_death_signal() -> None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return
        _libc = ctypes.CDLL(name, use_errno=True)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        _set_parent_death_signal()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def new_pool(jobs: int) -> ProcessPoolExecutor:
    """A fork-context pool of `jobs` workers that die with this process (call `kill` on an error)."""
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )


@contextlib.contextmanager
def forked_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """`new_pool(jobs)`; on an error or Ctrl-C in the parent its workers are killed rather than left to
    finish their batches."""
    pool = new_pool(jobs)
    try:
        yield pool
    except BaseException:
        kill(pool)
        raise
    else:
        pool.shutdown()


def kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel what is queued and kill the workers (the executor keeps them in `_processes`,
    which has no public equivalent)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def batch_size(items: int, jobs: int, *, per_job: int, least: int) -> int:
    """Many more batches than workers keeps every core busy to the end; batches of at least `least` items
    amortise the hand-off."""
    return max(least, items // (jobs * per_job))


def map_batches(
    work: Callable[[list[T]], R],
    items: Sequence[T],
    jobs: int,
    *,
    parallel_from: int,
    least: int,
    per_job: int,
    serial_batch: int,
    done: Callable[[list[T], R], None] | None = None,
) -> list[R]:
    """`work` over consecutive batches of `items`, the results in order; `done(batch, result)` as each batch
    completes (progress). On `jobs` forked workers when `jobs > 1` and there are at least `parallel_from`
    items, else here in batches of `serial_batch`. `work` must be picklable (a module-level function or a
    partial of one); state too big to pickle is set in module globals before the call, which the fork
    shares."""
    parallel = jobs > 1 and len(items) >= parallel_from
    size = batch_size(len(items), jobs, per_job=per_job, least=least) if parallel else max(serial_batch, 1)
    batches = [list(items[i : i + size]) for i in range(0, len(items), size)]
    results: list[R] = []
    if not parallel:
        for batch in batches:
            results.append(work(batch))
            if done is not None:
                done(batch, results[-1])
        return results
    with forked_pool(jobs) as pool:
        futures = [pool.submit(work, batch) for batch in batches]
        for future, batch in zip(futures, batches, strict=True):
            results.append(future.result())
            if done is not None:
                done(batch, results[-1])
    return results
