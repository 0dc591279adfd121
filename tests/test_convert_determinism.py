"""Deploy as gives one answer per rule: pySigma-backend-secops keeps a rule's event types in a set (Python's
per-process string hash orders it) and adds each rule's event-type field mappings to its reused pipeline;
the Converter lists event types sorted and starts each rule's mapping empty, so neither the process nor the
rules converted before change a rule's conversion."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ruleatlas.analysis.deploy import Converter, target

# Security events 4656/4663 (file access) and 4657 (registry change): two event types.
_SEVERAL_EVENT_TYPES = """title: Several event types
id: 8cd538a4-62d5-4e83-810b-12d41e428d6f
status: test
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: [4657, 4656, 4663]
    condition: selection
level: medium
"""

_FILE_EVENT = """title: A file event
id: 0b000000-0000-4000-8000-000000000001
status: test
logsource:
    category: file_event
    product: windows
detection:
    selection:
        TargetFilename|endswith: '.exe'
    condition: selection
level: medium
"""

# TargetFilename has no UDM field for this category's event types: refused when converted alone.
_EXECUTABLE_DETECTED = """title: An executable detected
id: 0b000000-0000-4000-8000-000000000002
status: test
logsource:
    category: file_executable_detected
    product: windows
detection:
    selection:
        TargetFilename|endswith: '.sed'
    condition: selection
level: medium
"""

_CONVERT = """
import json, sys
from ruleatlas.analysis.deploy import Converter, target
(c,) = Converter((target("secops"),)).convert(sys.stdin.read())
json.dump([c.query, c.error], sys.stdout)
"""


def _secops(body: str, seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", _CONVERT], input=body, capture_output=True, text=True, check=True, env=env
    )
    result: list[str] = json.loads(done.stdout)
    return result


def test_secops_event_types_come_sorted_whatever_the_hash_seed() -> None:
    answers = {json.dumps(_secops(_SEVERAL_EVENT_TYPES, seed)) for seed in ("1", "2", "3")}
    assert len(answers) == 1
    query, error = json.loads(answers.pop())
    assert error == ""
    line = next(x.strip() for x in query.splitlines() if "metadata.event_type =" in x)
    assert (
        line
        == '$event1.metadata.event_type = "FILE_ACCESS" OR $event1.metadata.event_type = "REGISTRY_CHANGE"'
    )


def test_a_rule_converts_alike_alone_and_after_another() -> None:
    secops = (target("secops"),)
    (alone,) = Converter(secops).convert(_EXECUTABLE_DETECTED)
    converter = Converter(secops)
    (first,) = converter.convert(_FILE_EVENT)
    (after,) = converter.convert(_EXECUTABLE_DETECTED)
    assert first.query and not first.error  # the file event's mapping knows TargetFilename
    assert alone.error.startswith("InvalidUDMFieldError") and "TargetFilename" in alone.error
    assert after == alone
