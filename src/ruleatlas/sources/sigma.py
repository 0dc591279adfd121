"""Sigma source: SigmaHQ checkouts and folders of Sigma files → `Rule`s of the IR.

`parse_sigma_file` is a pure function of its arguments (worker processes run it; the build caches its
output by content hash). A file yields one Rule per rule document; every document that yields no rule
gives a file-level Problem, so nothing is dropped silently. Detection logic (stages and predicates) is
built in `sigma_detection`; this module reads trees, splits files into documents, merges Sigma 1.x
collections (`action: global/reset/repeat`, as pySigma's `SigmaCollection.from_dicts`), and fills in
metadata, kind, correlation and filter.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ruleatlas.model import FilterSpec, Problem, Rule, RuleKind, SourceRef, SourceResult, Stage
from ruleatlas.sources import ParseOutput, RuleFile
from ruleatlas.sources.sigma_correlation import build_correlation
from ruleatlas.sources.sigma_detection import Issues, build_detection_stages
from ruleatlas.sources.sigma_meta import attack_ids, fill_metadata, rule_kind, split_authors
from ruleatlas.sources.uids import assign_unique_uids, file_stem
from ruleatlas.sources.yaml_load import (
    MAX_FILE_BYTES,
    Document,
    YamlError,
    check_budget,
    compose_documents,
    items,
    line_of,
    may_have_aliases,
    to_python,
)

__all__ = [
    "PARSER_VERSION",
    "VENDOR",
    "assign_unique_uids",
    "attack_ids",
    "list_files",
    "list_sigma_files",
    "parse_file",
    "parse_sigma_file",
    "read_sigma_tree",
    "split_authors",
]

VENDOR = "sigma"
# Bump when the parser's output changes shape or meaning: a catalog built by another version is rebuilt whole.
PARSER_VERSION = "sigma-2"
RULE_SUFFIXES = (".yml", ".yaml")
SPECIAL_FOLDERS = ("deprecated", "unsupported")
# The rule folders of Yamato-Security's Sigma repositories: beside them, `config/` holds YAML that is no rule.
SIGMA_REPO_FOLDERS = ("hayabusa", "suzaku")


# --- the SourceReader protocol (ruleatlas.sources) -----------------------------------------------


def list_files(root: Path) -> list[RuleFile]:
    """`list_sigma_files` as `RuleFile`s (Sigma rules read no companion files)."""
    return [RuleFile(path, rel_path, folder) for path, rel_path, folder in list_sigma_files(root)]


def parse_file(
    text: str,
    rel_path: str,
    folder: str,
    *,
    repo_url: str,
    commit: str,
    companions: dict[str, str],
) -> ParseOutput:
    """`parse_sigma_file` under the vendor label `sigma` (SigmaHQ's, Hayabusa's and Suzaku's rules alike)."""
    return parse_sigma_file(text, rel_path, folder, vendor=VENDOR, repo_url=repo_url, commit=commit)


RULE_KEYS = ("detection", "correlation", "filter", "title", "logsource")


# --- trees ---------------------------------------------------------------------------------------


def list_sigma_files(root: Path) -> list[tuple[Path, str, str]]:
    """(path, posix path relative to root, top folder) of every Sigma file under `root`, sorted.

    A SigmaHQ checkout is read from its `rules*/`, `deprecated/` and `unsupported/` folders, a Hayabusa or
    Suzaku checkout from its `hayabusa/` or `suzaku/` folder; any other folder is read whole. Hidden folders
    and files are skipped.
    """
    tops = sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir()
        and not entry.name.startswith(".")
        and (entry.name.startswith("rules") or entry.name in SPECIAL_FOLDERS + SIGMA_REPO_FOLDERS)
    )
    found: list[tuple[Path, str, str]] = []
    starts = [root / top for top in tops] if tops else [root]
    prefix = len(os.path.join(root, ""))  # rel paths by slicing: `Path.relative_to` is slow
    for start in starts:
        # walked as the string root + top, so that every dirpath begins with root's own spelling
        for dirpath, dirnames, filenames in os.walk(
            os.path.join(root, start.name) if tops else os.fspath(root)
        ):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            under = dirpath[prefix:].replace(os.sep, "/")
            folder_path = Path(dirpath)  # once per folder: parsing a whole path per file is the cost
            for name in filenames:
                if name.startswith(".") or not name.lower().endswith(RULE_SUFFIXES):
                    continue
                rel = f"{under}/{name}" if under else name
                folder = rel.split("/", 1)[0] if "/" in rel else "."
                found.append((folder_path / name, rel, folder))
    found.sort(key=lambda item: item[1])
    return found


