"""Log readers: EVTX, JSON (one object, an array, or several objects) and JSONL/NDJSON, plain or gzip.

Everything streams in constant memory: EVTX record by record (the `evtx` package, `records_json`), JSONL line
by line, JSON arrays element by element. One JSON document (a line, an array element, a top-level object)
may be at most `MAX_DOCUMENT_BYTES`; a larger one is reported and skipped, never loaded.

`Event.record` says where an event is in its file: the EVTX record number (the record header's, as
`evtx_dump` and the parser's errors count; `EventRecordID` in the fields is the System value), the line of
a JSONL file, or the value's position (1-based) in a JSON document or array. A CloudTrail-style document,
an object whose one member is a `Records` list (`{"Records": [{...}, ...]}`), holds one event per record;
`Event.record` is then the record's position (1-based) in its list.

Nothing is dropped silently: a file that cannot be opened, a record that cannot be decoded, a line that is
not JSON, an EVTX file cut short, each becomes an `InputProblem` naming the file, the record/line/chunk and
the cause; reading goes on with the next record or file.

File kinds are recognised by content (EVTX magic, gzip magic, first JSON character), not by name. Inside
folders only files with a log extension (`LOG_SUFFIXES`) are read; the others are counted in `InputPlan`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ruleatlas.logs.event import Event, InputProblem
from ruleatlas.logs.evtx_fields import (
    EVTX_CHUNK_BYTES,
    EVTX_HEADER_BYTES,
    EVTX_LAYOUT_BYTES,
    EVTX_MAGIC,
    evtx_chunk_count,
    evtx_fields,
    is_evtx_json,
    read_evtx,
)

__all__ = [
    "EVTX_CHUNK_BYTES",
    "EVTX_HEADER_BYTES",
    "LOG_SUFFIXES",
    "MAX_DOCUMENT_BYTES",
    "InputPlan",
    "InputProblem",
    "InputSource",
    "events_from_document",
    "evtx_chunk_count",
    "flat_fields",
    "plan_inputs",
    "read_events",
    "read_source",
]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # one JSON value (line, array element, object); larger ones are skipped
LOG_SUFFIXES = (".evtx", ".json", ".jsonl", ".ndjson", ".log")
GZIP_MAGIC = b"\x1f\x8b"
READ_BYTES = 1024 * 1024
TOO_DEEP = "JSON nested too deeply (about 1,000 levels) for the decoder"
MAX_LEADING_INVALID_LINES = 100  # a text file whose first lines are all not JSON is given up after these


@dataclass(slots=True, frozen=True)
class InputSource:
    """One unit of reading: a file, or a range of an EVTX file's chunks (for splitting big files)."""

    path: Path
    chunks: tuple[int, int] | None = None  # [first, end) chunk indexes of an EVTX file


@dataclass(slots=True)
class InputPlan:
    files: list[Path] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # suffix -> files in folders that are not logs
    warnings: list[InputProblem] = field(default_factory=list)  # files named like logs that are not files


def limit_text() -> str:
    """The size limit for one JSON document, as people read it."""
    size = MAX_DOCUMENT_BYTES
    return f"{size / 2**20:g} MiB" if size >= 2**20 else f"{size} bytes"


def _is_log_name(name: str) -> bool:
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return lower.endswith(LOG_SUFFIXES)


