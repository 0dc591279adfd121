"""load_telemetry: bad input (tests/data/telemetry), the real data's shape, and the JSON round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ruleatlas.model import Kind, Pred, Ref, Rule, SourceRef, Stage
from ruleatlas.telemetry import TelemetryCatalog, load_telemetry
from ruleatlas.telemetry.catalog import FORMAT_VERSION
from ruleatlas.telemetry.coverage import event_coverage
from ruleatlas.telemetry.load import _message_title

FIXTURE_SCHEMAS = "ossem-dd/resources/schemas/sysmon"


def fixture_providers(test_data: Path) -> Path:
    return test_data / "telemetry" / "providers"


def test_corrupt_schema_is_reported_by_file_and_line_and_the_rest_loads(test_data: Path) -> None:
    catalog = load_telemetry(fixture_providers(test_data))
    corrupt = [p for p in catalog.problems if p.file.endswith("sysmonv15.15_4.90.xml")]
    assert len(corrupt) == 1
    assert corrupt[0].message.startswith("invalid XML: not well-formed")
    assert corrupt[0].line == 7
    # the older schema still gives Sysmon 1 and 3, with the documentation title where the dictionary has one
    sysmon = catalog.provider("Microsoft-Windows-Sysmon")
    assert sysmon is not None
    assert sorted(sysmon.events) == [1, 3]
    assert sysmon.events[1].title == "Process creation"
    assert sysmon.events[3].title == "Network connection detected"  # no dictionary entry: the schema template
    assert [f.name for f in sysmon.events[1].fields] == [
        "RuleName",
        "Image",
        "OriginalFileName",
        "CommandLine",
    ]
    image = sysmon.events[1].fields[1]
    assert (image.type, image.description) == ("win:UnicodeString", "File path of the process being spawned")
    assert sysmon.events[1].message.startswith("Process Create:\nRuleName: %1\nImage: %2")
    # the other files load too
    security = catalog.event("Microsoft-Windows-Security-Auditing", 4688)
    assert security is not None
    assert security.title == "A new process has been created."
    assert security.version == 2
    assert [f.name for f in security.fields] == ["NewProcessName", "CommandLine", "ParentProcessName"]
    assert "Process Command Line" in security.message  # the newest of the two message rows


def test_missing_files_are_reported_not_raised(test_data: Path) -> None:
    catalog = load_telemetry(fixture_providers(test_data))
    missing = sorted(Path(p.file).name for p in catalog.problems if p.message == "not found")
    assert missing == ["_all_ossem_relationships.json"]


def test_corrupt_json_names_file_and_line_and_sysmon_still_loads(test_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "providers"
    shutil.copytree(fixture_providers(test_data), root)
    (root / "windows-event-fields.json").write_text(
        '{\n  "providers": {\n    "x": [1, 2,\n}\n', encoding="utf-8"
    )
    catalog = load_telemetry(root)
    bad = [p for p in catalog.problems if p.file == str(root / "windows-event-fields.json")]
    assert len(bad) == 1
    assert bad[0].message.startswith("invalid JSON:")
    assert bad[0].line == 4
    assert catalog.event("Microsoft-Windows-Sysmon", 1) is not None
    assert (
        catalog.event("Microsoft-Windows-Security-Auditing", 4688) is not None
    )  # from the message file alone


def test_missing_providers_folder_is_a_problem(tmp_path: Path) -> None:
    catalog = load_telemetry(tmp_path / "nowhere")
    assert catalog.problems[0].file == str(tmp_path / "nowhere")
    assert catalog.problems[0].message == "providers folder not found"
    # only the catch-all providers of log sources, which come from the Sigma tables, and the platforms, which
    # come from installed packages: none from this folder
    assert [p.name for p in catalog.providers.values() if p.kind not in ("logsource", "platform")] == []


def test_bad_sigma_dir_is_reported(test_data: Path, tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "thor.yml").write_text("logsources:\n  a: [unclosed\n", encoding="utf-8")
    catalog = load_telemetry(fixture_providers(test_data), tmp_path)
    thor = [p for p in catalog.problems if p.file.endswith("thor.yml")]
    assert len(thor) == 1 and thor[0].message.startswith("invalid YAML") and thor[0].line == 3
    assert any(p.file.endswith("logsource.json") and p.message == "not found" for p in catalog.problems)
    # pySigma's own tables are still there
    assert [t.event_id for t in catalog.logsources.categories["process_creation"]] == [1, 4688]


def test_message_title_hides_insertion_strings() -> None:
    assert _message_title("%1 has detected malware.\n For more") == "… has detected malware."
    assert _message_title("Creating Scriptblock text (%1 of %2):\n%3") == "Creating Scriptblock text (… of …)"
    assert _message_title("%3\n\nContext:\n%1") == ""
    assert (
        _message_title("The %1 service entered the %2!S! state. %%1937")
        == "The … service entered the … state. …"
    )


def test_real_data_shape(telemetry: TelemetryCatalog) -> None:
    assert telemetry.problems == []
    sysmon = telemetry.provider("Microsoft-Windows-Sysmon")
    assert sysmon is not None and sysmon.label == "Sysmon"
    assert sysmon.channels == ["Microsoft-Windows-Sysmon/Operational"]
    assert {1: "Process creation", 3: "Network connection", 22: "DNSEvent (DNS query)"}.items() <= {
        k: e.title for k, e in sysmon.events.items()
    }.items()
    security = telemetry.provider("Microsoft Windows Security Auditing")  # the logsource guides' spelling
    assert security is not None and security.name == "Microsoft-Windows-Security-Auditing"
    assert security.label == "Security"
    scm = telemetry.event("Service Control Manager", 7045)
    assert scm is not None
    assert [f.name for f in scm.fields] == [
        "ServiceName",
        "ImagePath",
        "ServiceType",
        "StartType",
        "AccountName",
    ]
    assert telemetry.event("Microsoft-Windows-PowerShell", 4103).title == "Module logging"  # type: ignore[union-attr]
    # OSSEM-DD's "Microsoft-Windows-User-Profiles-Service" and the manifests' spelling are one provider
    profiles = telemetry.provider("Microsoft-Windows-User Profiles Service")
    assert profiles is not None and telemetry.provider("Microsoft-Windows-User-Profiles-Service") is profiles


def test_json_round_trip(telemetry: TelemetryCatalog) -> None:
    data = telemetry.to_json()
    text = json.dumps(data)
    restored = TelemetryCatalog.from_json(json.loads(text))
    assert restored.to_json() == data
    assert restored.event("Microsoft-Windows-Security-Auditing", 4688) == telemetry.event(
        "Microsoft-Windows-Security-Auditing", 4688
    )
    assert restored.providers.keys() == telemetry.providers.keys()
    rule = Rule(
        uid="sigma/x",
        vendor="sigma",
        language="sigma",
        source=SourceRef(repo="test", path="x.yml"),
        folder="rules",
        logsource={"category": "process_creation", "product": "windows"},
        stages=[
            Stage(0, "condition", "condition", "selection", Ref("selection")),
            Stage(1, "selection", "search", "", Pred("OriginalFileName", Kind.EQ, "x.exe")),
        ],
    )
    assert event_coverage(rule, restored) == event_coverage(rule, telemetry)
    assert [e.event_id for e in event_coverage(rule, restored).events] == [1]


def test_from_json_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match=f"telemetry catalog format 99, expected {FORMAT_VERSION}$"):
        TelemetryCatalog.from_json({"format": 99})
