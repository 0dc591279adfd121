from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ruleatlas.attack import (
    TACTIC_ALIASES,
    AttackData,
    AttackDataError,
    AttackTag,
    Tactic,
    TacticCoverage,
    Technique,
    TechniqueRef,
    find_bundle,
    load_attack,
    load_stix,
    map_tags,
    parse_attack_tag,
)


@pytest.fixture(scope="module")
def fixture_bundle(test_data: Path) -> Path:
    return test_data / "attack" / "enterprise-attack.json"


@pytest.fixture(scope="module")
def data(fixture_bundle: Path) -> AttackData:
    return load_attack(fixture_bundle)


@pytest.fixture(scope="module")
def real(shared_dir: Path) -> AttackData:
    """../shared's ATT&CK as a build reads it: v18.1 STIX with v19 laid over it."""
    return load_attack(shared_dir / "attack")


@pytest.fixture(scope="module")
def real18(shared_dir: Path) -> AttackData:
    """The v18.1 STIX subset alone."""
    return load_stix(shared_dir / "attack")


def shape(cov_tactics: list[TacticCoverage]) -> list[tuple[str, list[str]]]:
    return [(t.shortname, [ref.id for ref in t.techniques]) for t in cov_tactics]


# ------------------------------------------------------------------ loading the official-shaped fixture


def test_fixture_version_domain_and_matrix_order(data: AttackData) -> None:
    assert data.version == "18.1"
    assert data.domain == "enterprise-attack"
    # The tactic objects are stored in reverse; the matrix's tactic_refs decide the order.
    assert [(t.id, t.shortname) for t in data.tactics] == [
        ("TA0002", "execution"),
        ("TA0003", "persistence"),
        ("TA0004", "privilege-escalation"),
        ("TA0005", "defense-evasion"),
        ("TA0006", "credential-access"),
        ("TA0011", "command-and-control"),
    ]
    c2 = data.tactic("command-and-control")
    assert c2 is not None and c2.name == "Command and Control"
    assert c2.url == "https://attack.mitre.org/tactics/TA0011"
    evasion = data.tactic("defense-evasion")
    assert evasion is not None
    assert evasion.description == "The adversary is trying to avoid being detected.\n\nSecond paragraph."


def test_fixture_techniques(data: AttackData) -> None:
    assert len(data.techniques) == 17
    ps = data.techniques["T1059.001"]
    assert (ps.name, ps.is_subtechnique, ps.parent, ps.tactics) == (
        "PowerShell",
        True,
        "T1059",
        ("execution",),
    )
    assert ps.platforms == ("Windows",)
    assert ps.url == "https://attack.mitre.org/techniques/T1059/001"
    parent = data.techniques["T1059"]
    assert (parent.is_subtechnique, parent.parent) == (False, "")
    assert parent.summary == "Adversaries may abuse command and script interpreters to execute commands."
    assert parent.description.endswith("\n\nMore detail.") and "Citation" not in parent.description
    # Tactics follow matrix order, whatever the kill_chain_phases order.
    assert data.techniques["T1053"].tactics == ("execution", "persistence", "privilege-escalation")
    # A deprecated subtechnique-of relationship (to T1572) is ignored.
    assert data.techniques["T1090.001"].parent == "T1090"
    assert data.technique("t1090.001") is data.techniques["T1090.001"]
    # Ids are ordered numerically, sub-techniques right after their parent.
    ids = list(data.techniques)
    assert (
        ids.index("T1003")
        < ids.index("T1003.001")
        < ids.index("T1036")
        < ids.index("T1547")
        < ids.index("T1572")
    )


def test_fixture_revoked_and_deprecated(data: AttackData) -> None:
    old = data.techniques["T1086"]
    assert (old.revoked, old.deprecated, old.replaced_by) == (True, False, "T1059.001")
    # revoked-by chains are followed to the end: T1150 -> T1547.011 -> T1647
    assert data.techniques["T1150"].replaced_by == "T1647"
    assert data.techniques["T1547.011"].replaced_by == "T1647"
    port = data.techniques["T1043"]
    assert (port.revoked, port.deprecated, port.replaced_by) == (False, True, "")


