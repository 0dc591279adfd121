"""Helpers for the Sigma source tests: parse a YAML snippet into rules and file problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from ruleatlas.model import Problem, Rule
from ruleatlas.sources.sigma import parse_sigma_file

Parse = Callable[..., tuple[list[Rule], list[Problem]]]


def parse_text(
    text: str, path: str = "rules/windows/sample_rule.yml", folder: str = "rules", **kwargs: str
) -> tuple[list[Rule], list[Problem]]:
    return parse_sigma_file(textwrap.dedent(text).lstrip("\n"), path, folder, **kwargs)


@pytest.fixture
def parse() -> Parse:
    """parse(yaml_text, path=..., folder=...) -> (rules, file problems); the text is dedented."""
    return parse_text


@pytest.fixture
def one_rule() -> Callable[..., Rule]:
    """one_rule(yaml_text) -> the Rule of the text (asserting it is the only one and no file problem)."""

    def build(text: str, **kwargs: str) -> Rule:
        rules, problems = parse_text(text, **kwargs)
        assert problems == []
        assert len(rules) == 1
        return rules[0]

    return build


def detection_text(body: str, condition: str = "selection") -> str:
    indented = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return (
        "title: Test rule\n"
        "logsource:\n    product: windows\n"
        f"detection:\n{indented}\n    condition: {condition}\n"
        "level: low\n"
    )


@pytest.fixture
def detect() -> Callable[..., Rule]:
    """detect(detection_body, condition="selection") -> the Rule of a minimal rule around that detection.

    The body is written at column 0 and indented under `detection:` (so lines are: title 1, logsource 2-3,
    detection 4, body from line 5)."""

    def build(body: str, condition: str = "selection") -> Rule:
        rules, problems = parse_text(detection_text(body, condition))
        assert problems == []
        assert len(rules) == 1
        return rules[0]

    return build
