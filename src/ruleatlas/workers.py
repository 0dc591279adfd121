"""Forked worker pools that never outlive the process that started them.

A killed build (SIGKILL of its main process, which no handler sees) used to leave its pool workers running
as orphans holding 110–250 MB each and the build's output pipe. Each worker asks the kernel to kill it when
its parent dies (Linux `PR_SET_PDEATHSIG`), and exits at once if the parent is already gone. Workers ignore
Ctrl-C: the parent gets it, stops the pool and reports once, instead of every worker printing a traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

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