def read_sigma_tree(
    root: Path,
    *,
    vendor: str = "sigma",
    repo_url: str = "",
    commit: str = "",
    progress: Callable[[int], None] | None = None,
) -> SourceResult:
    """Every rule of a SigmaHQ checkout (or any folder of Sigma files), uids made unique across folders."""
    result = SourceResult()
    for path, rel_path, folder in list_sigma_files(root):
        result.files += 1
        result.files_per_folder[folder] = result.files_per_folder.get(folder, 0) + 1
        rules, problems = _read_file(path, rel_path, folder, vendor, repo_url, commit)
        result.rules.extend(rules)
        result.errors.extend(problems)
        if progress is not None:
            progress(result.files)
    assign_unique_uids(result.rules)
    return result


def _read_file(
    path: Path, rel_path: str, folder: str, vendor: str, repo_url: str, commit: str
) -> tuple[list[Rule], list[Problem]]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refused unread
            return [], [too_large_problem(rel_path, size)]
        raw = path.read_bytes()
    except OSError as exc:
        return [], [Problem(rel_path, f"cannot read file: {exc.strerror or exc}")]
    text = raw.decode("utf-8", errors="surrogateescape")
    return parse_sigma_file(text, rel_path, folder, vendor=vendor, repo_url=repo_url, commit=commit)


def too_large_problem(rel_path: str, size: int) -> Problem:
    return Problem(
        rel_path,
        f"file too large ({size} bytes > {MAX_FILE_BYTES})",
        hint="a Sigma rule is a few KB; check that this file is a rule",
    )


# --- files ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Source:
    """A rule document to build: its (possibly merged) root mapping, verbatim body and first line."""

    root: MappingNode
    body: str
    line: int