def plan_inputs(paths: Sequence[Path], problems: list[InputProblem]) -> InputPlan:
    """Expand folders (recursively, sorted) into files; a missing path is a problem."""
    plan = InputPlan()
    for path in paths:
        try:
            mode = path.stat().st_mode
        except (OSError, ValueError):
            mode = 0
        if stat.S_ISDIR(mode):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if not _is_log_name(name):
                        suffix = Path(name).suffix.lower() or "(none)"
                        plan.skipped[suffix] = plan.skipped.get(suffix, 0) + 1
                        continue
                    file = Path(root) / name
                    kind = _not_regular(file)
                    if kind is None:
                        plan.files.append(file)
                    else:
                        plan.warnings.append(
                            InputProblem(str(file), None, f"{kind}, not a log file: skipped")
                        )
        elif stat.S_ISREG(mode):
            plan.files.append(path)
        elif mode:
            # a FIFO would block the scan until someone writes to it; a device may never end
            plan.warnings.append(InputProblem(str(path), None, f"{_kind(mode)}, not a log file: skipped"))
        else:
            problems.append(InputProblem(str(path), None, "no such file or folder"))
    return plan


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _not_regular(path: Path) -> str | None:
    """None for a regular file (symlinks followed); else what it is. A dangling symlink counts as regular:
    opening it then reports it."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else _kind(mode)


def read_events(
    paths: Sequence[Path],
    *,
    time_field: str | None = None,
    problems: list[InputProblem],
    evtx_threads: int = 1,
) -> Iterator[Event]:
    """Every event of every file under `paths`, in order (folders sorted), streaming."""
    plan = plan_inputs(paths, problems)
    problems.extend(plan.warnings)
    for path in plan.files:
        yield from read_source(
            InputSource(path), time_field=time_field, problems=problems, evtx_threads=evtx_threads
        )


def read_source(
    source: InputSource,
    *,
    time_field: str | None = None,
    problems: list[InputProblem],
    evtx_threads: int = 1,
) -> Iterator[Event]:
    """The events of one input (a file or an EVTX chunk range)."""
    path = source.path
    name = str(path)
    try:
        head, size = _head(name)
    except OSError as exc:
        problems.append(InputProblem(name, None, f"cannot open: {exc.strerror or exc}"))
        return
    if not head:
        problems.append(InputProblem(name, None, "empty file: no events"))
        return
    if head.startswith(EVTX_MAGIC):
        yield from read_evtx(path, name, source.chunks, time_field, problems, evtx_threads, (size, head))
    elif head.startswith(GZIP_MAGIC):
        yield from _read_gzip(path, name, time_field, problems, evtx_threads)
    else:
        try:
            with path.open("rb") as stream:
                yield from _read_json(stream, name, time_field, problems)
        except OSError as exc:
            problems.append(InputProblem(name, None, f"read error: {exc}"))


def _head(name: str) -> tuple[bytes, int]:
    """A file's first bytes (the EVTX header's chunk count among them) and its size: one open per file.
    os-level calls, because small files are common (a few dozen records) and a buffered open costs more."""
    fd = os.open(name, os.O_RDONLY)
    try:
        return os.read(fd, EVTX_LAYOUT_BYTES), os.fstat(fd).st_size
    finally:
        os.close(fd)


# --- gzip -----------------------------------------------------------------------------------------------


def _read_gzip(
    path: Path, name: str, time_field: str | None, problems: list[InputProblem], threads: int
) -> Iterator[Event]:
    try:
        with gzip.open(path, "rb") as probe:
            inner_head = probe.read(8)
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(InputProblem(name, None, f"not a readable gzip file: {exc}"))
        return
    if not inner_head:
        problems.append(InputProblem(name, None, "empty file (after gunzip): no events"))
        return
    if inner_head.startswith(EVTX_MAGIC):
        # the EVTX parser needs to seek: unpack to a temporary file, deleted on close
        with tempfile.TemporaryFile(prefix="ruleatlas-evtx-") as tmp:
            try:
                with gzip.open(path, "rb") as src:
                    shutil.copyfileobj(src, tmp, READ_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                problems.append(
                    InputProblem(name, None, f"gzip data damaged, EVTX read up to the damage: {exc}")
                )
            tmp.seek(0)
            yield from read_evtx(tmp, name, None, time_field, problems, threads)
        return
    with gzip.open(path, "rb") as stream:
        try:
            yield from _read_json(stream, name, time_field, problems)  # type: ignore[arg-type]
        except (OSError, EOFError, zlib.error) as exc:
            problems.append(InputProblem(name, None, f"gzip data damaged, rest of file skipped: {exc}"))


# --- JSON / JSONL ---------------------------------------------------------------------------------------


def flat_fields(obj: dict[str, object]) -> dict[str, object]:
    """A flat JSON event: its own keys, plus `a.b.c` paths into nested objects (an own key wins)."""
    if not any(isinstance(v, dict) for v in obj.values()):
        return obj
    fields = dict(obj)
    stack: list[tuple[str, dict[str, object]]] = [(k, v) for k, v in obj.items() if isinstance(v, dict)]
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            path = f"{prefix}.{key}"
            fields.setdefault(path, value)
            if isinstance(value, dict):
                stack.append((path, value))
    return fields


def _events_from(
    obj: object, name: str, number: int, time_field: str | None, problems: list[InputProblem], where: str
) -> Iterator[Event]:
    """The event of one JSON document, or the events of its records for a CloudTrail-style `Records` list."""
    records = obj.get("Records") if type(obj) is dict and len(obj) == 1 else None
    if type(records) is not list:
        event = _event_from(obj, name, number, time_field, problems, where)
        if event is not None:
            yield event
        return
    for position, record in enumerate(records, 1):
        if type(record) is not dict:
            problems.append(
                InputProblem(
                    name,
                    number,
                    f"record {position} of its Records list is a JSON {type(record).__name__}, not an "
                    "object: skipped",
                    where=where,
                )
            )
            continue
        event = _event_from(record, name, position, time_field, problems, where)
        if event is not None:
            yield event


events_from_document = _events_from  # public: the events of one parsed JSON document (the Spark engine)


def _event_from(
    obj: object, name: str, number: int, time_field: str | None, problems: list[InputProblem], where: str
) -> Event | None:
    if not isinstance(obj, dict):
        problems.append(
            InputProblem(name, number, f"a JSON {type(obj).__name__}, not an object: skipped", where=where)
        )
        return None
    fields = evtx_fields(obj) if is_evtx_json(obj) else flat_fields(obj)
    return Event(fields, name, number, None, time_field)


def _first_byte(stream: IO[bytes]) -> tuple[bytes, bytes]:
    """The first non-blank byte and what was read up to it (BOM dropped)."""
    consumed = b""
    while True:
        chunk = stream.read(4096)
        if not chunk:
            return b"", consumed
        if not consumed and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        consumed += chunk
        stripped = consumed.lstrip()
        if stripped:
            return stripped[:1], consumed


def _read_json(
    stream: IO[bytes], name: str, time_field: str | None, problems: list[InputProblem]
) -> Iterator[Event]:
    first, head = _first_byte(stream)
    if not first:
        problems.append(InputProblem(name, None, "empty file: no events"))
        return
    joined = _Prepended(head, stream)
    if first == b"{":
        yield from _read_jsonl(joined, name, time_field, problems)
    elif first == b"[":
        text = io.TextIOWrapper(io.BufferedReader(joined, READ_BYTES), encoding="utf-8", errors="strict")
        yield from _read_documents(text, name, time_field, problems)
    elif _looks_like_text(head):
        # JSON lines whose first line is damaged: read line by line, each bad line reported
        yield from _read_jsonl(joined, name, time_field, problems)
    else:
        shown = head.lstrip()[:16]
        problems.append(
            InputProblem(name, None, f"not EVTX, gzip or JSON (starts with {shown!r}): file skipped")
        )


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a character cut at the end of the sample is still text
    return True


class _Prepended(io.RawIOBase):
    """A binary stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _looks_like_document_start(line: bytes) -> bool:
    """A first line such as `{` or `{"Event": {` opens a pretty-printed document, not a JSONL record."""
    text = line.strip()
    return text.startswith(b"{") and (not text.endswith(b"}") or text == b"{")