def test_fixture_data_components(data: AttackData) -> None:
    # v18 path: detection strategy -detects-> technique, analytic log source -> component
    assert data.techniques["T1059.001"].data_components == ("Process Creation",)
    # pre-v18 path: component -detects-> technique
    assert data.techniques["T1090"].data_components == ("Network Traffic Flow",)
    # a deprecated detects relationship does not count
    assert data.techniques["T1102"].data_components == ()


def test_fixture_groups_software_campaigns(data: AttackData) -> None:
    assert data.groups == {"G0032": "Lazarus Group"}
    assert data.software == {"S0002": "Mimikatz", "S0154": "Cobalt Strike"}
    assert data.campaigns == {"C0001": "Frankenstein"}
    assert data.mitigations == {"M1026": "Privileged Account Management"}
    assert data.data_sources == {"DS0009": "Process"}


def test_fixture_object_without_attack_id_is_reported(data: AttackData, fixture_bundle: Path) -> None:
    assert len(data.problems) == 1
    problem = data.problems[0]
    assert problem.file == str(fixture_bundle)
    assert problem.severity == "warning"
    assert "'Custom Pattern Without Id'" in problem.message and "has no ATT&CK id" in problem.message


def test_directory_picks_the_bundle(test_data: Path, data: AttackData, fixture_bundle: Path) -> None:
    assert find_bundle(test_data / "attack") == fixture_bundle
    assert load_attack(test_data / "attack") == data


def test_directory_prefers_official_bundle_over_a_subset(tmp_path: Path, fixture_bundle: Path) -> None:
    shutil.copy(fixture_bundle, tmp_path / "enterprise-attack-v17.0-stix-subset.json")
    shutil.copy(fixture_bundle, tmp_path / "enterprise-attack.json")
    (tmp_path / "notes.json").write_text("{}")
    assert find_bundle(tmp_path) == tmp_path / "enterprise-attack.json"
    (tmp_path / "enterprise-attack.json").unlink()
    assert find_bundle(tmp_path) == tmp_path / "enterprise-attack-v17.0-stix-subset.json"


def test_stix20_bundle_without_collection_or_matrix(tmp_path: Path, fixture_bundle: Path) -> None:
    """mitre/cti style: STIX 2.0, no x-mitre-collection; the version comes from the file name."""
    bundle = json.loads(fixture_bundle.read_text())
    bundle["spec_version"] = "2.0"
    bundle["id"] = "bundle--0b1e4a27-6ad5-4b6c-9d1a-3f2d5c8e7a90"
    bundle["objects"] = [
        o for o in bundle["objects"] if o["type"] not in ("x-mitre-collection", "x-mitre-matrix")
    ]
    path = tmp_path / "enterprise-attack-17.1.json"
    path.write_text(json.dumps(bundle))
    loaded = load_attack(tmp_path)
    assert loaded.version == "17.1"
    assert [t.id for t in loaded.tactics] == ["TA0002", "TA0003", "TA0004", "TA0005", "TA0006", "TA0011"]
    assert any(p.message == "no x-mitre-matrix: tactics ordered by ATT&CK id" for p in loaded.problems)
    assert loaded.techniques["T1059.001"].parent == "T1059"


# ------------------------------------------------------------------ errors


def test_error_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(AttackDataError) as err:
        load_attack(missing)
    assert err.value.file == str(missing)
    assert str(err.value) == f"{missing}: no such file or directory"


def test_error_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "enterprise-attack.json"
    bad.write_text('{"type": "bundle",\n "objects": [\n  {"type": "x-mitre-tactic",,}\n ]}\n')
    with pytest.raises(AttackDataError) as err:
        load_attack(tmp_path)
    assert err.value.file == str(bad)
    assert err.value.line == 3
    assert str(err.value).startswith(f"{bad}:3: invalid JSON: Expecting property name")


def test_error_not_a_bundle(tmp_path: Path) -> None:
    bad = tmp_path / "x-stix.json"
    bad.write_text('{"type": "x-mitre-collection", "objects": []}')
    with pytest.raises(AttackDataError) as err:
        load_attack(bad)
    assert str(err.value) == f"{bad}: not a STIX bundle (expected an object with type 'bundle' and objects)"


