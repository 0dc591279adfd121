"""EVTX: reading files record by record (`read_evtx`), and records (as the `evtx` package's JSON renders
them) to fields named the way Sigma rules name them (`evtx_fields`).

Reading: `records_json` (the package's fastest API that gives names: its XML is no faster to get and would
need parsing), one record at a time, decoded by orjson when installed (json otherwise); a record the
package cannot decode is reported (runs of them as one problem with the record range) and reading goes on;
a file cut inside a chunk, which the package skips without a word, is reported from the file's size and
header; `chunks` reads a range of chunks only (for splitting big files across workers).

System: `Provider/@Name` -> `Provider_Name`, `TimeCreated/@SystemTime` -> `TimeCreated`,
`Execution/@ProcessID` -> `ProcessID`, `Security/@UserID` -> `UserID`, ...; `EventID` always an int
(its `@Qualifiers` kept as `Qualifiers`). EventData / UserData: every leaf by its name (`Data[@Name]` is
already hoisted by the package); unnamed `Data` items are kept as `Data` (a list when several). System
names win over an EventData item of the same name, which stays reachable as `EventData.<name>`. An empty
element is empty text (""), whether the package renders it as "" or as null: the XML does not tell them
apart, and the matchers read it as Sigma's `null` and `''` both (docs/engine-contract.md).
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

from evtx import PyEvtxParser

from ruleatlas.logs.event import Event, InputProblem

fast_loads: Callable[[str], Any] | None
try:  # orjson decodes the package's JSON about 3x faster than json; json stays the fallback
    from orjson import loads as fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency, but the engine runs without it
    fast_loads = None

EVTX_MAGIC = b"ElfFile\x00"
EVTX_HEADER_BYTES = 4096
EVTX_CHUNK_BYTES = 65536
EVTX_LAYOUT_BYTES = 128  # the header bytes read to check a file's layout (its chunk count is at 42)
_RECORD_ERROR = re.compile(r"Failed to parse record number (\d+): ?(.*)", re.S)

ATTRS = "#attributes"
TEXT = "#text"
SEPARATE_ATTRS = "_attributes"

# System elements whose value lives in XML attributes: element -> {attribute: field name}.
SYSTEM_ATTRIBUTES: dict[str, dict[str, str]] = {
    "Provider": {"Name": "Provider_Name", "Guid": "Provider_Guid", "EventSourceName": "EventSourceName"},
    "TimeCreated": {"SystemTime": "TimeCreated"},
    "Execution": {"ProcessID": "ProcessID", "ThreadID": "ThreadID"},
    "Security": {"UserID": "UserID"},
    "Correlation": {"ActivityID": "ActivityID", "RelatedActivityID": "RelatedActivityID"},
}


def is_evtx_json(obj: dict[str, object]) -> bool:
    """True for an EVTX record rendered as JSON (`{"Event": {"System": ...}}`)."""
    event = obj.get("Event")
    return isinstance(event, dict) and isinstance(event.get("System"), dict)


def _int_or_text(value: object) -> object:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _system_fields(system: dict[str, object], out: dict[str, object], separate: bool) -> None:
    if separate:
        _system_fields_separate(system, out)
        return
    # the plain rendering, every record: kept tight (no generic recursion, lazy default names)
    for key, value in system.items():
        if type(value) is not dict:
            if value is not None:  # an empty element (null) such as <Correlation/> carries nothing to match
                out[key] = value
            continue
        attrs = value.get(ATTRS)
        if attrs is not None and type(attrs) is dict:
            if key == "EventID":
                if "Qualifiers" in attrs:
                    out["Qualifiers"] = attrs["Qualifiers"]
            else:
                names = SYSTEM_ATTRIBUTES.get(key)
                for attr, attr_value in attrs.items():
                    name = names.get(attr) if names is not None else None
                    out[name or f"{key}_{attr}"] = attr_value
        if key == "EventID":
            out["EventID"] = _int_or_text(value.get(TEXT))
        elif TEXT in value:
            out[key] = value[TEXT]
    event_id = out.get("EventID")
    if type(event_id) is str:
        out["EventID"] = _int_or_text(event_id)


def _system_fields_separate(system: dict[str, object], out: dict[str, object]) -> None:
    """System as rendered with `separate_json_attributes` (JSON exported by other tools)."""
    for key, value in system.items():
        if type(value) is dict:
            if key == "EventID":
                attrs = value.get(ATTRS)
                if type(attrs) is dict and "Qualifiers" in attrs:
                    out["Qualifiers"] = attrs["Qualifiers"]
                out["EventID"] = _int_or_text(value.get(TEXT))
                continue
            if key.endswith(SEPARATE_ATTRS):
                # {"Provider_attributes": {"Name": ...}}
                element = key[: -len(SEPARATE_ATTRS)]
                names = SYSTEM_ATTRIBUTES.get(element, {})
                for attr, attr_value in value.items():
                    out[names.get(attr, f"{element}_{attr}" if element != "EventID" else attr)] = attr_value
                continue
            own_names = SYSTEM_ATTRIBUTES.get(key)
            attrs = value.get(ATTRS)
            if type(attrs) is dict:
                for attr, attr_value in attrs.items():
                    out[own_names.get(attr, f"{key}_{attr}") if own_names else f"{key}_{attr}"] = attr_value
            if TEXT in value:
                out[key] = value[TEXT]
        elif value is not None:
            out[key] = value
    event_id = out.get("EventID")
    if type(event_id) is str:
        out["EventID"] = _int_or_text(event_id)


# value types a plain EventData item may hold to be copied as it is (`_data_fields`' fast path): no null
# (read as ""), no nested element (a dict)
_PLAIN_VALUES = frozenset({str, int, float, bool, list})


def _data_fields(section: object, out: dict[str, object], prefix: str, separate: bool) -> None:
    """Leaves of EventData/UserData by name; a leaf whose name is taken goes under `prefix.<path>`."""
    if type(section) is not dict:
        if section is not None:
            out.setdefault(prefix, section)
        return
    if (
        ATTRS not in section
        and "Data" not in section
        and _PLAIN_VALUES.issuperset(map(type, section.values()))
        and " " not in "".join(section)
        and out.keys().isdisjoint(section)
    ):
        # the usual EventData (Sysmon, most Security events): named scalar items, none of them taken by
        # System: what the loop below would do, item by item, in one C-level update
        out.update(section)
        return
    for key, value in section.items():
        kind = type(value)
        if kind is not dict and key != "Data" and key != ATTRS:
            if " " in key:  # Sigma names such fields without the spaces (spec: Defender 1119 "Source Name")
                key = key.replace(" ", "")
            if value is None:  # an empty element the package renders as null (`<Binary/>`): empty text,
                value = ""  # like the empty elements it renders as "" (a `null` rule matches both)
            if key in out:
                out[f"{prefix}.{key}"] = value
            else:
                out[key] = value
            continue
        if key == ATTRS or (separate and key.endswith(SEPARATE_ATTRS)):
            continue
        if key == "Data":
            unnamed = value.get(TEXT) if isinstance(value, dict) else value
            if unnamed is not None:
                out.setdefault("Data", unnamed)
            continue
        assert isinstance(value, dict)
        if TEXT in value:
            leaf = value[TEXT]
            key = key.replace(" ", "")
            if key in out:
                out[f"{prefix}.{key}"] = leaf
            else:
                out[key] = leaf
        else:
            _data_fields(value, out, f"{prefix}.{key}", separate)


def evtx_fields(obj: dict[str, object]) -> dict[str, object]:
    """Flatten one EVTX JSON record (`{"Event": {...}}`) into Sigma-named fields."""
    event = obj["Event"]
    assert type(event) is dict
    separate = "Event_attributes" in obj  # rendered with separate_json_attributes
    out: dict[str, object] = {}
    system = event.get("System")
    if type(system) is dict:
        _system_fields(system, out, separate)
    for key, section in event.items():
        if key == "System" or key == ATTRS or (separate and key.endswith(SEPARATE_ATTRS)):
            continue
        _data_fields(section, out, key, separate)
    return out


# --- reading EVTX files -------------------------------------------------------------------------------


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


def _evtx_layout_problems(name: str, size: int, header: bytes) -> list[InputProblem]:
    """What the `evtx` package skips without a word: a file cut inside a chunk, or shorter than its header.

    `size` is the file's size, `header` its first bytes (the chunk count is at offset 42)."""
    out: list[InputProblem] = []
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