def parse_sigma_file(
    text: str,
    rel_path: str,
    folder: str,
    *,
    vendor: str = "sigma",
    repo_url: str = "",
    commit: str = "",
) -> tuple[list[Rule], list[Problem]]:
    """The rules of one Sigma file, and a Problem for each document (or the whole file) that gave none."""
    content_hash = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    text = text.removeprefix("\ufeff")  # libyaml skips a BOM, and its marks count from after it
    try:
        documents = compose_documents(text)
    except YamlError as exc:
        return [], [Problem(rel_path, exc.message, exc.line, exc.hint)]
    if not documents:
        return [], [
            Problem(
                rel_path,
                "empty file: no YAML document",
                1,
                "a Sigma rule needs title, logsource and detection",
            )
        ]

    builder = _RuleBuilder(text, rel_path, folder, vendor, repo_url, commit, content_hash)
    problems: list[Problem] = []
    rules: list[Rule] = []
    global_doc: _Source | None = None
    previous: _Source | None = None
    aliases = may_have_aliases(text)
    for number, doc in enumerate(documents, 1):
        try:
            if aliases:
                check_budget(doc.root)
        except YamlError as exc:
            problems.append(Problem(rel_path, exc.message, exc.line, exc.hint))
            continue
        if not isinstance(doc.root, MappingNode):
            problems.append(_not_a_mapping(rel_path, doc, number, len(documents)))
            continue
        entries = items(doc.root)
        keys = {name for name, _k, _v in entries.entries}
        action_node = entries.get("action")
        action = action_node.value if isinstance(action_node, ScalarNode) else None
        source = _Source(doc.root, doc.text, doc.line)
        if action is None:
            if "correlation" in keys or "filter" in keys:
                _add(builder, source, rules, problems)
            elif keys.isdisjoint(RULE_KEYS) and global_doc is None:
                problems.append(
                    Problem(
                        rel_path,
                        _doc_label(number, len(documents))
                        + "is not a Sigma rule (no title, logsource or detection)",
                        doc.line,
                        "a Sigma rule needs title, logsource and detection (or correlation / filter)",
                    )
                )
            else:
                merged = _merge_source(source, global_doc) if global_doc is not None else source
                _add(builder, merged, rules, problems)
                previous = merged
        elif action == "global":
            global_doc = _Source(_without(doc.root, "action"), doc.text, doc.line)
            previous = global_doc
        elif action == "reset":
            global_doc = None
        elif action == "repeat":
            if previous is None:
                problems.append(Problem(rel_path, "'action: repeat' with no document before it", doc.line))
                continue
            previous = _merge_source(
                previous, _Source(_without(doc.root, "action"), doc.text, doc.line), own_last=True
            )
            _add(builder, previous, rules, problems)
        else:
            problems.append(
                Problem(
                    rel_path,
                    f"unknown collection action '{action}'",
                    line_of(action_node) if action_node is not None else doc.line,
                    "Sigma 1.x collections know 'global', 'reset' and 'repeat'",
                )
            )

    stem = file_stem(rel_path)
    for index, rule in enumerate(rules):
        rule.uid = f"{vendor}/{stem}" if index == 0 else f"{vendor}/{stem}-{index + 1}"
        for problem in rule.problems:
            problem.rule_uid = rule.uid
    if not rules and not problems:
        problems.append(Problem(rel_path, "no rule in file (only Sigma 1.x 'action' documents)", 1))
    return rules, problems


def _add(builder: _RuleBuilder, source: _Source, rules: list[Rule], problems: list[Problem]) -> None:
    try:
        rules.append(builder.build(source))
    except RecursionError:  # only reachable without aliases (check_budget caps depth otherwise)
        problems.append(
            Problem(
                builder.rel_path,
                "YAML document nested too deeply",
                source.line,
                "a Sigma rule needs only a few levels of nesting",
            )
        )


def _doc_label(number: int, total: int) -> str:
    return "document " + (f"{number} " if total > 1 else "")


def _not_a_mapping(rel_path: str, doc: Document, number: int, total: int) -> Problem:
    what = "a list" if isinstance(doc.root, SequenceNode) else "a single value"
    return Problem(
        rel_path,
        _doc_label(number, total) + f"is {what}, not a mapping: not a Sigma rule",
        doc.line,
        "a Sigma rule is a mapping with title, logsource and detection",
    )


def _without(node: MappingNode, key: str) -> MappingNode:
    kept = [(k, v) for k, v in node.value if not (isinstance(k, ScalarNode) and k.value == key)]
    return MappingNode(node.tag, kept, node.start_mark, node.end_mark, node.flow_style)


def _merge_nodes(dest: MappingNode, src: MappingNode) -> MappingNode:
    """pySigma's deep_dict_update(dest, src) on nodes: src wins, nested mappings merge, order kept."""
    pairs = list(dest.value)
    position = {k.value: i for i, (k, _v) in enumerate(pairs) if isinstance(k, ScalarNode)}
    for key, value in src.value:
        name = key.value if isinstance(key, ScalarNode) else None
        if name is None or name not in position:
            if name is not None:
                position[name] = len(pairs)
            pairs.append((key, value))
            continue
        old_key, old_value = pairs[position[name]]
        if isinstance(value, MappingNode) and isinstance(old_value, MappingNode):
            pairs[position[name]] = (old_key, _merge_nodes(old_value, value))
        else:
            pairs[position[name]] = (key, value)
    return MappingNode(dest.tag, pairs, dest.start_mark, dest.end_mark, dest.flow_style)