def test_error_directory_without_bundle(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(AttackDataError) as err:
        load_attack(tmp_path)
    assert (
        str(err.value)
        == f"{tmp_path}: no STIX bundle here (looked for enterprise-attack.json and *stix*.json)"
    )


def test_error_from_json_wrong_format() -> None:
    with pytest.raises(AttackDataError) as err:
        AttackData.from_json({"format": "something-else"}, file="catalog.db:attack")
    assert str(err.value) == (
        "catalog.db:attack: not RuleAtlas ATT&CK data"
        " (format 'something-else', expected 'ruleatlas-attack/2')"
    )
    with pytest.raises(
        AttackDataError, match=r"^catalog.db:attack: malformed RuleAtlas ATT&CK data: KeyError"
    ):
        AttackData.from_json({"format": "ruleatlas-attack/2"}, file="catalog.db:attack")


def test_error_unexpected_stix_content(tmp_path: Path) -> None:
    bad = tmp_path / "enterprise-attack.json"
    tactic = {"type": "x-mitre-tactic", "id": "x-mitre-tactic--1", "external_references": 7}
    bad.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [tactic]}))
    with pytest.raises(AttackDataError) as err:
        load_attack(bad)
    assert str(err.value).startswith(f"{bad}: unexpected STIX content: TypeError(")
    assert isinstance(err.value, ValueError)  # callers that treat bad data as ValueError catch it too


# ------------------------------------------------------------------ to_json / from_json


def test_json_round_trip(data: AttackData) -> None:
    text = json.dumps(data.to_json())
    again = AttackData.from_json(json.loads(text))
    assert again == data
    assert again.tactic("execution") == data.tactic("execution")
    assert isinstance(again.techniques["T1053"].tactics, tuple)
    assert map_tags(["attack.t1053.005", "attack.g0032"], again) == map_tags(
        ["attack.t1053.005", "attack.g0032"], data
    )


# ------------------------------------------------------------------ tags


def test_parse_attack_tag_forms() -> None:
    assert parse_attack_tag("attack.t1059.001") == AttackTag("attack.t1059.001", "technique", "T1059.001")
    assert parse_attack_tag(" attack.T1059 ") == AttackTag("attack.T1059", "technique", "T1059")
    assert parse_attack_tag("attack.command_and_control") == AttackTag(
        "attack.command_and_control", "tactic", "command-and-control"
    )
    assert parse_attack_tag("attack.g0032") == AttackTag("attack.g0032", "group", "G0032")
    assert parse_attack_tag("attack.s0154") == AttackTag("attack.s0154", "software", "S0154")
    assert parse_attack_tag("attack.c0001") == AttackTag("attack.c0001", "campaign", "C0001")
    assert parse_attack_tag("attack.ds0005") == AttackTag("attack.ds0005", "data_source", "DS0005")
    assert parse_attack_tag("attack.m1026") == AttackTag("attack.m1026", "mitigation", "M1026")
    for other in ("cve.2021-44228", "detection.threat-hunting", "car.2016-04-005", "tlp.amber", "attack."):
        assert parse_attack_tag(other) is None
    not_text: Any = 1059  # YAML may give a number as a tag
    assert parse_attack_tag(not_text) is None


def test_example_command_and_control(data: AttackData) -> None:
    cov = map_tags(["attack.command-and-control", "attack.t1572", "attack.t1090", "attack.t1102"], data)
    active = {"revoked": False, "deprecated": False, "replaced_by": "", "replaced_by_name": "", "moved": ""}
    assert cov.page_attack() == [
        {
            "tactic": "Command and Control",
            "tactic_id": "TA0011",
            "shortname": "command-and-control",
            "tagged_as": [],
            "techniques": [
                {"id": "T1090", "name": "Proxy", **active, "note": ""},
                {"id": "T1102", "name": "Web Service", **active, "note": ""},
                {"id": "T1572", "name": "Protocol Tunneling", **active, "note": ""},
            ],
        }
    ]
    assert cov.unknown == [] and cov.unverified == []


