"""One-way flow (DESIGN.md house rule 1): each layer imports only the layers below it.

sources → model; attack, telemetry → model; analysis → model, attack, telemetry; store → analysis,
attack, telemetry, model; web → store, attack, telemetry, model (never a vendor's syntax: no sources);
engine → model only (its CLI glue may load rules through sources); build and cli sit on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ruleatlas"

# Layer → the ruleatlas layers it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "progress": set(),
    "sources": {"model"},
    "attack": {"model"},
    "telemetry": {"model"},
    "analysis": {"model", "attack", "telemetry"},
    "store": {"model", "analysis", "attack", "telemetry"},
    "web": {"model", "store", "analysis", "attack", "telemetry", "progress", "output", "workers"},
    "output": set(),
    "workers": set(),
    "engine": {"model", "progress"},
    "spark": {"model", "engine", "sources"},  # the engine on Spark; rules are shipped as their files
    "config": {"sources", "model"},  # the source registry (names, vendor labels, upstream repositories)
    "fetch": {"sources", "model"},
    "ingest": {"model", "sources", "config", "progress"},
    "textpage": set(),
    "textcoverage": set(),
    "export": {"store", "analysis"},
}
# Modules that glue a layer to the command line, allowed to reach further.
GLUE = {
    "engine.scan_cli": {"sources", "attack", "store", "config", "spark"},
    "engine.scan_rules": {"sources"},  # which rules `scan` runs: read through sources.sigma
}
TOP = {"build", "cli", "__init__", "__main__", "readiness"}


def layer_of(module: str) -> str:
    return module.split(".", 1)[0]


def ruleatlas_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ruleatlas"):
            found.add(node.module.removeprefix("ruleatlas").lstrip("."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("ruleatlas").lstrip(".")
                for a in node.names
                if a.name.startswith("ruleatlas")
            }
    return {m for m in found if m}


def test_imports_flow_one_way() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        layer = layer_of(module)
        if layer in TOP:
            continue
        assert layer in ALLOWED, f"{module}: new layer {layer!r} — add it to ALLOWED with its dependencies"
        allowed = ALLOWED[layer] | GLUE.get(module, set()) | {layer}
        for imported in ruleatlas_imports(path):
            if layer_of(imported) not in allowed:
                violations.append(f"{module} imports ruleatlas.{imported}")
    assert violations == []
