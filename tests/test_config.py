"""Settings: ruleatlas.toml, $RULEATLAS_SHARED, and how a source's repository and commit are found."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ruleatlas.cli import make_parser, resolve_build_config
from ruleatlas.config import ConfigError, SourceSpec, describe_source, parse_source_arg


def test_toml_paths_are_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "ruleatlas.toml").write_text('[build]\nout = "cat"\njobs = 1\n[sources]\nsigma = "rules"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RULEATLAS_SHARED", raising=False)
    config = resolve_build_config(make_parser().parse_args(["build"]))
    assert config.sources[0].path == (tmp_path / "rules").resolve()
    assert config.out == (tmp_path / "cat").resolve()
    assert config.jobs == 1


def test_command_line_wins_over_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "ruleatlas.toml").write_text('[sources]\nsigma = "a"\n')
    monkeypatch.chdir(tmp_path)
    config = resolve_build_config(make_parser().parse_args(["build", "--source", f"sigma={tmp_path / 'b'}"]))
    assert [s.path for s in config.sources] == [tmp_path / "b"]


def test_shared_variable_points_at_the_shared_folder(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RULEATLAS_SHARED", str(shared_dir))
    config = resolve_build_config(make_parser().parse_args(["build"]))
    corpus = shared_dir / "corpus"
    assert config.sources == [
        SourceSpec("sigma", corpus / "sigma"),
        SourceSpec("hayabusa", corpus / "hayabusa"),
        SourceSpec("suzaku", corpus / "suzaku"),
        SourceSpec("elastic", corpus / "elastic"),
        SourceSpec("splunk", corpus / "splunk"),
        SourceSpec("kusto", corpus / "sentinel"),
        SourceSpec("yaral", corpus / "chronicle"),
        SourceSpec("sublime", corpus / "sublime"),
        SourceSpec("panther", corpus / "panther"),
    ]
    assert [s.vendor for s in config.sources[:4]] == ["sigma", "sigma", "sigma", "elastic"]
    assert config.attack == shared_dir / "attack"
    assert config.telemetry == shared_dir / "providers"


def test_bad_source_and_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="expected SOURCE=PATH"):
        parse_source_arg("=x")
    with pytest.raises(
        ConfigError, match=r"unknown source 'qradar' \(known: sigma, hayabusa, suzaku, elastic"
    ):
        parse_source_arg("qradar=x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        resolve_build_config(make_parser().parse_args(["build", "--source", "sigma=missing"]))
    (tmp_path / "ruleatlas.toml").write_text("[build\n")
    with pytest.raises(ConfigError, match=r"ruleatlas\.toml"):
        resolve_build_config(make_parser().parse_args(["build"]))


def test_repository_and_commit_from_source_md(tmp_path: Path) -> None:
    commit = "8eaafff1f2845a696050e05e72ba1140ee190698"
    (tmp_path / "SOURCE.md").write_text(
        f"- Repository: https://github.com/SigmaHQ/sigma\n- Snapshot commit: `{commit}`\n"
    )
    spec = describe_source(SourceSpec("sigma", tmp_path))
    assert spec.repo == "https://github.com/SigmaHQ/sigma"
    assert spec.commit == commit


def test_repository_and_commit_from_git(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    git("remote", "add", "origin", "git@github.com:example/rules.git")
    (tmp_path / "r.yml").write_text("title: x\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "x")
    spec = describe_source(SourceSpec("sigma", tmp_path))
    assert spec.repo == "https://github.com/example/rules"
    assert spec.commit == git("rev-parse", "HEAD")


def test_upstream_repository_by_default(tmp_path: Path) -> None:
    assert describe_source(SourceSpec("sigma", tmp_path)).repo == "https://github.com/SigmaHQ/sigma"
    assert describe_source(SourceSpec("kusto", tmp_path)).repo == "https://github.com/Azure/Azure-Sentinel"


def test_shared_folder_with_only_some_corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in ("corpus/sentinel", "corpus/elastic", "attack", "providers"):
        (tmp_path / folder).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    config = resolve_build_config(make_parser().parse_args(["build", "--shared", str(tmp_path)]))
    assert [(s.name, s.vendor, s.path.name) for s in config.sources] == [
        ("elastic", "elastic", "elastic"),
        ("kusto", "kusto", "sentinel"),
    ]
    with pytest.raises(ConfigError, match="no rule folder there"):
        resolve_build_config(make_parser().parse_args(["build", "--shared", str(tmp_path / "corpus")]))


def test_toml_source_names_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ruleatlas.toml").write_text('[sources]\nsigmahq = "rules"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"ruleatlas\.toml \[sources\]: unknown source 'sigmahq'"):
        resolve_build_config(make_parser().parse_args(["build"]))