def test_subtechnique_and_parent_both_listed(data: AttackData) -> None:
    cov = map_tags(["attack.execution", "attack.t1059.001", "attack.t1059"], data)
    assert shape(cov.tactics) == [("execution", ["T1059", "T1059.001"])]
    cov = map_tags(["attack.t1003.001"], data)  # no parent, no tactic tag: its own tactic
    assert shape(cov.tactics) == [("credential-access", ["T1003.001"])]


def test_tactic_intersection_rule(data: AttackData) -> None:
    # T1053.005 belongs to execution, persistence and privilege-escalation; the rule says persistence.
    cov = map_tags(["attack.persistence", "attack.t1053.005"], data)
    assert shape(cov.tactics) == [("persistence", ["T1053.005"])]
    # No tactic tag: every tactic of the technique, in matrix order.
    cov = map_tags(["attack.t1053.005"], data)
    assert shape(cov.tactics) == [
        ("execution", ["T1053.005"]),
        ("persistence", ["T1053.005"]),
        ("privilege-escalation", ["T1053.005"]),
    ]
    # The rule's tactic is not one of the technique's: the technique shows under all its own tactics and the
    # tagged tactic still shows, empty.
    cov = map_tags(["attack.command-and-control", "attack.t1059.001"], data)
    assert shape(cov.tactics) == [("execution", ["T1059.001"]), ("command-and-control", [])]


def test_tactic_tag_without_technique(data: AttackData) -> None:
    cov = map_tags(["attack.credential-access"], data)
    assert cov.tactics == [TacticCoverage("Credential Access", "TA0006", "credential-access", [])]


def test_underscore_hyphen_and_case_forms(data: AttackData) -> None:
    hyphen = map_tags(["attack.privilege-escalation", "attack.t1053"], data)
    underscore = map_tags(["attack.privilege_escalation", "attack.T1053"], data)
    upper = map_tags(["Attack.Privilege_Escalation", "attack.t1053"], data)
    assert shape(hyphen.tactics) == [("privilege-escalation", ["T1053"])]
    assert underscore == hyphen == upper
    # the same tactic in both forms counts once
    both = map_tags(["attack.command_and_control", "attack.command-and-control"], data)
    assert shape(both.tactics) == [("command-and-control", [])]


def test_groups_software_campaigns(data: AttackData) -> None:
    cov = map_tags(["attack.s0154", "attack.g0032", "attack.s0002", "attack.c0001", "attack.m1026"], data)
    assert cov.groups == [("G0032", "Lazarus Group")]
    assert cov.software == [("S0002", "Mimikatz"), ("S0154", "Cobalt Strike")]
    assert cov.campaigns == [("C0001", "Frankenstein")]
    assert cov.mitigations == [("M1026", "Privileged Account Management")]
    assert cov.tactics == [] and cov.unknown == []


def test_unknown_tags_and_other_namespaces(data: AttackData) -> None:
    tags = [
        "attack.execution",
        "attack.t9999",
        "attack.t1059.999",
        "attack.g9999",
        "attack.s9999",
        "attack.not-a-tactic",
        "attack.t9999",
        "cve.2021-44228",
        "detection.emerging-threats",
        "car.2016-04-005",
        "tlp.white",
    ]
    cov = map_tags(tags, data)
    assert cov.unknown == [
        "attack.t9999",
        "attack.t1059.999",
        "attack.g9999",
        "attack.s9999",
        "attack.not-a-tactic",
    ]
    assert shape(cov.tactics) == [("execution", [])]


def test_unverified_when_data_lacks_the_kind(data: AttackData) -> None:
    bare = AttackData(version=data.version, tactics=data.tactics, techniques=data.techniques)
    cov = map_tags(["attack.g0032", "attack.s0154", "attack.a0001", "attack.t9999"], bare)
    assert cov.unverified == ["attack.g0032", "attack.s0154", "attack.a0001"]
    assert cov.unknown == ["attack.t9999"]


