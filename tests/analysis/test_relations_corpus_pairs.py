"""Real cross-vendor pairs from ../shared (issue 14 §2) are one equivalence class when analysed as the build
analyses them (`analyse_rule`, with the real telemetry catalog giving each its event coverage): Google's
YARA-L translation of a SigmaHQ rule, and Elastic's ports of SigmaHQ's Okta rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.analysis.relations import relate
from ruleatlas.analysis.relations.form import RuleForm
from ruleatlas.analysis.rows import analyse_rule
from ruleatlas.model import Rule
from ruleatlas.sources.elastic import parse_file as parse_elastic
from ruleatlas.sources.sigma import parse_sigma_file
from ruleatlas.sources.yaral import parse_file as parse_yaral
from ruleatlas.telemetry import TelemetryCatalog

# (Sigma original, its port in another vendor's corpus), as ../shared/corpus lays them out.
PAIRS = (
    (
        "sigma/rules/windows/process_creation/proc_creation_win_finger_execution.yml",
        "chronicle/rules/community/microsoft/windows/finger_exe_execution.yaral",
    ),
    (  # its `data_source = "Sysmon"` meta filters nothing: both are fed Sysmon 1 and Security 4688
        "sigma/rules/windows/process_creation/proc_creation_win_hktl_mimikatz_command_line.yml",
        "chronicle/rules/community/microsoft/windows/hacktool_mimikatz_execution.yaral",
    ),
    (
        "sigma/rules/identity/okta/okta_api_token_revoked.yml",
        "elastic/rules/integrations/okta/impact_attempt_to_revoke_okta_api_token.toml",
    ),
    (
        "sigma/rules/identity/okta/okta_api_token_created.yml",
        "elastic/rules/integrations/okta/persistence_attempt_to_create_okta_api_token.toml",
    ),
)


def read(corpus: Path, path: str) -> Rule:
    text = (corpus / path).read_text(encoding="utf-8")
    vendor, rel_path = path.split("/", 1)
    if vendor == "sigma":
        rules, problems = parse_sigma_file(text, rel_path, "rules")
    elif vendor == "chronicle":
        rules, problems = parse_yaral(text, rel_path, "community", repo_url="", commit="", companions={})
    else:
        rules, problems = parse_elastic(text, rel_path, "rules", repo_url="", commit="", companions={})
    assert rules and not problems, problems
    rules[0].uid = path
    return rules[0]


@pytest.fixture(scope="module")
def forms(shared_dir: Path, telemetry: TelemetryCatalog) -> dict[str, RuleForm]:
    out: dict[str, RuleForm] = {}
    for pair in PAIRS:
        for path in pair:
            row = analyse_rule(read(shared_dir / "corpus", path), None, telemetry)
            assert row.relation_form, path
            out[path] = RuleForm.from_json(row.relation_form)
    return out


@pytest.mark.parametrize(("original", "port"), PAIRS, ids=[p[1].split("/")[-1] for p in PAIRS])
def test_a_real_port_is_its_sigma_original_s_class(
    forms: dict[str, RuleForm], original: str, port: str
) -> None:
    s_form, p_form = forms[original], forms[port]
    assert p_form.coverage == s_form.coverage  # the catalog feeds both the same events
    assert p_form.class_key == s_form.class_key
    assert relate([s_form, p_form]).classes == {s_form.class_key: sorted([original, port])}
