"""The one URL builder of the web layer (house rule 7).

Every path here is site-relative, has no leading slash, is already percent-encoded, and names a directory
(`rules/sigma/x/`) whose page is its `index.html`. Pages link to each other only through `relative()`, so the
site works from any static host, under any prefix, and from a file:// path.

Schemes (stable: the same input gives the same path in every build):

- rules: `rules/<vendor>/<stem>/`: the rule uid is the URL (DESIGN.md), each segment percent-encoded, so the
  directory on disk is the decoded segment, which was a valid file name where the rule came from.
- browse `rules/`, search `search/`, all rules by folder `all-rules/`, fields `fields/`, API docs
  `api-docs/` (the JSON API itself lives under `/api/` of `ruleatlas serve` only).
- fields: `fields/<field>/`; indicators: `indicators/<field>/<kind>/<value-slug>-<hash>/`. Field names and
  values can hold anything (`C:\\Windows\\`, `/bin/sh`, `*`, 2 kB regexes, characters Windows forbids in
  file names), so they become slugs of `[A-Za-z0-9._-]`: a name made only of those characters is kept as is
  (`CommandLine`, `process.executable`); anything else is a readable prefix plus a hash of the exact text.
  An indicator always carries the hash of its full key (field, kind, normalised value, transforms: the key
  `ruleatlas.analysis.indicators` counts by), so two values that differ only in case or punctuation never
  share a page, even on a case-insensitive file system. Indicators shared by several rules have that page;
  every indicator is an entry (`#<value-slug>-<hash>`) on `indicators/<field>/<kind>/`
  (`indicator_link_path` says which an indicator links to).
- ATT&CK: `attack/` (the matrix), `attack/<technique id>/`, `attack/tactics/<tactic id>/`, `attack/gaps/`;
  ids upper case (`T1059.001`, `TA0002`). `technique_url` / `tactic_url` link to attack.mitre.org instead.
- telemetry: `telemetry/` (providers), `telemetry/<provider slug>/`, `telemetry/<provider slug>/<event id>/`
  (a catch-all event's name instead of a numeric id: `telemetry/linux/process_creation/`),
  `telemetry/uncovered/`, `telemetry/vendors/<vendor>/`, `telemetry/platforms/<platform>/`,
  `telemetry/priority/`; `readiness/`; coverage matrices `coverage/` and `coverage/<platform>/`.
  A provider slug is its name lower-cased, every run of other characters than `a-z0-9_.` a "-"
  (`microsoft-windows-sysmon`), plus a hash of the exact name when the name holds anything but letters,
  digits, spaces, "-", "_" and "." or is cut short; slugs that would name the fixed pages (`uncovered`,
  `vendors`, `platforms`, `priority`) get "-provider".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import PurePosixPath
from urllib.parse import quote, unquote

from ruleatlas.model import Scalar, scalar_text

ATTACK_BASE = "https://attack.mitre.org"
HOME_PATH = ""
STATIC_PATH = "static/"
ATTACK_PATH = "attack/"  # the matrix; technique pages below it, tactic pages under attack/tactics/
ATTACK_GAPS_PATH = "attack/gaps/"
KEYWORD_FIELD_SEGMENT = "~keyword"  # a keyword search has no field; "~" never appears in a field slug
TELEMETRY_PATH = "telemetry/"
TELEMETRY_UNCOVERED_PATH = "telemetry/uncovered/"
READINESS_PATH = "readiness/"
COVERAGE_PATH = "coverage/"  # the per-platform coverage matrices (web/collection_views.py)
_TELEMETRY_RESERVED = frozenset({"uncovered", "vendors", "platforms", "priority"})
_PROVIDER_PLAIN = re.compile(r"[A-Za-z0-9 _.-]+")
_PROVIDER_JUNK = re.compile(r"[^a-z0-9_.]+")
# Browse and search pages (issue 3). The browse list takes its filters as a query string
# (`rules/?level=high&technique=T1059`), which static hosts and file:// pass through to the page's script.
RULES_PATH = "rules/"
ALL_RULES_PATH = "all-rules/"  # every rule by vendor and folder, as plain links (no script needed)
SEARCH_PATH = "search/"
FIELDS_PATH = "fields/"
API_DOCS_PATH = "api-docs/"
OPENAPI_PATH = "openapi.json"
DATA_PATH = "data/"  # the static site's build-time indexes, as scripts so that file:// pages can load them

_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# What `quote(segment, safe="")` leaves as is (RFC 3986 unreserved): such a segment is its own encoding.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_TECHNIQUE_ID = re.compile(r"T(\d{4})(?:\.(\d{3}))?")
_TACTIC_ID = re.compile(r"TA\d{4}")
_VALUE_SLUG_CHARS = 40
_NAME_SLUG_CHARS = 60
_HASH_CHARS = 12  # 48 bits: a collision among a million indicators has odds below 1 in 500


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def _uid_segment(segment: str, uid: str) -> str:
    if not segment or set(segment) == {"."}:
        raise ValueError(f"rule uid {uid!r}: segment {segment!r} cannot be a path segment")
    # Nearly every uid is plain: a page listing thousands of rules spent most of its link time in quote().
    return segment if _UNRESERVED.fullmatch(segment) else quote(segment, safe="")


# Field, kind and indicator paths are asked for again on every page that shows the indicator (a rule page, an
# indicator list, an event page, a technique guide): remembered per process, as a few tens of thousands.
_PATH_MEMO = 1 << 17


@lru_cache(maxsize=_PATH_MEMO)
def _name_segment(name: str) -> str:
    """A field name as one path segment: itself when path-safe, else a readable slug plus its hash."""
    if _SAFE_NAME.fullmatch(name) and set(name) != {"."}:
        return name
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:_NAME_SLUG_CHARS]
    return f"{readable}-{_digest(name)}" if readable else _digest(name)


@lru_cache(maxsize=_PATH_MEMO)
def rule_path(uid: str) -> str:
    """`sigma/net_connection_x` -> `rules/sigma/net_connection_x/`. Raises ValueError for a malformed uid."""
    vendor, sep, stem = uid.partition("/")
    if not sep or "/" in stem:
        raise ValueError(f"rule uid {uid!r}: expected <vendor>/<stem>")
    return f"rules/{_uid_segment(vendor, uid)}/{_uid_segment(stem, uid)}/"


RULE_CLASSES_PATH = "rules/eq/"  # equivalence classes, largest first (web/relations_pages.py)
_CLASS_KEY = re.compile(r"[0-9a-f]{8,64}")


def rule_class_path(key: str) -> str:
    """`rules/eq/<class id>/`; raises ValueError for anything but a class id (lower-case hex)."""
    if not _CLASS_KEY.fullmatch(key):
        raise ValueError(f"class id {key!r}: expected lower-case hex")
    return f"{RULE_CLASSES_PATH}{key}/"


def field_segment(field: str | None) -> str:
    return KEYWORD_FIELD_SEGMENT if not field else _name_segment(field)


def field_path(field: str | None) -> str:
    """`Image` -> `fields/Image/`; None or "" (a keyword search) -> `fields/~keyword/`."""
    return f"fields/{field_segment(field)}/"


def indicator_path(field: str | None, kind: str, value: Scalar, transforms: Sequence[str] = ()) -> str:
    """The page of one indicator. Pass the normalised value (the document's `key`), not the display value."""
    return _indicator_path(field or "", kind, scalar_text(value), "|".join(transforms))


@lru_cache(maxsize=_PATH_MEMO)
def _indicator_path(field: str, kind: str, text: str, transforms: str) -> str:
    slug = _SLUG_JUNK.sub("-", text.lower()).strip("-")[:_VALUE_SLUG_CHARS].strip("-")
    digest = _digest(field, kind, text, transforms)
    leaf = f"{slug}-{digest}" if slug else digest
    return f"indicators/{field_segment(field)}/{_name_segment(kind or '_')}/{leaf}/"


# An indicator has a page of its own when at least this many counted rules share it. The others (84% of
# the keys of SigmaHQ: one rule each) are entries on their field-and-kind list page: a page of their own would
# list only the rule being read, and 35,000 page directories cost more build time than the whole rest of the
# site (web/catalog_site.py).
SHARED_INDICATOR_RULES = 2


def indicator_list_path(field: str | None, kind: str) -> str:
    """Every value of one field and comparison (`indicators/Image/ends_with/`): the parent of their pages."""
    return f"indicators/{field_segment(field)}/{_name_segment(kind or '_')}/"


def indicator_anchor(field: str | None, kind: str, value: Scalar, transforms: Sequence[str] = ()) -> str:
    """The id of an indicator's entry on its list page: the last segment of its own page's path."""
    return indicator_path(field, kind, value, transforms).rstrip("/").rsplit("/", 1)[1]


def indicator_link_path(
    field: str | None, kind: str, value: Scalar, transforms: Sequence[str], corpus_total: int
) -> str:
    """Where an indicator links to: its own page when shared (SHARED_INDICATOR_RULES), else its entry on
    the list page of its field and kind."""
    path = indicator_path(field, kind, value, transforms)
    if corpus_total >= SHARED_INDICATOR_RULES:
        return path
    parent, _, leaf = path.rstrip("/").rpartition("/")
    return f"{parent}/#{leaf}"


def technique_url(technique_id: str) -> str:
    """`T1059.001` -> https://attack.mitre.org/techniques/T1059/001/. Raises ValueError for another shape."""
    match = _TECHNIQUE_ID.fullmatch(technique_id.strip().upper())
    if not match:
        raise ValueError(f"not an ATT&CK technique id: {technique_id!r}")
    main, sub = match.groups()
    return f"{ATTACK_BASE}/techniques/T{main}/{sub}/" if sub else f"{ATTACK_BASE}/techniques/T{main}/"


def tactic_url(tactic_id: str) -> str:
    """`TA0011` -> https://attack.mitre.org/tactics/TA0011/. Raises ValueError for another shape."""
    tid = tactic_id.strip().upper()
    if not _TACTIC_ID.fullmatch(tid):
        raise ValueError(f"not an ATT&CK tactic id: {tactic_id!r}")
    return f"{ATTACK_BASE}/tactics/{tid}/"


def attack_technique_path(technique_id: str) -> str:
    """`T1059.001` -> `attack/T1059.001/` (our technique page). Raises ValueError for another shape."""
    tid = technique_id.strip().upper()
    if not _TECHNIQUE_ID.fullmatch(tid):
        raise ValueError(f"not an ATT&CK technique id: {technique_id!r}")
    return f"{ATTACK_PATH}{tid}/"


def attack_tactic_path(tactic_id: str) -> str:
    """`TA0011` -> `attack/tactics/TA0011/` (our tactic page). Raises ValueError for another shape."""
    tid = tactic_id.strip().upper()
    if not _TACTIC_ID.fullmatch(tid):
        raise ValueError(f"not an ATT&CK tactic id: {tactic_id!r}")
    return f"{ATTACK_PATH}tactics/{tid}/"


def anchor(*parts: str) -> str:
    """An HTML id for a group on a page (`anchor("sigma", "rules")` -> `sigma--rules`), always id-safe."""
    return "--".join(_name_segment(p) if p else "_" for p in parts)


def relative(from_path: str, to_path: str, index: str = "index.html") -> str:
    """The relative link from page `from_path` to `to_path` (both site paths as built here).

    A path ending in "/" is a directory page; the link names its `index` file (pass index="" for pretty
    URLs) because file:// browsing shows a directory listing, not index.html. A `#fragment` is kept.
    """
    target, hash_mark, fragment = to_path.partition("#")
    if "/" in from_path and from_path[: from_path.index("/")] != target.split("/", 1)[0]:
        # No folder in common (most links: a rule page to an indicator, a field, a technique): up to the
        # root and down. The same link as below, without the list work (hundreds of links a page).
        link = "../" * from_path.count("/") + target
        if not target or target.endswith("/"):
            link += index
        return f"{link}#{fragment}" if hash_mark else link
    from_dir = from_path.rsplit("/", 1)[0].split("/") if "/" in from_path else []
    target_parts = target.split("/")
    target_dir, leaf = target_parts[:-1], target_parts[-1]
    common = 0
    while common < min(len(from_dir), len(target_dir)) and from_dir[common] == target_dir[common]:
        common += 1
    parts = [".."] * (len(from_dir) - common) + target_dir[common:]
    link = "/".join(parts) + "/" if parts else ""
    link += leaf if leaf else index
    if not link:
        link = "./"
    return f"{link}#{fragment}" if hash_mark else link


def page_file(path: str) -> PurePosixPath:
    """Where the page of site path `path` lives under the site directory (decoded, `index.html` for dirs)."""
    parts = [unquote(p) for p in path.split("/") if p]
    if any(p in ("", ".", "..") or "/" in p or "\x00" in p for p in parts):
        raise ValueError(f"site path {path!r} does not name a file inside the site")
    if path.endswith("/") or not parts:
        parts.append("index.html")
    return PurePosixPath(*parts)


@lru_cache(maxsize=_PATH_MEMO)
def telemetry_provider_slug(name: str) -> str:
    """`Microsoft-Windows-Sysmon` -> `microsoft-windows-sysmon`; `MSSQL$AUDIT` -> `mssql-audit-<hash>`."""
    full = _PROVIDER_JUNK.sub("-", name.lower()).strip("-.")
    slug = full[:_NAME_SLUG_CHARS].strip("-.")
    if not slug or slug != full or not _PROVIDER_PLAIN.fullmatch(name):
        slug = f"{slug}-{_digest('provider', name)}" if slug else _digest("provider", name)
    return f"{slug}-provider" if slug in _TELEMETRY_RESERVED else slug


def telemetry_provider_path(name: str) -> str:
    """The page of a provider (its name, or the channel for events whose provider is not known)."""
    return f"{TELEMETRY_PATH}{telemetry_provider_slug(name)}/"


def telemetry_event_segment(event_id: int | str) -> str:
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        return str(event_id)
    return _name_segment(str(event_id) or "_")


def telemetry_event_path(provider: str, event_id: int | str) -> str:
    """`("Microsoft-Windows-Sysmon", 1)` -> `telemetry/microsoft-windows-sysmon/1/`."""
    return f"{telemetry_provider_path(provider)}{telemetry_event_segment(event_id)}/"


def telemetry_vendor_path(vendor: str) -> str:
    """The per-vendor reference page: events x providers with that vendor's rules."""
    return f"{TELEMETRY_PATH}vendors/{_name_segment(vendor or '_')}/"