def test_revoked_and_deprecated_are_listed_and_flagged(data: AttackData) -> None:
    cov = map_tags(["attack.execution", "attack.t1086", "attack.t1043"], data)
    assert cov.tactics == [
        TacticCoverage(
            "Execution",
            "TA0002",
            "execution",
            [
                TechniqueRef(
                    "T1086",
                    "PowerShell",
                    True,
                    False,
                    "T1059.001",
                    replaced_by_name="PowerShell",
                    note="revoked; replaced by T1059.001",
                )
            ],
        ),
        TacticCoverage(
            "Command and Control",
            "TA0011",
            "command-and-control",
            [TechniqueRef("T1043", "Commonly Used Port", False, True, "", note="deprecated")],
        ),
    ]
    # A revoked technique without kill-chain phases shows under its replacement's tactics.
    cov = map_tags(["attack.t1150"], data)
    assert cov.tactics == [
        TacticCoverage(
            "Defense Evasion",
            "TA0005",
            "defense-evasion",
            [
                TechniqueRef(
                    "T1150",
                    "Plist Modification",
                    True,
                    False,
                    "T1647",
                    replaced_by_name="Plist File Modification",
                    note="revoked; replaced by T1647",
                )
            ],
        )
    ]


def test_technique_without_any_tactic(data: AttackData) -> None:
    """Data may hold a technique with no kill-chain phase and no replacement: it goes under the rule's tactic
    tags, or under an unnamed tactic when the rule has none, never nowhere."""
    lost = Technique("T1999", "Lost Technique")
    odd = AttackData(version="test", tactics=data.tactics, techniques={"T1999": lost})
    assert shape(map_tags(["attack.execution", "attack.t1999"], odd).tactics) == [("execution", ["T1999"])]
    assert map_tags(["attack.t1999"], odd).tactics == [
        TacticCoverage("", "", "", [TechniqueRef("T1999", "Lost Technique")])
    ]


def test_v19_tactic_names_resolve_on_v18_data(data: AttackData) -> None:
    assert TACTIC_ALIASES["stealth"] == ("defense-evasion",)
    cov = map_tags(["attack.stealth", "attack.defense-impairment", "attack.t1036"], data)
    assert shape(cov.tactics) == [("defense-evasion", ["T1036"])]
    assert cov.unknown == []


def test_v18_tactic_name_resolves_on_v19_data() -> None:
    """Against data that has the split (ids here are test values, not ATT&CK's), an old tag follows the
    rule's techniques to the successor they belong to, or shows both successors when there is no technique."""
    tactics = [
        Tactic("TA9001", "stealth", "Stealth"),
        Tactic("TA9002", "defense-impairment", "Defense Impairment"),
    ]
    techniques = {
        "T1036": Technique("T1036", "Masquerading", ("stealth",)),
        "T1562": Technique("T1562", "Impair Defenses", ("defense-impairment",)),
    }
    v19 = AttackData(version="19-test", tactics=tactics, techniques=techniques)
    assert shape(map_tags(["attack.defense_evasion", "attack.t1036"], v19).tactics) == [
        ("stealth", ["T1036"])
    ]
    assert shape(map_tags(["attack.defense-evasion"], v19).tactics) == [
        ("stealth", []),
        ("defense-impairment", []),
    ]
    assert map_tags(["attack.stealth"], v19).tactics == [TacticCoverage("Stealth", "TA9001", "stealth", [])]


# ------------------------------------------------------------------ the real ATT&CK v18.1 data


@pytest.mark.corpus
def test_real_bundle_loads(real18: AttackData, shared_dir: Path) -> None:
    real = real18
    assert real.version == "18.1"
    assert real.domain == "enterprise-attack"
    assert len(real.tactics) == 14 and len(real.techniques) == 835
    assert [t.shortname for t in real.tactics][:3] == [
        "reconnaissance",
        "resource-development",
        "initial-access",
    ]
    assert real.tactics[-1].shortname == "impact"
    assert sum(t.revoked for t in real.techniques.values()) == 132
    assert sum(t.deprecated for t in real.techniques.values()) == 12
    assert real.techniques["T1086"].replaced_by == "T1059.001"
    assert real.techniques["T1059.001"].data_components == (
        "Command Execution",
        "Module Load",
        "Process Creation",
        "Process Metadata",
    )
    assert real.problems == []
    # groups/software/campaigns are not in the STIX subset; they come from the compact index beside it
    assert real.sources == [
        str(shared_dir / "attack" / "enterprise-attack-v18.1-stix-subset.json"),
        str(shared_dir / "attack" / "enterprise-attack-v18.1-compact.json"),
    ]
    assert (len(real.groups), len(real.software), len(real.campaigns)) == (187, 787, 52)
    assert real.groups["G0032"] == "Lazarus Group" and real.software["S0154"] == "Cobalt Strike"


