"""Linux auditd: the audit record types of the kernel's `linux/audit.h` (Debian's linux-libc-dev).

A record's `type=` is the name of its `AUDIT_<NAME>` message type (`type=EXECVE` is AUDIT_EXECVE, 1309). The
header is read where it is installed (`/usr/include/linux/audit.h`) or from a path given to the build; the
record types are the message types of the kernel (1000-1999) and user-space ranges (2000-2999), not the
range markers (`AUDIT_FIRST_USER_MSG`...). Without the header the platform is still listed, with a note,
and its events are the ones rules and samples name.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import (
    DEFINED,
    PLATFORM_KIND,
    SEEN,
    EventDef,
    FieldDef,
    PlatformDef,
    ProviderDef,
)

KEY = "auditd"
PROVIDER = "auditd"
DEFAULT_HEADER = Path("/usr/include/linux/audit.h")
_DEFINE = re.compile(r"^#define\s+AUDIT_([A-Z0-9_]+)\s+(\d+)\s*(?:/\*\s*(.*?)\s*\*/)?", re.MULTILINE)
_MARKER = re.compile(r"^(FIRST|LAST)_")
RECORD_RANGE = range(1000, 3000)
FIELDS = (
    ("type", "string", "The record type (SYSCALL, EXECVE, PATH...)."),
    ("msg", "string", "audit(<time>:<serial>): the event the record belongs to."),
)


def record_types(text: str) -> dict[str, tuple[int, str]]:
    """`AUDIT_<NAME> <number> /* comment */` defines in the record ranges: name -> (number, comment)."""
    out: dict[str, tuple[int, str]] = {}
    for name, number, comment in _DEFINE.findall(text):
        value = int(number)
        if value in RECORD_RANGE and not _MARKER.match(name):
            out.setdefault(name, (value, comment or ""))
    return out


def header_source(header: Path) -> str:
    """`linux-libc-dev 6.1.187-1 (/usr/include/linux/audit.h)` when dpkg knows the file, else its path."""
    try:
        owner = subprocess.run(["dpkg", "-S", str(header)], capture_output=True, text=True, timeout=10)
        package = owner.stdout.split(":", 1)[0].strip() if owner.returncode == 0 else ""
        if package:
            version = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            return f"{package} {version} ({header})".replace("  ", " ")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return str(header)


def load_auditd(problems: list[Problem], header: Path | None = None) -> tuple[PlatformDef, list[ProviderDef]]:
    path = header or DEFAULT_HEADER
    platform = PlatformDef(
        key=KEY,
        label="Linux auditd",
        status=DEFINED,
        action="the record's type (type=EXECVE)",
        description="The audit record types of the kernel's linux/audit.h.",
    )
    provider = ProviderDef(
        name=PROVIDER,
        label="auditd",
        kind=PLATFORM_KIND,
        platform=KEY,
        description="Linux audit daemon records, one event per record type.",
    )
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        platform.status = SEEN
        platform.source = "seen in rules and samples"
        platform.note = (
            f"{path} could not be read ({exc.strerror or exc}): install Debian's linux-libc-dev or pass the "
            "header's path; the record types listed are only those rules and samples name."
        )
        if header is not None:
            problems.append(Problem(str(path), f"audit header not read: {exc}", severity="warning"))
        return platform, [provider]
    platform.source = header_source(path)
    provider.sources = (platform.source,)
    fields = [FieldDef(*f) for f in FIELDS]
    for name, (number, comment) in sorted(record_types(text).items(), key=lambda item: item[1][0]):
        provider.events[name] = EventDef(
            event_id=name,
            title=f"{name} ({number})" + (f": {comment}" if comment else ""),
            description=comment,
            fields=list(fields),
            named=True,
        )
    return platform, [provider]
