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
        old = result.rows[i].uid
        if s.uid != old:
            result.rows[i] = result.rows[i].renamed(s.uid)
            for p in result.problems:
                if p.uid == old:
                    p.uid = s.uid
    return True
