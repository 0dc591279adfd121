"""Log readers: EVTX, JSON (one object, an array, or several objects) and JSONL/NDJSON, plain or gzip.

Everything streams in constant memory: EVTX record by record (the `evtx` package, `records_json`), JSONL line
by line, JSON arrays element by element. One JSON document (a line, an array element, a top-level object)
may be at most `MAX_DOCUMENT_BYTES`; a larger one is reported and skipped, never loaded.

`Event.record` says where an event is in its file: the EVTX record number (the record header's, as
`evtx_dump` and the parser's errors count; `EventRecordID` in the fields is the System value), the line of
a JSONL file, or the value's position (1-based) in a JSON document or array.

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
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from evtx import PyEvtxParser

from ruleatlas.engine.event import Event, InputProblem, event_time, parse_time
from ruleatlas.engine.evtx_fields import evtx_fields, is_evtx_json

__all__ = [
    "LOG_SUFFIXES",
    "MAX_DOCUMENT_BYTES",
    "InputPlan",
    "InputProblem",
    "InputSource",
    "evtx_chunk_count",
    "flat_fields",
    "plan_inputs",
    "read_events",
    "read_source",
]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # one JSON value (line, array element, object); larger ones are skipped
LOG_SUFFIXES = (".evtx", ".json", ".jsonl", ".ndjson", ".log")
EVTX_MAGIC = b"ElfFile\x00"
GZIP_MAGIC = b"\x1f\x8b"
EVTX_HEADER_BYTES = 4096
EVTX_CHUNK_BYTES = 65536
READ_BYTES = 1024 * 1024
MAX_LEADING_INVALID_LINES = 100  # a text file whose first lines are all not JSON is given up after these
_RECORD_ERROR = re.compile(r"Failed to parse record number (\d+): ?(.*)", re.S)


@dataclass(slots=True, frozen=True)
class InputSource:
    """One unit of reading: a file, or a range of an EVTX file's chunks (for splitting big files)."""

    path: Path
    chunks: tuple[int, int] | None = None  # [first, end) chunk indexes of an EVTX file


@dataclass(slots=True)
class InputPlan:
    files: list[Path] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # suffix -> files in folders that are not logs


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
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if _is_log_name(name):
                        plan.files.append(Path(root) / name)
                    else:
                        suffix = Path(name).suffix.lower() or "(none)"
                        plan.skipped[suffix] = plan.skipped.get(suffix, 0) + 1
        elif path.is_file():
            plan.files.append(path)
        else:
            problems.append(InputProblem(str(path), None, "no such file or folder"))
    return plan


def read_events(
    paths: Sequence[Path],
    *,
    time_field: str | None = None,
    problems: list[InputProblem],
    evtx_threads: int = 1,
) -> Iterator[Event]:
    """Every event of every file under `paths`, in order (folders sorted), streaming."""
    for path in plan_inputs(paths, problems).files:
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
        with path.open("rb") as raw:
            head = raw.read(8)
    except OSError as exc:
        problems.append(InputProblem(name, None, f"cannot open: {exc.strerror or exc}"))
        return
    if not head:
        problems.append(InputProblem(name, None, "empty file: no events"))
        return
    if head.startswith(EVTX_MAGIC):
        yield from _read_evtx(path, name, source.chunks, time_field, problems, evtx_threads)
    elif head.startswith(GZIP_MAGIC):
        yield from _read_gzip(path, name, time_field, problems, evtx_threads)
    else:
        try:
            with path.open("rb") as stream:
                yield from _read_json(stream, name, time_field, problems)
        except OSError as exc:
            problems.append(InputProblem(name, None, f"read error: {exc}"))


# --- EVTX -----------------------------------------------------------------------------------------------


