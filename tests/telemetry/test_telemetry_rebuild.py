"""A rebuild after one rule changed writes exactly the telemetry pages of the events that rule covered before
and after (with their providers' pages and the one-per-site pages), and leaves every other page alone."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import pytest

from ruleatlas.build import build
from ruleatlas.cli import main
from ruleatlas.config import BuildConfig, SourceSpec

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "catalog" / "sigma"
SYSMON = "telemetry/microsoft-windows-sysmon/"
SECURITY = "telemetry/microsoft-windows-security-auditing/"


def page_times(site: Path) -> dict[str, int]:
    out = {}
    for folder in ("telemetry", "readiness"):
        for path in (site / folder).rglob("index.html"):
            out[path.parent.relative_to(site).as_posix() + "/"] = path.stat().st_mtime_ns
    return out


@pytest.mark.corpus
def test_one_changed_rule_rewrites_the_pages_of_the_events_it_covered_before_and_after(
    shared_dir: Path, tmp_path: Path
) -> None:
    sources = tmp_path / "sigma"
    shutil.copytree(FIXTURE, sources)
    config = BuildConfig(
        out=tmp_path / "out",
        sources=[SourceSpec("sigma", sources)],
        telemetry=shared_dir / "providers",
        jobs=1,
    )
    first = build(config, log=open(os.devnull, "w"))  # noqa: SIM115
    assert first.mode == "full"
    site = config.out / "site"
    logs = tmp_path / "logs.jsonl"
    logs.write_text('{"Channel": "Security", "EventID": 4688, "NewProcessName": "x"}\n', encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["readiness", "--catalog", str(config.out), str(logs)]) == 0
    readiness = site / "readiness" / "index.html"
    assert "The rules changed since this report" not in readiness.read_text(encoding="utf-8")
    before = page_times(site)
    assert {f"{SYSMON}1/", f"{SYSMON}3/", f"{SECURITY}4688/", "telemetry/", "readiness/"} <= set(before)
    assert len(before) > 900  # every provider has its page

    # proc_cmd_a covers Sysmon 1 and Security 4688; as a network_connection rule it covers Sysmon 3
    rule = sources / "rules" / "windows" / "proc_cmd_a.yml"
    rule.write_text(
        rule.read_text(encoding="utf-8").replace(
            "category: process_creation", "category: network_connection"
        ),
        encoding="utf-8",
    )
    second = build(config, log=open(os.devnull, "w"))  # noqa: SIM115
    assert second.mode == "incremental" and second.files_parsed == 1
    after = page_times(site)
    rewritten = {path for path, mtime in after.items() if before.get(path) != mtime}
    assert rewritten == {
        f"{SYSMON}1/",
        f"{SYSMON}3/",
        f"{SECURITY}4688/",
        f"{SECURITY}5156/",  # bridged to Sysmon 3 (network connection): it carries Image as Application
        # Defender XDR's process and network tables, bridged before and after, with their platform page
        "telemetry/defender-xdr-deviceprocessevents/DeviceProcessEvents/",
        "telemetry/defender-xdr-deviceprocessevents/",
        "telemetry/defender-xdr-devicenetworkevents/DeviceNetworkEvents/",
        "telemetry/defender-xdr-devicenetworkevents/",
        "telemetry/platforms/defender_xdr/",
        SYSMON,
        SECURITY,
        "telemetry/",
        "telemetry/platforms/windows/",  # its figures move with the rules of its events
        # not telemetry/uncovered/: the rule covers events before and after, and that page lists only the
        # rules covering none (web/telemetry_changes.py renders a summary page only when what it reads moved)
        "telemetry/vendors/sigma/",
        "telemetry/priority/",  # it ranks every event
        "readiness/",
    }
    assert "The rules changed since this report" in readiness.read_text(encoding="utf-8")
    sysmon3 = (site / SYSMON / "3" / "index.html").read_text(encoding="utf-8")
    assert "Cmd Started With Filter" in sysmon3
    sysmon1 = (site / SYSMON / "1" / "index.html").read_text(encoding="utf-8")
    assert "Cmd Started With Filter" not in sysmon1
    # 5156 lists it apart, as served once a pipeline maps it (the scanner routes it Sysmon 3 only)
    wfp = (site / SECURITY / "5156" / "index.html").read_text(encoding="utf-8")
    bridged = wfp.split('id="bridged-rules"', 1)[1]
    assert "Cmd Started With Filter" in bridged and "once your pipeline maps it" in bridged

    third = build(config, log=open(os.devnull, "w"))  # noqa: SIM115
    assert third.files_parsed == 0
    assert page_times(site) == after  # nothing changed: no telemetry page written
