"""One-way flow (DESIGN.md house rule 1): each layer imports only the layers below it.

Leaves (nothing of RuleAtlas): model, progress, output, workers, logs (the log readers). sources → model;
attack → model; telemetry → model, logs; analysis → model, attack, telemetry; store → model, analysis, attack,
telemetry; web → store, analysis, attack, telemetry, model and the leaves (never a vendor's syntax: no
sources); engine → model, logs (its CLI glue reaches Spark, its rule loader sources); build → everything
but engine and cli; cli sits on top. The table is the real one: a dependency nobody uses is an error too,
so it cannot drift looser than the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ruleatlas"

# Layer → the ruleatlas layers it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "progress": set(),
    "output": set(),
    "workers": set(),
    "fastjson": set(),  # JSON decoding for the megabytes the build reads
    "logs": set(),
    "sources": {"model"},
    "attack": {"model"},
    "telemetry": {"model", "logs", "fastjson"},
    "analysis": {"model", "attack", "telemetry"},
    "store": {"model", "analysis", "attack", "telemetry", "fastjson"},
    "web": {"model", "store", "analysis", "attack", "telemetry", "progress", "output", "workers"},
    "engine": {"model", "logs", "progress"},
    "spark": {"model", "engine", "logs", "sources"},  # the engine on Spark; rules are shipped as their files
    "config": {"sources"},  # the source registry (names, vendor labels, upstream repositories)
    "fetch": {"sources"},
    "ingest": {"model", "sources", "config", "output"},
    "textpage": set(),
    "textcoverage": {"analysis"},  # the summary it renders is typed there
    "export": {"store", "analysis"},
    "build": {
        "model",
        "engine",  # the fires-on pass runs the engine over the log samples (build/relations.py)
        "sources",
        "config",
        "ingest",
        "attack",
        "telemetry",
        "logs",
        "analysis",
        "store",
        "web",
        "output",
        "progress",
        "workers",
        "fastjson",
    },
}
# Modules that glue a layer to the command line, allowed to reach further.
GLUE = {
    "engine.scan_cli": {"spark"},
    "engine.scan_rules": {"sources"},  # which rules `scan` runs: read through sources.sigma
}
TOP = {"cli", "__init__", "__main__"}


def layer_of(module: str) -> str:
    return module.split(".", 1)[0]


def ruleatlas_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "ruleatlas":
            # `from ruleatlas import fastjson`: the modules it names (not `__version__`)
            found |= {
                a.name
                for a in node.names
                if (PACKAGE / f"{a.name}.py").is_file() or (PACKAGE / a.name).is_dir()
            }
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ruleatlas"):
            found.add(node.module.removeprefix("ruleatlas").lstrip("."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("ruleatlas").lstrip(".")
                for a in node.names
                if a.name.startswith("ruleatlas")
            }
    return {m for m in found if m}


def layer_imports() -> dict[str, set[str]]:
    """Module → the ruleatlas modules it imports, for every module below the top."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if layer_of(module) not in TOP:
            found[module] = ruleatlas_imports(path)
    return found


def test_imports_flow_one_way() -> None:
    violations = []
    for module, imports in layer_imports().items():
        layer = layer_of(module)
        assert layer in ALLOWED, f"{module}: new layer {layer!r} — add it to ALLOWED with its dependencies"
        allowed = ALLOWED[layer] | GLUE.get(module, set()) | {layer}
        violations += [
            f"{module} imports ruleatlas.{i}" for i in sorted(imports) if layer_of(i) not in allowed
        ]
    assert violations == []


def test_every_allowed_dependency_is_used() -> None:
    """A layer allowed to import one it never does: the table no longer says what the code is."""
    used: dict[str, set[str]] = {}
    for module, imports in layer_imports().items():
        used.setdefault(layer_of(module), set()).update(layer_of(i) for i in imports)
    unused = {
        f"{layer} -> {dep}"
        for layer, deps in ALLOWED.items()
        for dep in deps
        if dep not in used.get(layer, set())
    }
    glue_unused = {
        f"{module} -> {dep}"
        for module, deps in GLUE.items()
        for dep in deps
        if dep not in {layer_of(i) for i in layer_imports().get(module, set())}
    }
    assert unused | glue_unused == set()