def evtx_chunk_count(path: Path) -> int:
    """How many whole 64 KiB chunks an EVTX file holds (0 for anything else)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            if f.read(8) != EVTX_MAGIC:
                return 0
    except OSError:
        return 0
    return max(size - EVTX_HEADER_BYTES, 0) // EVTX_CHUNK_BYTES


def _evtx_layout_problems(path: Path, name: str) -> list[InputProblem]:
    """What the `evtx` package skips without a word: a file cut inside a chunk, or shorter than its header."""
    out: list[InputProblem] = []
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            header = f.read(128)
    except OSError as exc:
        return [InputProblem(name, None, f"cannot open: {exc}")]
    if size < EVTX_HEADER_BYTES or len(header) < 44:
        return out  # the parser reports these itself
    whole, partial = divmod(size - EVTX_HEADER_BYTES, EVTX_CHUNK_BYTES)
    declared = struct.unpack_from("<H", header, 42)[0]
    if partial:
        out.append(
            InputProblem(
                name,
                whole,
                f"truncated EVTX: chunk {whole} at byte {EVTX_HEADER_BYTES + whole * EVTX_CHUNK_BYTES} "
                f"holds {partial} of {EVTX_CHUNK_BYTES} bytes; its records are not read",
                where="chunk",
            )
        )
    elif declared > whole:
        out.append(
            InputProblem(
                name,
                whole,
                f"truncated EVTX: the header lists {declared} chunks, the file holds {whole}",
                where="chunk",
            )
        )
    return out


class _ChunkView(io.RawIOBase):
    """An EVTX file seen as its header followed by chunks [first, end) only."""

    def __init__(self, path: Path, first: int, end: int) -> None:
        self._file = path.open("rb")
        self._start = EVTX_HEADER_BYTES + first * EVTX_CHUNK_BYTES
        self._size = EVTX_HEADER_BYTES + (end - first) * EVTX_CHUNK_BYTES
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        done = 0
        while done < want:
            pos = self._pos + done
            real = pos if pos < EVTX_HEADER_BYTES else self._start + pos - EVTX_HEADER_BYTES
            limit = EVTX_HEADER_BYTES - pos if pos < EVTX_HEADER_BYTES else want - done
            self._file.seek(real)
            data = self._file.read(min(limit, want - done))
            if not data:
                break
            buffer[done : done + len(data)] = data
            done += len(data)
        self._pos += done
        return done

    def close(self) -> None:
        self._file.close()
        super().close()


class _RecordErrors:
    """Consecutive undecodable records with the same cause become one problem (e.g. a damaged chunk)."""

    def __init__(self, name: str, problems: list[InputProblem]) -> None:
        self.name = name
        self.problems = problems
        self.first: int | None = None
        self.last: int | None = None
        self.reason = ""
        self.last_good: int | None = None  # the record read before the damage, to place unnumbered errors

    def add(self, exc: Exception) -> None:
        text = str(exc)
        found = _RECORD_ERROR.match(text)
        number = int(found.group(1)) if found else None
        reason = (found.group(2) if found else text).strip()
        if (
            self.first is not None
            and reason == self.reason
            and number is not None
            and self.last is not None
            and number == self.last + 1
        ):
            self.last = number
            return
        self.flush()
        self.first, self.last, self.reason = number, number, reason

    def flush(self) -> None:
        if self.first is None and not self.reason:
            return
        if self.first is not None and self.last is not None and self.last > self.first:
            message = f"records {self.first}-{self.last} ({self.last - self.first + 1}) cannot be decoded: "
        elif self.first is None:
            after = (
                f"after record {self.last_good}" if self.last_good is not None else "before the first record"
            )
            message = f"data {after} cannot be decoded: "
        else:
            message = "cannot be decoded: "
        self.problems.append(InputProblem(self.name, self.first, message + self.reason))
        self.first, self.last, self.reason = None, None, ""


def _read_evtx(
    path: Path | IO[bytes],
    name: str,
    chunks: tuple[int, int] | None,
    time_field: str | None,
    problems: list[InputProblem],
    threads: int,
) -> Iterator[Event]:
    view: _ChunkView | None = None
    if isinstance(path, Path):
        if chunks is None or chunks[0] == 0:  # layout is checked once per file, by the source holding chunk 0
            problems.extend(_evtx_layout_problems(path, name))
        if chunks is not None:
            view = _ChunkView(path, *chunks)
    try:
        try:
            target = view if view is not None else (str(path) if isinstance(path, Path) else path)
            records = PyEvtxParser(target, number_of_threads=threads).records_json()
        except (OSError, RuntimeError, ValueError) as exc:
            problems.append(InputProblem(name, None, f"not a readable EVTX file: {exc}"))
            return
        errors = _RecordErrors(name, problems)
        loads = json.loads
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except RuntimeError as exc:
                errors.add(exc)
                continue
            except OSError as exc:
                errors.flush()
                problems.append(InputProblem(name, None, f"read error, rest of file skipped: {exc}"))
                break
            if errors.first is not None or errors.reason:
                errors.flush()
            assert record is not None
            number = record["event_record_id"]
            errors.last_good = number
            try:
                obj = loads(record["data"])
                fields = evtx_fields(obj)
            except (ValueError, KeyError, TypeError, AssertionError) as exc:
                problems.append(InputProblem(name, number, f"record cannot be converted: {exc}"))
                continue
            if time_field is None:
                timestamp = parse_time(fields.get("TimeCreated")) or parse_time(record["timestamp"])
            else:
                timestamp = event_time(fields, time_field)
            yield Event(fields, name, number, timestamp)
        errors.flush()
    finally:
        if view is not None:
            view.close()


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
            yield from _read_evtx(tmp, name, None, time_field, problems, threads)
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


def _event_from(
    obj: object, name: str, number: int, time_field: str | None, problems: list[InputProblem], where: str
) -> Event | None:
    if not isinstance(obj, dict):
        problems.append(
            InputProblem(name, number, f"a JSON {type(obj).__name__}, not an object: skipped", where=where)
        )
        return None
    fields = evtx_fields(obj) if is_evtx_json(obj) else flat_fields(obj)
    return Event(fields, name, number, event_time(fields, time_field))


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
        event = _event_from(obj, name, number, time_field, problems, "line")
        if event is not None:
            yield event


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
        event = _event_from(value, name, index, time_field, problems, "element")
        if event is not None:
            yield event
        pos = end