@pytest.mark.corpus
def test_real_example_command_and_control(real: AttackData) -> None:
    cov = map_tags(["attack.command-and-control", "attack.t1572", "attack.t1090", "attack.t1102"], real)
    assert cov.tactics == [
        TacticCoverage(
            "Command and Control",
            "TA0011",
            "command-and-control",
            [
                TechniqueRef("T1090", "Proxy"),
                TechniqueRef("T1102", "Web Service"),
                TechniqueRef("T1572", "Protocol Tunneling"),
            ],
        )
    ]
    assert cov.unknown == []


@pytest.mark.corpus
def test_real_data_matches_compact_index(real18: AttackData, shared_dir: Path) -> None:
    real = real18
    compact = json.loads((shared_dir / "attack" / "enterprise-attack-v18.1-compact.json").read_text())
    component_names = {c["id"]: c["name"] for c in compact["data_components"]}
    parent_from_id = set()
    for t in compact["techniques"]:
        ours = real.techniques[t["id"]]
        assert (ours.name, sorted(ours.tactics)) == (t["name"], sorted(t["tactics"]))
        if (ours.parent or None) != t["parent"]:
            parent_from_id.add((t["id"], ours.parent, ours.revoked))
        expected = tuple(sorted({component_names[i] for i in t["data_components"]}))
        assert ours.data_components == expected, t["id"]
    # Two revoked sub-techniques lost their subtechnique-of relationship upstream; their id names the parent.
    assert parent_from_id == {("T1053.001", "T1053", True), ("T1547.011", "T1547", True)}


@pytest.mark.corpus
def test_real_json_round_trip(real: AttackData) -> None:
    assert AttackData.from_json(json.loads(json.dumps(real.to_json()))) == real


# v19 technique ids that SigmaHQ (tagging against ATT&CK 19.1) uses and v18.1 does not have.
V19_ONLY_TAGS = {
    "attack.t1685",
    "attack.t1685.001",
    "attack.t1685.002",
    "attack.t1685.004",
    "attack.t1685.005",
    "attack.t1685.006",
    "attack.t1686",
    "attack.t1686.001",
    "attack.t1686.002",
    "attack.t1686.003",
    "attack.t1689",
    "attack.t1690",
}


@pytest.mark.corpus
def test_sigma_corpus_tags(real: AttackData, real18: AttackData, shared_dir: Path) -> None:
    """Every attack.* tag of the SigmaHQ rule folders resolves against v19 over v18.1; against v18.1
    alone, all but the v19-only technique ids."""
    sigma = shared_dir / "corpus" / "sigma"
    unknown: dict[str, str] = {}
    tactic_tags: set[str] = set()
    rules = 0
    paths = [
        *sigma.glob("rules*/**/*.yml"),
        *sigma.glob("deprecated/**/*.yml"),
        *sigma.glob("unsupported/**/*.yml"),
    ]
    for path in sorted(paths):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader):
            tags = [t for t in (doc or {}).get("tags") or () if isinstance(t, str)]
            rules += 1
            tactic_tags |= {t for t in tags if (p := parse_attack_tag(t)) and p.kind == "tactic"}
            for tag in map_tags(tags, real18).unknown:
                unknown.setdefault(tag, str(path.relative_to(sigma)))
            assert map_tags(tags, real).unknown == [], path
    assert rules > 4000
    # v19 names (rules*/) and the older underscore and pre-v19 forms (deprecated/, unsupported/) all occur
    assert {
        "attack.stealth",
        "attack.defense-impairment",
        "attack.defense_evasion",
        "attack.defense-evasion",
    } <= tactic_tags
    assert {"attack.command_and_control", "attack.resource_development"} <= tactic_tags
    assert set(unknown) == V19_ONLY_TAGS, unknown
    assert all(re.fullmatch(r"attack\.t16(8[5-9]|90)(\.\d{3})?", tag) for tag in unknown)
