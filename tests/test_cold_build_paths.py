"""The cold build's faster paths give what the plain ones gave: orjson decoding with json's answers, the
botocore documentation stripped by one regex as the character loop did, and results in the files'
order whatever order they were parsed in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ruleatlas import fastjson
from ruleatlas.build import analyse
from ruleatlas.build.analyse import FileResult
from ruleatlas.config import SourceSpec
from ruleatlas.ingest import SourceFile
from ruleatlas.progress import Progress
from ruleatlas.telemetry.platforms.aws import _plain
from ruleatlas.telemetry.platforms.packages import summary


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, "x"], "b": null, "a": true}',  # a repeated key: the last one, as json keeps
        '"\\ud800 lone surrogate"',  # orjson refuses it
        "18446744073709551615",  # the largest 64-bit integer (beyond it orjson gives a float)
        "[NaN, Infinity]",
        '{"\\u00e9t\\u00e9": "\\n"}',
    ],
)
def test_fastjson_gives_what_json_gives(text: str) -> None:
    assert repr(fastjson.loads(text)) == repr(json.loads(text))
    assert repr(fastjson.loads(text.encode())) == repr(json.loads(text.encode()))


def test_fastjson_refuses_what_json_refuses() -> None:
    with pytest.raises(ValueError):
        fastjson.loads("{")


def _plain_by_characters(doc: str) -> str:
    """botocore documentation to text, one character at a time (the loop `_plain` replaced)."""
    text, inside = [], False
    for ch in doc:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
            text.append(" ")
        elif not inside:
            text.append(ch)
    return summary("".join(text))


@pytest.mark.parametrize(
    "doc",
    [
        "<p>Creates a <a href='x'>bucket</a>. More.</p>",
        "a > b and <b>c</b>",
        "open <tag never closed",
        "<<nested>> text>",
        "",
        "plain text. Second sentence.",
    ],
)
def test_botocore_documentation_is_stripped_as_before(doc: str) -> None:
    assert _plain(doc) == _plain_by_characters(doc)


def test_results_come_back_in_the_files_order(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [
        SourceFile("s", "sigma", f"r{i}.yml", "rules", f"h{i}", "x" * ((i * 7) % 5 + 1)) for i in range(12)
    ]
    seen: list[str] = []

    def fake(file: SourceFile, repo: str, commit: str) -> FileResult:
        seen.append(file.rel_path)
        return FileResult(file, [], [], 0)

    monkeypatch.setattr(analyse, "_analyse_file", fake)
    with Progress("test", len(files), None) as bar:
        results = analyse.analyse_files(files, SourceSpec("s", Path(".")), None, None, 1, bar)
    assert [r.file.rel_path for r in results] == [f.rel_path for f in files]
    by_path = {f.rel_path: len(f.text or "") for f in files}
    sizes = [by_path[p] for p in seen]
    assert sizes == sorted(sizes, reverse=True) and seen != [f.rel_path for f in files]  # largest first
