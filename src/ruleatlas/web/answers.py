"""What the server keeps between requests: pooled catalog connections, an LRU of API answers and the
single-flight table of answers being computed.

Everything is keyed by the catalog file's identity (inode, modification time, size): when a build replaces
the file, pooled connections to the old one are closed and cached answers dropped, so a rebuilt catalog is
never answered stale. The pool is used from worker threads (answers are computed off the event loop); the
cache and the flight table only from the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ruleatlas.analysis.document import RuleDocument

CACHE_BYTES = 64 * 1024 * 1024
CACHE_ENTRY_BYTES = 4 * 1024 * 1024  # larger answers are sent but not kept
MAX_IDLE_CONNECTIONS = 64
GZIP_LEVEL = 6  # Starlette's default 9 costs about twice the CPU for a few per cent less
GZIP_MIN_BYTES = 1024  # smaller answers go as they are

Generation = tuple[int, int, int]
T = TypeVar("T")


class CatalogReader(Protocol):
    def rule_document(self, uid: str) -> RuleDocument | None: ...


CatalogOpener = Callable[[Path], CatalogReader]


def file_generation(path: Path) -> Generation | None:
    """The identity of the file at `path` now, or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def gzip_bytes(body: bytes) -> bytes:
    """`body` as a gzip member, at the level the server compresses everything else with."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


@dataclass(slots=True)
class Answer:
    """One computed API answer: its status and JSON body; `keep` is False for answers that depend on more
    than the request and the catalog (the catalog was unavailable, a query ran out of its budget)."""

    status: int
    body: bytes
    keep: bool = True
    _gzipped: bytes | None = field(default=None, repr=False, compare=False)

    def gzipped(self) -> bytes:
        """The body gzipped, compressed on first use and kept: a cached answer is compressed once, not once
        per client."""
        if self._gzipped is None:
            self._gzipped = gzip_bytes(self.body)
        return self._gzipped


class AnswerCache:
    """An LRU of answers bounded in total bytes, emptied when the catalog generation changes."""

    __slots__ = ("generation", "items", "max_bytes", "size")

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.generation: Generation | None = None
        self.items: OrderedDict[Hashable, Answer] = OrderedDict()

    def get(self, key: Hashable, generation: Generation) -> Answer | None:
        if generation != self.generation:
            self.items.clear()
            self.size = 0
            self.generation = generation
            return None
        answer = self.items.get(key)
        if answer is not None:
            self.items.move_to_end(key)
        return answer

    def put(self, key: Hashable, answer: Answer, generation: Generation) -> None:
        if not answer.keep or len(answer.body) > CACHE_ENTRY_BYTES or generation != self.generation:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self.items[key] = answer
        self.size += len(answer.body)
        while self.size > self.max_bytes and self.items:
            _, dropped = self.items.popitem(last=False)
            self.size -= len(dropped.body)


@dataclass(slots=True)
class CachedFile:
    """A small site file held in memory: its identity when read, its bytes and its response headers
    (content type, length, ETag, Last-Modified: made by Starlette's FileResponse from the same stat);
    `compressible` when its type is text worth gzipping."""

    stamp: Generation
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    compressible: bool = False
    _gzipped: bytes | None = field(default=None, repr=False, compare=False)

    def gzipped(self) -> bytes:
        """The body gzipped, compressed on first use and kept (a rule page: ~1 ms once, not per client)."""
        if self._gzipped is None:
            self._gzipped = gzip_bytes(self.body)
        return self._gzipped


class FileCache:
    """An LRU of small site files bounded in total bytes; an entry counts only while the file it was read
    from is still the same (a build may rewrite any page)."""

    __slots__ = ("items", "max_bytes", "size")

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[Path, CachedFile] = OrderedDict()

    def get(self, path: Path) -> CachedFile | None:
        found = self.items.get(path)
        if found is None:
            return None
        if file_generation(path) != found.stamp:
            self.size -= len(found.body)
            del self.items[path]
            return None
        self.items.move_to_end(path)
        return found

    def put(self, path: Path, entry: CachedFile) -> None:
        old = self.items.pop(path, None)
        if old is not None:
            self.size -= len(old.body)
        self.items[path] = entry
        self.size += len(entry.body)
        while self.size > self.max_bytes and self.items:
            _, dropped = self.items.popitem(last=False)
            self.size -= len(dropped.body)


class SingleFlight:
    """While one request computes an answer, the same request from others awaits it instead of computing
    it again (200 clients asking for one new page at once)."""

    __slots__ = ("_running",)

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is not None:
            try:
                result: T = await asyncio.shield(running)
                return result
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this request itself was cancelled
                # the leader was cancelled (its client left): compute it here instead
                return await compute()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await compute()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._running[key]


class CatalogPool:
    """Read-only catalog connections reused across requests (opening one reads the schema: ~1 ms), each
    tagged with the generation it was opened on and closed once the file is replaced."""

    def __init__(self, path_of: Callable[[], Path], opener: CatalogOpener, *, pooled: bool) -> None:
        self.path_of = path_of  # asked each time: a build may publish the catalog elsewhere
        self.opener = opener
        # A stand-in opener (a test's) is opened and closed around every request.
        self.pooled = pooled
        self._idle: list[tuple[Generation | None, CatalogReader]] = []
        self._lock = threading.Lock()

    def generation(self) -> Generation | None:
        return file_generation(self.path_of())

    @contextlib.contextmanager
    def session(self) -> Iterator[Callable[[], Any]]:
        """Yields a function that opens (once) the catalog for one request; released after it."""
        held: list[tuple[Generation | None, CatalogReader]] = []

        def get() -> Any:
            if not held:
                held.append(self._acquire())
            return held[0][1]

        try:
            yield get
        finally:
            if held:
                self._release(*held[0])

    def _acquire(self) -> tuple[Generation | None, CatalogReader]:
        generation = self.generation()
        if self.pooled:
            with self._lock:
                while self._idle:
                    gen, catalog = self._idle.pop()
                    if gen == generation:
                        return gen, catalog
                    _close(catalog)
        return generation, self.opener(self.path_of())

    def _release(self, generation: Generation | None, catalog: CatalogReader) -> None:
        if self.pooled and generation == self.generation():
            with self._lock:
                if len(self._idle) < MAX_IDLE_CONNECTIONS:
                    self._idle.append((generation, catalog))
                    return
        _close(catalog)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, catalog in idle:
            _close(catalog)


def _close(catalog: object) -> None:
    close = getattr(catalog, "close", None)
    if callable(close):
        close()