def _read_jsonl(
    raw: io.RawIOBase, name: str, time_field: str | None, problems: list[InputProblem]
) -> Iterator[Event]:
    stream = io.BufferedReader(raw, READ_BYTES)
    loads = json.loads
    number = 0
    invalid = 0
    while True:
        line = stream.readline(MAX_DOCUMENT_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_DOCUMENT_BYTES and not line.endswith(b"\n"):
            while True:  # skip to the end of the line without holding it
                rest = stream.readline(READ_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            problems.append(
                InputProblem(
                    name,
                    number,
                    f"JSON line longer than the {limit_text()} limit for one document: skipped "
                    "(split it into one event per line, or into an array)",
                    where="line",
                )
            )
            continue
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except RecursionError:  # json's C decoder counts depth on the stack: one line costs one line
            problems.append(InputProblem(name, number, TOO_DEEP + ": skipped", where="line"))
            continue
        except ValueError as exc:
            if number == 1 and _looks_like_document_start(line):
                # a pretty-printed document (or several): decode values across lines instead
                again = io.BufferedReader(_Prepended(line, stream), READ_BYTES)
                yield from _read_documents(
                    io.TextIOWrapper(again, encoding="utf-8", errors="strict"), name, time_field, problems
                )
                return
            problems.append(InputProblem(name, number, f"invalid JSON: {_reason(exc)}", where="line"))
            invalid += 1
            if invalid == number == MAX_LEADING_INVALID_LINES:
                problems.append(
                    InputProblem(
                        name,
                        number,
                        f"the first {number} lines are not JSON: rest of "
                        "file skipped (not a JSON lines file?)",
                        where="line",
                    )
                )
                return
            continue
        yield from _events_from(obj, name, number, time_field, problems, "line")


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (column {exc.colno})"
    return str(exc)


def _read_documents(
    text: io.TextIOBase, name: str, time_field: str | None, problems: list[InputProblem]
) -> Iterator[Event]:
    """JSON values one after another; a top-level array is read element by element.

    Each value is decoded from a window of the text that grows until the value is complete or passes
    `MAX_DOCUMENT_BYTES` (then it is reported and the rest of the file is skipped: without a line structure
    there is no safe place to resume).
    """
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    line_base = 1  # line number of buf[0]
    eof = False
    in_array = False
    array_expect_value = True
    index = 0

    def line_at(p: int) -> int:
        return line_base + buf.count("\n", 0, p)

    def fill(want: int) -> bool:
        nonlocal buf, pos, line_base, eof
        if eof:
            return False
        if pos:
            line_base += buf.count("\n", 0, pos)
            buf = buf[pos:]
            pos = 0
        try:
            chunk = text.read(max(want, READ_BYTES))
        except UnicodeDecodeError as exc:
            problems.append(
                InputProblem(
                    name, line_base, f"not UTF-8 text ({exc.reason}): rest of file skipped", where="line"
                )
            )
            eof = True
            buf = ""
            return False
        if not chunk:
            eof = True
            return False
        buf += chunk
        return True

    while True:
        # skip blanks (and, inside an array, the separators)
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            if pos < len(buf) or not fill(READ_BYTES):
                break
        if pos >= len(buf):
            if in_array:
                problems.append(
                    InputProblem(name, line_at(pos), "JSON array not closed (file cut short?)", where="line")
                )
            return
        char = buf[pos]
        if in_array:
            if char == "]":
                in_array = False
                pos += 1
                continue
            if char == "," and not array_expect_value:
                array_expect_value = True
                pos += 1
                continue
            if not array_expect_value:
                problems.append(
                    InputProblem(
                        name,
                        line_at(pos),
                        f"invalid JSON: expected ',' or ']' after element "
                        f"{index}, found {char!r}: rest of file skipped",
                        where="line",
                    )
                )
                return
        elif char == "[":
            in_array = True
            array_expect_value = True
            pos += 1
            continue
        # decode one value, widening the window until it is complete
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
            except RecursionError:  # no line structure to resume at (see the docstring)
                problems.append(
                    InputProblem(name, line_at(pos), TOO_DEEP + ": rest of file skipped", where="line")
                )
                return
            except json.JSONDecodeError as exc:
                if len(buf) - pos > MAX_DOCUMENT_BYTES:
                    problems.append(
                        InputProblem(
                            name,
                            line_at(pos),
                            f"JSON value {index + 1} is larger than the {limit_text()} limit for one "
                            "document: rest of file skipped "
                            "(write one event per line, or an array of events)",
                            where="line",
                        )
                    )
                    return
                if fill(len(buf) - pos):
                    continue
                problems.append(
                    InputProblem(
                        name, line_at(exc.pos), f"invalid JSON: {exc.msg}: rest of file skipped", where="line"
                    )
                )
                return
            if end == len(buf) and not isinstance(value, dict | list | str) and fill(READ_BYTES):
                continue  # a bare number may go on in the next read
            break
        index += 1
        array_expect_value = False
        if end - pos > MAX_DOCUMENT_BYTES:  # decoded in one read, but over the limit all the same
            problems.append(
                InputProblem(
                    name,
                    line_at(pos),
                    f"JSON value {index} is larger than the {limit_text()} limit for one document: skipped",
                    where="line",
                )
            )
            pos = end
            continue
        yield from _events_from(value, name, index, time_field, problems, "element")
        pos = end
