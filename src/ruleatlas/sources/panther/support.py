"""Panther's data models: unified field names (`actor_user`, `source_ip`) mapped to paths per log type.

They are not rules (see the package docstring) but say, per log type, which log field a unified name reads:
`Path: $.context.client_ip_address` (a JSONPath) or `Method: get_ip` (a function in the data model's Python
file, which is not read here). The field canonicaliser can use them to relate Panther's fields to other
vendors'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruleatlas.model import Problem
from ruleatlas.sources.common import load_mapping, read_text, strings, text, walk


@dataclass(slots=True, frozen=True)
class Mapping:
    name: str  # the unified name
    path: str = ""  # JSONPath into the event, or ""
    method: str = ""  # a Python function of the data model, or ""


@dataclass(slots=True)
class DataModel:
    id: str
    log_types: tuple[str, ...]
    mappings: tuple[Mapping, ...]
    path: str


@dataclass(slots=True)
class DataModels:
    models: list[DataModel] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_data_models(root: Path) -> DataModels:
    out = DataModels()
    for file in walk(root, "data_models", (".yml", ".yaml"), lambda rel: "data_models"):
        content, problem = read_text(file.path, file.rel_path)
        if content is None:
            out.problems.extend([problem] if problem else [])
            continue
        doc, problems = load_mapping(content, file.rel_path, "a Panther data model")
        out.problems.extend(problems)
        if doc is None:
            continue
        if text(doc.get("AnalysisType")) != "datamodel":
            out.problems.append(
                Problem(
                    file.rel_path, "not a data model", doc.line_of("AnalysisType"), "AnalysisType: datamodel"
                )
            )
            continue
        mappings = tuple(
            Mapping(text(m.get("Name")), text(m.get("Path")), text(m.get("Method")))
            for m in doc.get("Mappings") or []
            if isinstance(m, dict) and m.get("Name")
        )
        model_id = text(doc.get("DataModelID"))
        out.models.append(DataModel(model_id, strings(doc.get("LogTypes")), mappings, file.rel_path))
    return out