def _merge_source(doc: _Source, other: _Source, *, own_last: bool = False) -> _Source:
    """`doc` updated with `other` (a global template: it wins, as in pySigma); for `repeat`, the new
    document is `other` and it is the rule's own document (own_last)."""
    root = _merge_nodes(doc.root, other.root)
    first, second = (doc, other) if own_last else (other, doc)
    body = first.body.rstrip("\n") + "\n---\n" + second.body
    return _Source(root, body, other.line if own_last else doc.line)


# --- documents → rules ---------------------------------------------------------------------------


class _RuleBuilder:
    def __init__(
        self,
        text: str,
        rel_path: str,
        folder: str,
        vendor: str,
        repo_url: str,
        commit: str,
        content_hash: str,
    ) -> None:
        self.text = text
        self.rel_path = rel_path
        self.folder = folder
        self.vendor = vendor
        url = f"{repo_url.rstrip('/')}/blob/{commit or 'master'}/{rel_path}" if repo_url else ""
        self.ref = (repo_url, rel_path, commit, url)
        self.content_hash = content_hash

    def build(self, source: _Source) -> Rule:
        issues = Issues(self.rel_path)
        entries = items(source.root)
        for key_problem in entries.problems:
            issues.add(key_problem.message, key_problem.line, key_problem.hint)
        repo, path, commit, url = self.ref
        rule = Rule(
            uid="",
            vendor=self.vendor,
            language="sigma",
            source=SourceRef(repo, path, commit, url),
            folder=self.folder,
            body=source.body,
            line=source.line,
            content_hash=self.content_hash,
        )
        meta = {name: (key, value) for name, key, value in entries.entries}
        fill_metadata(rule, meta, issues, source.line)
        if "correlation" in meta:
            rule.kind = RuleKind.CORRELATION
            key, node = meta["correlation"]
            rule.correlation, rule.stages = build_correlation(key, node, self.text, issues)
        elif "filter" in meta:
            rule.kind = RuleKind.FILTER
            rule.filter, rule.stages = self._filter(meta["filter"], issues)
            self._need_logsource(meta, issues, source)
        else:
            if "detection" in meta:
                key, node = meta["detection"]
                rule.stages = build_detection_stages(key, node, self.text, issues)
            else:
                issues.add(
                    "rule has no 'detection'",
                    source.line,
                    "add a detection with search identifiers and a condition",
                )
            self._need_logsource(meta, issues, source)
        rule.kind = rule_kind(self.folder, rule.status, rule.kind)
        rule.problems = sorted(issues.problems, key=lambda p: p.line or 0)
        return rule

    def _filter(self, entry: tuple[Node, Node], issues: Issues) -> tuple[FilterSpec, list[Stage]]:
        key, node = entry
        if not isinstance(node, MappingNode):
            issues.add("'filter' must be a mapping of rules, selections and condition", line_of(key))
            return FilterSpec(()), []
        rules_node = items(node).get("rules")
        targets: tuple[str, ...] = ()
        if rules_node is None:
            issues.add(
                "filter has no 'rules'",
                line_of(key),
                "list the rule ids or names to filter, or write 'rules: any'",
            )
        else:
            value = to_python(rules_node)
            if isinstance(value, str):
                targets = ("any",) if value.lower() == "any" else (value,)
            elif isinstance(value, list):
                targets = tuple(str(v) for v in value if v is not None) or ("any",)
            else:
                issues.add(
                    "filter 'rules' must be a rule id/name, a list of them, or 'any'", line_of(rules_node)
                )
        condition = items(node).get("condition")
        if condition is not None and not isinstance(condition, ScalarNode):
            issues.add(
                "a filter's condition must be a single string",
                line_of(condition),
                "join the conditions with 'or'",
            )
        stages = build_detection_stages(key, node, self.text, issues, skip=("rules",))
        return FilterSpec(targets), stages

    def _need_logsource(self, meta: dict[str, tuple[Node, Node]], issues: Issues, source: _Source) -> None:
        if "logsource" not in meta:
            issues.add("rule has no 'logsource'", source.line, "add logsource with category/product/service")