def read_evtx(
    path: Path | IO[bytes],
    name: str,
    chunks: tuple[int, int] | None,
    time_field: str | None,
    problems: list[InputProblem],
    threads: int,
    layout: tuple[int, bytes] | None = None,
) -> Iterator[Event]:
    """The events of an EVTX file (or of its chunks [first, end)); `layout` is the file's size and first
    bytes when the caller has read them (else they are read here), to report a truncated file."""
    view: _ChunkView | None = None
    if isinstance(path, Path):
        if chunks is None or chunks[0] == 0:  # layout is checked once per file, by the source holding chunk 0
            if layout is None:
                try:
                    with path.open("rb") as f:
                        layout = (os.fstat(f.fileno()).st_size, f.read(EVTX_LAYOUT_BYTES))
                except OSError as exc:
                    problems.append(InputProblem(name, None, f"cannot open: {exc}"))
                    return
            problems.extend(_evtx_layout_problems(name, *layout))
        if chunks is not None:
            view = _ChunkView(path, *chunks)
    try:
        try:
            target = view if view is not None else (str(path) if isinstance(path, Path) else path)
            # typed as yielding None too; it yields a dict per record or raises
            records = cast(
                Iterator[dict[str, Any]], PyEvtxParser(target, number_of_threads=threads).records_json()
            )
        except (OSError, RuntimeError, ValueError) as exc:
            problems.append(InputProblem(name, None, f"not a readable EVTX file: {exc}"))
            return
        errors = _RecordErrors(name, problems)
        loads = json.loads
        # orjson where it can: the package writes JSON from typed Rust values (64-bit integers at most,
        # no NaN), where orjson and json give the same objects; anything orjson refuses goes to json,
        # whose answer (value or error) stands.
        quick = fast_loads if fast_loads is not None else loads
        pending = False  # undecodable records not yet reported (a run of them is one problem)
        number: int | None = None
        while True:  # a `for` over the records, resumed after each record the package cannot decode
            try:
                for record in records:
                    if pending:
                        errors.flush()
                        pending = False
                    number = record["event_record_id"]
                    text = record["data"]
                    try:
                        try:
                            obj = quick(text)
                        except ValueError:
                            obj = loads(text)
                        fields = evtx_fields(obj)
                    except (ValueError, KeyError, TypeError, AssertionError) as exc:
                        problems.append(InputProblem(name, number, f"record cannot be converted: {exc}"))
                        continue
                    # the record's own time unless the user names a field (parsed when first asked: Event)
                    if time_field is None:
                        yield Event(fields, name, number, None, "TimeCreated", record["timestamp"])
                    else:
                        yield Event(fields, name, number, None, time_field)
                break
            except RuntimeError as exc:  # raised by the package's iterator: the record, not the file
                errors.last_good = number
                errors.add(exc)
                pending = True
            except OSError as exc:
                errors.flush()
                problems.append(InputProblem(name, None, f"read error, rest of file skipped: {exc}"))
                pending = False
                break
        errors.flush()
    finally:
        if view is not None:
            view.close()
