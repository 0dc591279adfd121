"""Build step 3: unique uids across files. Unchanged rules take part as stand-ins; when one of them would get
another uid than it has, the catalog cannot be patched (the build then starts over in full)."""

from __future__ import annotations

from ruleatlas.build.analyse import FileResult
from ruleatlas.ingest import stand_in
from ruleatlas.model import Rule
from ruleatlas.sources import SOURCES
from ruleatlas.sources.uids import assign_unique_uids, folder_rank

_SOURCE_ORDER = {name: i for i, name in enumerate(SOURCES)}


def _uid_rank(rule: Rule) -> tuple[object, ...]:
    """Who keeps a shared `<vendor>/<stem>`: by folder (`rules` first), then by source in registry order
    (SigmaHQ before Hayabusa and Suzaku), then by path. Stand-ins carry their source name as `repo`."""
    rank, _, path = folder_rank(rule)
    return (rank, _SOURCE_ORDER.get(rule.source.repo, len(_SOURCE_ORDER)), rule.source.repo, path)


def reuse_uids(results: list[FileResult], previous: dict[str, tuple[str, str, str, str, str]]) -> bool:
    """The common case of an incremental build, without ranking every rule again: each re-parsed file has the
    same rules (base uids) as before, so each takes the uid it had. The assignment depends only on the base
    uids, folders, sources and paths of all rules, which are then unchanged. False (nothing renamed) when a
    file's rules differ from its previous ones."""
    before: dict[tuple[str, str], dict[str, str]] = {}  # (source, path) -> base uid -> uid
    for uid, (_vendor, base_uid, path, _folder, source) in previous.items():
        if base_uid in before.setdefault((source, path), {}):
            return False  # two rules of one file share a base uid: let the full assignment decide
        before[(source, path)][base_uid] = uid
    renames: list[tuple[FileResult, int, str]] = []
    for result in results:
        mine = before.get((result.file.source, result.file.rel_path), {})
        if sorted(row.base_uid for row in result.rows) != sorted(mine):
            return False
        renames += [(result, i, mine[row.base_uid]) for i, row in enumerate(result.rows)]
    for result, i, uid in renames:
        _rename(result, i, uid)
    return True


def _rename(result: FileResult, i: int, uid: str) -> None:
    old = result.rows[i].uid
    if uid != old:
        result.rows[i] = result.rows[i].renamed(uid)
        for p in result.problems:
            if p.uid == old:
                p.uid = uid


def assign_uids(results: list[FileResult], kept: dict[str, tuple[str, str, str, str, str]]) -> bool:
    """Make new rows' uids unique against each other and the kept rules; False if a kept uid would move."""
    kept_stand_ins = [(uid, stand_in(*info)) for uid, info in kept.items()]
    new_stand_ins = [
        (result, i, stand_in(row.vendor, row.base_uid, row.path, row.folder, row.source))
        for result in results
        for i, row in enumerate(result.rows)
    ]
    everyone = [s for _, s in kept_stand_ins] + [s for _, _, s in new_stand_ins]
    everyone.sort(key=_uid_rank)
    assign_unique_uids(everyone, rank=_uid_rank)
    if any(s.uid != uid for uid, s in kept_stand_ins):
        return False
    for result, i, s in new_stand_ins:
        _rename(result, i, s.uid)
    return True
