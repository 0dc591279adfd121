"""What every vendor reader shares: listing a checkout, a Rule's skeleton, safe YAML mappings, the level
scale, ATT&CK ids, and the text helpers metadata needs.

Vendor readers fill `Rule`s from their own formats; the pieces here are the ones that would otherwise be
written six times (and drift): where a rule's URL points, how a file's uid is made, which words are Sigma
levels, how a broken YAML file becomes a Problem with its line.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from yaml.nodes import MappingNode, SequenceNode

from ruleatlas.model import LEVELS, TIMESPAN_UNIT_SECONDS, Problem, Rule, SourceRef, SourceResult
from ruleatlas.sources import ParseOutput, RuleFile, SourceReader
from ruleatlas.sources.yaml_load import (
    MAX_FILE_BYTES,
    YamlError,
    check_budget,
    check_text,
    compose_documents,
    items,
    line_of,
    may_have_aliases,
    to_python,
)

_LEVEL_WORDS = {level: level for level in LEVELS} | {"info": "informational", "information": "informational"}
# A technique id stands alone or follows "attack" glued on (SOC Prime's `attackt1496`).
_TECHNIQUE = re.compile(r"(?:(?<![A-Za-z0-9])|(?<=attack))T(\d{4})(?:[./](\d{3}))?(?![0-9])", re.IGNORECASE)
_SPAN = re.compile(r"(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)")
_SLASH_DATE = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")


# --- listing -------------------------------------------------------------------------------------


def walk(
    root: Path,
    start: str,
    suffixes: tuple[str, ...],
    folder_of: Callable[[str], str],
    skip: Callable[[str], bool] = lambda rel: False,
) -> list[RuleFile]:
    """Every file under `root/start` ending in one of `suffixes` (case-insensitive), hidden entries skipped,
    sorted by relative path; `folder_of(rel_path)` names the folder the rule is counted in; `skip(rel_path)`
    leaves out files that are no rules (a Panther pack, a README)."""
    found: list[RuleFile] = []
    base = root / start if start else root
    if not base.is_dir():
        return found
    prefix = len(
        os.path.join(root, "")
    )  # rel paths by slicing: `Path.relative_to` cost most of a rebuild's listing
    # walked as the string root + start, so that every dirpath begins with root's own spelling
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, start) if start else os.fspath(root)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = dirpath[prefix:].replace(os.sep, "/")
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(suffixes):
                continue
            rel = f"{folder}/{name}" if folder else name
            if not skip(rel):
                found.append(RuleFile(Path(dirpath, name), rel, folder_of(rel)))
    found.sort(key=lambda item: item.rel_path)
    return found


def part(rel_path: str, index: int) -> str:
    """The `index`th folder of a relative path (`.` when the path is not that deep)."""
    parts = rel_path.split("/")
    return parts[index] if index < len(parts) - 1 else "."


def read_tree(reader: SourceReader, root: Path, *, repo_url: str = "", commit: str = "") -> SourceResult:
    """List and parse a whole checkout with one reader module, uids made unique (tests and benchmarks: the
    build reads through `ingest`, which hashes and caches). A file that cannot be read, or is over the size
    cap, is a Problem and parsing goes on."""
    from ruleatlas.sources.sigma import assign_unique_uids  # the one uid policy for every vendor

    result = SourceResult()
    for file in reader.list_files(root):
        result.files += 1
        result.files_per_folder[file.folder] = result.files_per_folder.get(file.folder, 0) + 1
        text, problem = read_text(file.path, file.rel_path)
        if text is None:
            result.errors.extend([problem] if problem else [])
            continue
        companions: dict[str, str] = {}
        for rel in file.companions:
            if not (root / rel).is_file():
                continue  # the reader says which companion is missing, at the line that names it
            companion, companion_problem = read_text(root / rel, rel)
            if companion is not None:
                companions[rel] = companion
            elif companion_problem is not None:
                result.errors.append(companion_problem)
        rules, problems = reader.parse_file(
            text, file.rel_path, file.folder, repo_url=repo_url, commit=commit, companions=companions
        )
        result.rules.extend(rules)
        result.errors.extend(problems)
    assign_unique_uids(result.rules)
    return result


def read_text(path: Path, rel_path: str) -> tuple[str | None, Problem | None]:
    """A file's text (undecodable bytes kept as surrogates, so a later check names the line), or a Problem."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, too_large(rel_path, size)
        raw = path.read_bytes()
    except OSError as exc:
        return None, Problem(rel_path, f"cannot read file: {exc.strerror or exc}")
    return raw.decode("utf-8", errors="surrogateescape"), None


