"""A validator for ATT&CK Navigator layer files, format 4.5, written from the format's definition
(mitre-attack/attack-navigator, layers/spec/v4.5/layerformat.md): required properties, types, allowed
values. Returns the list of problems, each naming the JSON path; [] means the layer is valid."""

from __future__ import annotations

import re
from typing import Any

DOMAINS = ("enterprise-attack", "mobile-attack", "ics-attack")
TOP_LEVEL: dict[str, type | tuple[type, ...]] = {
    "versions": dict,
    "name": str,
    "description": str,
    "domain": str,
    "customDataURL": str,
    "filters": dict,
    "sorting": int,
    "layout": dict,
    "hideDisabled": bool,
    "techniques": list,
    "gradient": dict,
    "legendItems": list,
    "showTacticRowBackground": bool,
    "tacticRowBackground": str,
    "selectTechniquesAcrossTactics": bool,
    "selectSubtechniquesWithParent": bool,
    "selectVisibleTechniques": bool,
    "metadata": list,
    "links": list,
}
TECHNIQUE: dict[str, type | tuple[type, ...]] = {
    "techniqueID": str,
    "tactic": str,
    "comment": str,
    "enabled": bool,
    "score": (int, float),
    "color": str,
    "metadata": list,
    "links": list,
    "showSubtechniques": bool,
}
LAYOUT: dict[str, type | tuple[type, ...]] = {
    "layout": str,
    "showID": bool,
    "showName": bool,
    "showAggregateScores": bool,
    "countUnscored": bool,
    "aggregateFunction": str,
    "expandedSubtechniques": str,
}
TECHNIQUE_ID = re.compile(r"T\d{4}(\.\d{3})?")
COLOR = re.compile(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?")
TACTIC_SHORTNAME = re.compile(r"[a-z]+(-[a-z]+)*")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _typed(obj: dict[str, Any], spec: dict[str, Any], path: str, problems: list[str]) -> None:
    for key, value in obj.items():
        if key not in spec:
            problems.append(f"{path}.{key}: not a property of the layer format")
        elif isinstance(value, bool) and spec[key] in (int, (int, float)):
            problems.append(f"{path}.{key}: a boolean where a number belongs")
        elif not isinstance(value, spec[key]):
            problems.append(f"{path}.{key}: expected {spec[key]}, got {type(value).__name__}")


def _entries(items: list[Any], path: str, problems: list[str], kind: str) -> None:
    """Metadata ({name, value}) or link ({label, url}) objects, with divider objects allowed between."""
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: not an object")
        elif "divider" in item:
            if set(item) != {"divider"} or not isinstance(item["divider"], bool):
                problems.append(f"{where}: a divider has only `divider` (boolean)")
        elif kind == "metadata" and not (
            set(item) == {"name", "value"} and all(isinstance(item[k], str) for k in item)
        ):
            problems.append(f"{where}: metadata needs string name and value")
        elif kind == "links" and not (
            set(item) == {"label", "url"}
            and all(isinstance(item[k], str) for k in item)
            and re.match(r"[a-z][a-z0-9+.-]*://", item["url"])
        ):
            problems.append(f"{where}: a link needs a label and a url with its protocol")


def validate_layer(layer: Any, tactic_shortnames: set[str] | None = None) -> list[str]:
    problems: list[str] = []
    if not isinstance(layer, dict):
        return ["$: a layer is a JSON object"]
    for required in ("name", "domain", "versions"):
        if required not in layer:
            problems.append(f"$.{required}: required")
    _typed(layer, TOP_LEVEL, "$", problems)
    versions = layer.get("versions")
    if isinstance(versions, dict):
        _typed(versions, {"attack": str, "navigator": str, "layer": str}, "$.versions", problems)
        if versions.get("layer") != "4.5":
            problems.append(f"$.versions.layer: must be '4.5', got {versions.get('layer')!r}")
        navigator = versions.get("navigator")
        if not isinstance(navigator, str) or not re.fullmatch(r"\d+(\.\d+)*", navigator):
            problems.append("$.versions.navigator: required, a version such as 4.9.0")
        elif _version(navigator) < (4, 9, 0):
            problems.append(f"$.versions.navigator: must be at least 4.9.0, got {navigator}")
    if layer.get("domain") not in DOMAINS:
        problems.append(f"$.domain: one of {DOMAINS}, got {layer.get('domain')!r}")
    if "sorting" in layer and layer["sorting"] not in (0, 1, 2, 3):
        problems.append("$.sorting: 0, 1, 2 or 3")
    layout = layer.get("layout")
    if isinstance(layout, dict):
        _typed(layout, LAYOUT, "$.layout", problems)
        if layout.get("layout", "side") not in ("side", "flat", "mini"):
            problems.append("$.layout.layout: side, flat or mini")
        if layout.get("aggregateFunction", "average") not in ("average", "min", "max", "sum"):
            problems.append("$.layout.aggregateFunction: average, min, max or sum")
        if layout.get("expandedSubtechniques", "none") not in ("none", "all", "annotated"):
            problems.append("$.layout.expandedSubtechniques: none, all or annotated")
    filters = layer.get("filters")
    if isinstance(filters, dict):
        _typed(filters, {"platforms": list}, "$.filters", problems)
        if not all(isinstance(p, str) and p for p in filters.get("platforms", [])):
            problems.append("$.filters.platforms: non-empty strings")
    for i, tech in enumerate(layer.get("techniques") or []):
        where = f"$.techniques[{i}]"
        if not isinstance(tech, dict):
            problems.append(f"{where}: not an object")
            continue
        _typed(tech, TECHNIQUE, where, problems)
        if not isinstance(tech.get("techniqueID"), str) or not TECHNIQUE_ID.fullmatch(tech["techniqueID"]):
            problems.append(f"{where}.techniqueID: required, T#### or T####.###")
        tactic = tech.get("tactic")
        if tactic is not None and (
            not isinstance(tactic, str)
            or not TACTIC_SHORTNAME.fullmatch(tactic)
            or (tactic_shortnames is not None and tactic not in tactic_shortnames)
        ):
            problems.append(f"{where}.tactic: not a tactic shortname of the domain: {tactic!r}")
        if isinstance(tech.get("color"), str) and tech["color"] and not COLOR.fullmatch(tech["color"]):
            problems.append(f"{where}.color: a hexadecimal RGB colour")
        for kind in ("metadata", "links"):
            if isinstance(tech.get(kind), list):
                _entries(tech[kind], f"{where}.{kind}", problems, kind)
    gradient = layer.get("gradient")
    if isinstance(gradient, dict):
        _typed(
            gradient,
            {"colors": list, "minValue": (int, float), "maxValue": (int, float)},
            "$.gradient",
            problems,
        )
        colors = gradient.get("colors")
        if (
            not isinstance(colors, list)
            or len(colors) < 2
            or not all(isinstance(c, str) and COLOR.fullmatch(c) for c in colors)
        ):
            problems.append("$.gradient.colors: at least two hexadecimal RGB colours")
        low, high = gradient.get("minValue"), gradient.get("maxValue")
        if not (isinstance(low, int | float) and isinstance(high, int | float) and high > low):
            problems.append("$.gradient: minValue and maxValue required, maxValue > minValue")
    for i, item in enumerate(layer.get("legendItems") or []):
        if not (
            isinstance(item, dict)
            and set(item) == {"label", "color"}
            and isinstance(item["label"], str)
            and isinstance(item["color"], str)
            and COLOR.fullmatch(item["color"])
        ):
            problems.append(f"$.legendItems[{i}]: label and a hexadecimal colour")
    for kind in ("metadata", "links"):
        if isinstance(layer.get(kind), list):
            _entries(layer[kind], f"$.{kind}", problems, kind)
    return problems
