"""What the build benches share (bench/build.py, rebuild.py, one_rule.py, pages_rebuild.py, cold_steps.py,
relations_step.py): CPU time with the workers', the SigmaHQ rule they edit, and the `--only` selection."""

from __future__ import annotations

import resource
from collections.abc import Sequence

from ruleatlas.build.summary import StepTimer
from ruleatlas.config import SourceSpec

# The SigmaHQ rule the one-rule rebuilds edit (its level is flipped between high and critical).
EDITED = "rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the build's worker pools)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def only_sources(sources: Sequence[SourceSpec], only: str) -> list[SourceSpec]:
    """The sources named in `only` (comma-separated source names); all of them when it is empty."""
    if not only:
        return list(sources)
    wanted = set(only.split(","))
    return [s for s in sources if s.name in wanted]


# CPU seconds per build step (this process and its finished workers), beside the wall times the build keeps:
# StepTimer.lap is wrapped here so that the build itself carries no bench code.
STEP_CPU: dict[str, float] = {}
_last_cpu = [0.0]
_lap = StepTimer.lap


def _lap_with_cpu(self: StepTimer, name: str) -> None:
    _lap(self, name)
    now = cpu_seconds()
    STEP_CPU[name] = STEP_CPU.get(name, 0.0) + now - _last_cpu[0]
    _last_cpu[0] = now


def count_step_cpu() -> None:
    """Count each build step's CPU seconds into STEP_CPU from now on (cleared here)."""
    StepTimer.lap = _lap_with_cpu  # type: ignore[method-assign]
    STEP_CPU.clear()
    _last_cpu[0] = cpu_seconds()