def unreadable_text(text_: str, rel_path: str) -> Problem | None:
    """Why a non-YAML rule file cannot be read (over the size cap, or not UTF-8: the reader decoded
    undecodable bytes as surrogates, so the line is known), or None. YAML files get the same checks from the
    loader."""
    try:
        check_text(text_)
    except YamlError as exc:
        hint = (
            "save the file as UTF-8"
            if exc.line
            else "a rule file is a few KB; check that this file is a rule"
        )
        return Problem(rel_path, exc.message, exc.line, hint)
    return None


def too_large(rel_path: str, size: int) -> Problem:
    return Problem(
        rel_path,
        f"file too large ({size} bytes > {MAX_FILE_BYTES})",
        hint="a rule file is a few KB; check that this file is a rule",
    )


# --- rules ---------------------------------------------------------------------------------------


def stem(rel_path: str) -> str:
    name = rel_path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


def source_url(repo_url: str, commit: str, rel_path: str) -> str:
    """The file's page in its repository at the snapshot commit (paths with spaces are quoted)."""
    if not repo_url:
        return ""
    return f"{repo_url.rstrip('/')}/blob/{commit or 'master'}/{quote(rel_path)}"


def new_rule(
    vendor: str,
    language: str,
    text: str,
    rel_path: str,
    folder: str,
    *,
    repo_url: str,
    commit: str,
    companions: dict[str, str] | None = None,
) -> Rule:
    """A Rule with what every vendor's rule has: uid `<vendor>/<stem>`, source at the commit, the body
    verbatim, a content hash over the file and its companions, and `logic_parsed=False` (stages come with
    the logic parsers)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape"))
    for rel in sorted(companions or {}):
        digest.update(b"\0" + rel.encode() + b"\0")
        digest.update((companions or {})[rel].encode("utf-8", "surrogateescape"))
    return Rule(
        uid=f"{vendor}/{stem(rel_path)}",
        vendor=vendor,
        language=language,
        source=SourceRef(repo_url, rel_path, commit, source_url(repo_url, commit, rel_path)),
        folder=folder,
        body=text.removeprefix("\ufeff"),
        content_hash=digest.hexdigest(),
        logic_parsed=False,
    )


def level(native: Any) -> str:
    """A native severity on Sigma's scale (`Info` → informational, `High` → high), or "" if it is none."""
    return _LEVEL_WORDS.get(text(native).strip().lower(), "")


def severity_level(
    native: str, rel_path: str, line: int | None, accepted: str, problems: list[Problem]
) -> str:
    """`level(native)`; a severity off Sigma's scale is a warning naming the values the vendor accepts."""
    found = level(native)
    if native and not found:
        problems.append(
            Problem(rel_path, f"unknown severity '{native}'", line, f"one of: {accepted}", severity="warning")
        )
    return found


def one_rule(rule: Rule, problems: list[Problem]) -> ParseOutput:
    """A file's one rule, carrying the file's problems (each naming the rule)."""
    rule.problems = problems
    for problem in problems:
        problem.rule_uid = rule.uid
    return [rule], []


