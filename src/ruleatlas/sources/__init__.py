"""Rule sources: one package or module per vendor turns its native files into `Rule`s of the IR.

Every reader has the same two functions (`SourceReader`): `list_files` names the rule files of a checkout
(with the companion files a rule is made of, such as a Panther YAML's Python body, so that the build's content
hash covers both), and `parse_file` turns one of them into rules and problems. A reader knows nothing of the
store, the analysis or the web.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ruleatlas.model import Problem, Rule


@dataclass(slots=True, frozen=True)
class RuleFile:
    """One rule file of a checkout: `rel_path` is relative to the checkout root, with `/`."""

    path: Path
    rel_path: str
    folder: str  # the top folder, shown and counted per source (`rules`, `rules-threat-hunting`, ...)
    companions: tuple[str, ...] = ()  # rel_paths of files this rule also reads (hashed with it)


ParseOutput = tuple[list[Rule], list[Problem]]


class SourceReader(Protocol):
    VENDOR: str  # the vendor label (`model.VENDORS`)

    def list_files(self, root: Path) -> Iterable[RuleFile]: ...

    def parse_file(
        self,
        text: str,
        rel_path: str,
        folder: str,
        *,
        repo_url: str,
        commit: str,
        companions: dict[str, str],
    ) -> ParseOutput: ...


# Source name (as in `--source NAME=PATH`) → (vendor label, module that implements `SourceReader`).
# Several sources may share a vendor label: Hayabusa's and Suzaku's rules are Sigma rules.
SOURCES: dict[str, tuple[str, str]] = {
    "sigma": ("sigma", "ruleatlas.sources.sigma"),
    "hayabusa": ("sigma", "ruleatlas.sources.sigma"),
    "suzaku": ("sigma", "ruleatlas.sources.sigma"),
    "elastic": ("elastic", "ruleatlas.sources.elastic"),
    "splunk": ("splunk", "ruleatlas.sources.splunk"),
    "kusto": ("kusto", "ruleatlas.sources.kusto"),
    "yaral": ("yaral", "ruleatlas.sources.yaral"),
    "sublime": ("sublime", "ruleatlas.sources.sublime"),
    "panther": ("panther", "ruleatlas.sources.panther"),
}

# The folder of each source in a `shared/` data folder (`corpus/<folder>`).
SHARED_FOLDERS: dict[str, str] = {
    "sigma": "sigma",
    "hayabusa": "hayabusa",
    "suzaku": "suzaku",
    "elastic": "elastic",
    "splunk": "splunk",
    "kusto": "sentinel",
    "yaral": "chronicle",
    "sublime": "sublime",
    "panther": "panther",
}


# Where each source lives upstream: what `ruleatlas fetch` clones, and the repository of source links when a
# checkout names none (no git remote, no SOURCE.md).
UPSTREAM_REPOS: dict[str, str] = {
    "sigma": "https://github.com/SigmaHQ/sigma",
    "hayabusa": "https://github.com/Yamato-Security/hayabusa-rules",
    "suzaku": "https://github.com/Yamato-Security/suzaku-rules",
    "elastic": "https://github.com/elastic/detection-rules",
    "splunk": "https://github.com/splunk/security_content",
    "kusto": "https://github.com/Azure/Azure-Sentinel",
    "yaral": "https://github.com/chronicle/detection-rules",
    "sublime": "https://github.com/sublime-security/sublime-rules",
    "panther": "https://github.com/panther-labs/panther-analysis",
}
