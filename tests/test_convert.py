"""Deploy as: pySigma's backends convert a Sigma rule into every target, a refusal carries the backend's
message, and `ruleatlas convert` prints the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.analysis.deploy import TARGET_NAMES, TARGETS, Converter, conversion_key, target, versions_key
from ruleatlas.cli import main

DATA = Path(__file__).parent / "data" / "deploy" / "sigma" / "rules" / "windows"


@pytest.fixture(scope="module")
def base_conversions() -> dict[str, tuple[str, str, str]]:
    converted = Converter().convert((DATA / "base.yml").read_text(encoding="utf-8"))
    return {c.target: (c.pipeline, c.query, c.error) for c in converted}


def test_every_target_converts_the_fixture_rule_with_its_pipeline_named(
    base_conversions: dict[str, tuple[str, str, str]],
) -> None:
    assert list(base_conversions) == list(TARGET_NAMES)
    expected_field = {
        "splunk": "Image=",
        "lucene": "process.executable.caseless:",
        "eql": "process.executable",
        "esql": "process.executable",
        "defender": "FolderPath",
        "sentinel": "TargetProcessName",
        "secops": "target.process.file.full_path",
    }
    for name, (pipeline, query, error) in base_conversions.items():
        assert error == "", name
        assert pipeline == target(name).pipeline_for({"product": "windows"}).name
        assert expected_field[name] in query, (name, query)
        assert "whoami" in query.lower(), (name, query)
    assert base_conversions["secops"][1].startswith("rule whoami_execution {")


def test_a_refusal_shows_the_backends_message() -> None:
    converted = {c.target: c for c in Converter().convert((DATA / "refused.yml").read_text(encoding="utf-8"))}
    refused = converted["defender"]
    assert refused.query == ""
    assert refused.error.startswith(
        "SigmaTransformationError: Invalid SigmaDetectionItem field name encountered"
    )
    assert "CurrentDirectory" in refused.error
    assert converted["splunk"].error == "" and "CurrentDirectory" in converted["splunk"].query


def test_a_text_pysigma_cannot_read_is_refused_by_every_target() -> None:
    converted = Converter().convert("title: no detection\nlogsource: {product: windows}\n")
    assert [c.target for c in converted] == list(TARGET_NAMES)
    assert all(c.query == "" and c.error for c in converted)


def test_pipelines_follow_the_rules_product() -> None:
    lucene = target("lucene")
    assert lucene.pipeline_for({"product": "windows"}).name == "ecs_windows"
    assert lucene.pipeline_for({"product": "linux"}).name.startswith("none")
    assert target("splunk").pipeline_for({"product": "linux"}).name == "splunk_windows"
    with pytest.raises(KeyError, match="known: splunk"):
        target("qradar")


def test_cache_keys_change_with_the_rule_and_name_the_backends() -> None:
    assert conversion_key("a") != conversion_key("b")
    assert "pySigma-backend-splunk" in versions_key()
    assert len(TARGETS) == len(set(TARGET_NAMES))


def test_convert_cli_prints_each_target_of_a_rule_file(
    base_conversions: dict[str, tuple[str, str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    for name in TARGET_NAMES:
        assert main(["convert", str(DATA / "base.yml"), "--to", name]) == 0
        assert capsys.readouterr().out == base_conversions[name][1] + "\n"


def test_convert_cli_all_targets_names_pipelines_and_exits_1_on_a_refusal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["convert", str(DATA / "refused.yml")]) == 1
    out = capsys.readouterr().out
    assert "# Splunk SPL (pipeline: splunk_windows)\nCurrentDirectory=" in out
    assert "# Microsoft 365 Defender (KQL) (pipeline: microsoft_xdr)\n# refused by the backend: " in out