def attack_ids(values: Iterable[Any]) -> tuple[str, ...]:
    """ATT&CK technique ids (`T1059`, `T1059.001`, also written `t1059/001`) found in the values, upper-cased,
    in order, once each."""
    found: list[str] = []
    for value in values:
        for match in _TECHNIQUE.finditer(text(value)):
            technique = f"T{match.group(1)}" + (f".{match.group(2)}" if match.group(2) else "")
            if technique not in found:
                found.append(technique)
    return tuple(found)


def facts(*pairs: tuple[str, Any]) -> tuple[tuple[str, str], ...]:
    """Header facts in the given order; empty values are left out, lists joined with ", "."""
    out = []
    for label, value in pairs:
        shown = ", ".join(strings(value)) if isinstance(value, list | tuple) else text(value)
        if shown:
            out.append((label, shown))
    return tuple(out)


def span_seconds(span: str) -> int | None:
    """`9m`, `1h`, `14d`, `30s`, `5min` as seconds; None when the text is not a time span."""
    match = _SPAN.fullmatch(span.strip().lower())
    if not match:
        return None
    return int(match.group(1)) * TIMESPAN_UNIT_SECONDS[match.group(2)[0]]


def text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def strings(value: Any) -> tuple[str, ...]:
    """A value that should be a list of strings, as one: a single value is a one-item list, None is empty."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(text(item) for item in value if item is not None and text(item) != "")
    return (text(value),) if text(value) else ()


def split_list(value: Any) -> tuple[str, ...]:
    """A list written as one string (`"a, b"`, one value per line), or an actual list, as stripped items."""
    if isinstance(value, list | tuple):
        return strings(value)
    return tuple(item.strip() for item in re.split(r"[,\n]", text(value)) if item.strip())


def iso_date(value: Any) -> str:
    """A date as written, except Sigma 1.x's and Elastic's 2019/10/25, which become ISO 2019-10-25."""
    written = text(value)
    match = _SLASH_DATE.fullmatch(written)
    if match:
        year, month, day = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return written


# --- YAML ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class YamlMapping:
    """A YAML file's top-level mapping as plain data, with the line of each key (for problems)."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    line: int = 1

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


def load_mapping(text_: str, rel_path: str, what: str) -> tuple[YamlMapping | None, list[Problem]]:
    """The single YAML document of a rule file as a mapping, through the project's safe loader (no tags that
    build objects, alias bombs refused, duplicate keys reported), or None and the Problem saying why.

    `what` names the expected content for hints ("a Splunk detection")."""
    problems: list[Problem] = []
    body = text_.removeprefix("\ufeff")
    try:
        documents = compose_documents(body)
        if not documents:
            return None, [Problem(rel_path, "empty file: no YAML document", 1, f"expected {what}")]
        if len(documents) > 1:
            problems.append(
                Problem(
                    rel_path,
                    f"{len(documents)} YAML documents in one file; only the first is read",
                    documents[1].line,
                    f"a file holds one {what}",
                    severity="warning",
                )
            )
        root = documents[0].root
        if may_have_aliases(body):
            check_budget(root)
    except YamlError as exc:
        return None, [Problem(rel_path, exc.message, exc.line or 1, exc.hint or f"expected {what}")]
    if not isinstance(root, MappingNode):
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        return None, [
            *problems,
            Problem(rel_path, f"file is {kind}, not a mapping", line_of(root), f"expected {what}"),
        ]
    entries = items(root)
    problems.extend(
        Problem(rel_path, p.message, p.line, p.hint, severity="warning") for p in entries.problems
    )
    mapping = YamlMapping(line=line_of(root))
    try:
        for name, key, value in entries.entries:
            mapping.values[name] = to_python(value)
            mapping.lines[name] = line_of(key)
    except RecursionError:  # only reachable without aliases (check_budget caps depth otherwise)
        return None, [
            *problems,
            Problem(rel_path, "YAML nested too deeply", mapping.line, f"expected {what}"),
        ]
    return mapping, problems
