"""The build's listing cache (ingest.ListingCache): a file whose stat is the recorded one keeps its hash
unread; an edited file, or one modified too recently to trust its stat, is read and hashed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from ruleatlas import ingest
from ruleatlas.config import SourceSpec
from ruleatlas.ingest import ListingCache, SourceFile, list_source_files, read_deferred, tree_signature

RULES = Path(__file__).resolve().parent / "data" / "browse" / "sigma"
AN_HOUR_AGO = time.time() - 3600


def source(tmp_path: Path) -> SourceSpec:
    root = tmp_path / "sigma"
    shutil.copytree(RULES, root)
    for path in root.rglob("*"):
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return SourceSpec("sigma", root)


def by_path(files: list[SourceFile]) -> dict[str, SourceFile]:
    return {f.rel_path: f for f in files}


def test_unchanged_files_keep_their_hash_unread(tmp_path: Path) -> None:
    spec, cache = source(tmp_path), tmp_path / "cache"
    first, problems = list_source_files(spec, ListingCache.read(cache, spec))
    assert problems == [] and len(first) == 12
    assert not any(f.deferred for f in first) and all(f.stat for f in first)
    ListingCache.write(cache, spec, first)

    edited = spec.path / "rules" / "windows" / "registry_win_run_key.yml"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    os.utime(edited, (AN_HOUR_AGO + 60, AN_HOUR_AGO + 60))
    second = by_path(list_source_files(spec, ListingCache.read(cache, spec))[0])
    rel = "rules/windows/registry_win_run_key.yml"
    assert not second[rel].deferred and second[rel].content_hash != by_path(first)[rel].content_hash
    unchanged = [f for path, f in second.items() if path != rel]
    assert all(f.deferred and f.text is None for f in unchanged)
    assert {f.rel_path: f.content_hash for f in unchanged} == {
        f.rel_path: f.content_hash for f in first if f.rel_path != rel
    }
    read = read_deferred(spec, unchanged[0])
    assert read.text is not None and read.content_hash == unchanged[0].content_hash


def test_recently_modified_files_are_not_recorded(tmp_path: Path) -> None:
    spec = source(tmp_path)
    fresh = spec.path / "rules" / "windows" / "registry_win_run_key.yml"
    os.utime(fresh)  # now: a change later in the same clock tick would not show in its stat
    files = by_path(list_source_files(spec)[0])
    assert files["rules/windows/registry_win_run_key.yml"].stat == ()
    assert files["rules/windows/net_connection_win_tunnel.yml"].stat != ()


def test_a_cache_of_another_folder_is_ignored(tmp_path: Path) -> None:
    spec, cache = source(tmp_path), tmp_path / "cache"
    ListingCache.write(cache, spec, list_source_files(spec)[0])
    moved = SourceSpec("sigma", tmp_path / "elsewhere")
    shutil.copytree(spec.path, moved.path)
    assert ListingCache.read(cache, moved).entries == {}
    (cache / "listing-sigma.json").write_text("{not json", encoding="utf-8")
    assert ListingCache.read(cache, spec).entries == {}


def test_an_unmoved_tree_is_listed_from_the_cache_without_its_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, cache = source(tmp_path), tmp_path / "cache"
    signature = tree_signature(spec)
    assert signature
    first, _ = list_source_files(spec, ListingCache.read(cache, spec), signature)
    ListingCache.write(cache, spec, first, signature)
    listed = [(f.rel_path, f.folder, f.content_hash, f.companion_paths) for f in first]

    def no_reader(name: str) -> None:
        raise AssertionError(f"reader {name} asked to list an unmoved tree")

    unmoved = tree_signature(spec)
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "load_reader", no_reader)
        again, problems = list_source_files(spec, ListingCache.read(cache, spec), unmoved)
    assert problems == [] and all(f.deferred for f in again)
    assert [(f.rel_path, f.folder, f.content_hash, f.companion_paths) for f in again] == listed
    # a new file moves the tree: the reader lists it
    added = spec.path / "rules" / "windows" / "added.yml"
    added.write_text((spec.path / "rules" / "windows" / "registry_win_run_key.yml").read_text(), "utf-8")
    os.utime(added, (AN_HOUR_AGO + 60, AN_HOUR_AGO + 60))
    moved = tree_signature(spec)
    assert moved and moved != signature
    third, _ = list_source_files(spec, ListingCache.read(cache, spec), moved)
    assert "rules/windows/added.yml" in {f.rel_path for f in third} and len(third) == len(first) + 1


def test_a_tree_with_a_file_modified_just_now_has_no_signature(tmp_path: Path) -> None:
    spec = source(tmp_path)
    os.utime(spec.path / "rules" / "windows" / "registry_win_run_key.yml")
    assert tree_signature(spec) == ""
