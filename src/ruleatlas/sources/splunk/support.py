"""Splunk's supporting data: macros, data sources, analytic stories and lookup definitions.

They are not rules (no page of their own), but the SPL logic parser needs the macros (a search's filter often
lives in `process_powershell` or `sysmon`), event coverage needs the data sources' source/sourcetype/EventID,
and pages name the stories. Each reader returns objects keyed by name, plus a Problem for every file it could
not use; deprecated objects (status `deprecated`) are kept and marked so callers can class them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ruleatlas.model import Problem
from ruleatlas.sources.common import YamlMapping, load_mapping, read_text, split_list, strings, text, walk


@dataclass(slots=True, frozen=True)
class Macro:
    """A `` `name(args)` `` definition: `$arg$` in `definition` is replaced by the call's arguments."""

    name: str
    definition: str
    arguments: tuple[str, ...] = ()
    description: str = ""
    path: str = ""

    @property
    def call_name(self) -> str:
        """How searches call it: `name` or `name(N)` with N arguments."""
        return f"{self.name}({len(self.arguments)})" if self.arguments else self.name


@dataclass(slots=True, frozen=True)
class DataSource:
    name: str
    source: str = ""
    sourcetype: str = ""
    separator: str = ""  # the field that tells this source's events apart (EventID, api.operation...)
    fields: tuple[str, ...] = ()
    path: str = ""


@dataclass(slots=True, frozen=True)
class Story:
    name: str
    description: str = ""
    narrative: str = ""
    references: tuple[str, ...] = ()
    deprecated: bool = False
    path: str = ""


@dataclass(slots=True, frozen=True)
class Lookup:
    """A lookup definition (its CSV data is not in the corpus)."""

    name: str
    description: str = ""
    lookup_type: str = ""  # csv, kvstore, mlmodel
    fields: tuple[str, ...] = ()
    path: str = ""


@dataclass(slots=True)
class Support:
    macros: dict[str, Macro] = field(default_factory=dict)  # by call name
    data_sources: dict[str, DataSource] = field(default_factory=dict)
    stories: dict[str, Story] = field(default_factory=dict)
    lookups: dict[str, Lookup] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_support(root: Path) -> Support:
    """Every macro, data source, story and lookup definition of a security_content checkout."""
    out = Support()
    for folder in ("macros", "data_sources", "stories", "lookups"):
        for file in walk(root, folder, (".yml", ".yaml"), _folder_name(folder)):
            content, problem = read_text(file.path, file.rel_path)
            if content is None:
                out.problems.extend([problem] if problem else [])
                continue
            doc, problems = load_mapping(content, file.rel_path, f"a Splunk {folder[:-1].replace('_', ' ')}")
            out.problems.extend(problems)
            if doc is None:
                continue
            name = text(doc.get("name")).strip()
            if not name:
                out.problems.append(
                    Problem(file.rel_path, "no 'name'", doc.line, "every object needs a name")
                )
                continue
            _add(out, folder, name, doc, file.rel_path)
    return out


def _folder_name(folder: str) -> Callable[[str], str]:
    return lambda _rel: folder


def _add(out: Support, folder: str, name: str, doc: YamlMapping, path: str) -> None:
    if folder == "macros":
        macro = Macro(
            name,
            text(doc.get("definition")),
            strings(doc.get("arguments")),
            text(doc.get("description")),
            path,
        )
        out.macros[macro.call_name] = macro
    elif folder == "data_sources":
        out.data_sources[name] = DataSource(
            name,
            text(doc.get("source")),
            text(doc.get("sourcetype")),
            text(doc.get("separator")),
            strings(doc.get("fields")),
            path,
        )
    elif folder == "stories":
        out.stories[name] = Story(
            name,
            text(doc.get("description")).strip(),
            text(doc.get("narrative")).strip(),
            strings(doc.get("references")),
            text(doc.get("status")).strip() == "deprecated",
            path,
        )
    else:
        out.lookups[name] = Lookup(
            name,
            text(doc.get("description")),
            text(doc.get("lookup_type")),
            split_list(doc.get("fields")),
            path,
        )
