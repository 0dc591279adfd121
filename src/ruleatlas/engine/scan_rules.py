"""Which rules `scan` runs: rule files and folders read, SigmaHQ's special folders left out unless asked,
level and tag filters, and the placeholder values given on the command line.

A SigmaHQ checkout holds rules that are not meant to run as they are: `deprecated/` and `unsupported/`, and
`rules-placeholder/`, whose `%name%` placeholders need the user's values (sigma-cli's
`value_placeholders`). A default scan leaves those folders out and says so in one note per folder;
`--include` brings them back. Placeholder values (`--placeholder NAME=VALUE`, `--placeholders FILE`) imply
`--include placeholder`: giving them is asking for those rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ruleatlas.model import LEVELS, Problem, Rule, RuleKind

PLACEHOLDER_FOLDER = "rules-placeholder"
# --include NAME -> what it lets in: a folder of a SigmaHQ checkout, or a rule kind from any folder
OPTIONAL = {
    "placeholder": "rules-placeholder/ (needs --placeholder values)",
    "deprecated": "deprecated rules (deprecated/ or status: deprecated)",
    "unsupported": "unsupported rules (unsupported/ or status: unsupported)",
}
_KIND_OF = {"deprecated": RuleKind.DEPRECATED, "unsupported": RuleKind.UNSUPPORTED}


class PlaceholderError(ValueError):
    """A --placeholder or --placeholders value that cannot be used; the message says why."""


@dataclass(slots=True)
class Selection:
    """What the user asked to run."""

    include: frozenset[str] = frozenset()
    levels: frozenset[str] = frozenset()  # --level: exactly these (empty: any)
    min_level: str | None = None
    tags: tuple[str, ...] = ()  # --tag: a rule carries one of these, or a tag under one (attack.t1059 ⊃ .001)

    def wants_level(self, rule: Rule) -> bool:
        level = rule.level.lower()
        if self.levels and level not in self.levels:
            return False
        if self.min_level is not None:
            rank = LEVELS.index(level) if level in LEVELS else -1
            return rank >= LEVELS.index(self.min_level)
        return True

    def wants_tags(self, rule: Rule) -> bool:
        if not self.tags:
            return True
        for tag in rule.tags:
            lower = tag.lower()
            for wanted in self.tags:
                if lower == wanted or lower.startswith(wanted + "."):
                    return True
        return False

    def reports(self, rule: Rule) -> bool:
        """Whether matches (or alerts) of `rule` are reported."""
        return self.wants_level(rule) and self.wants_tags(rule)

    @property
    def kinds(self) -> frozenset[RuleKind]:
        """Rule kinds asked for beyond the runnable ones (deprecated, unsupported)."""
        return frozenset(kind for name, kind in _KIND_OF.items() if name in self.include)

    @property
    def filters(self) -> bool:
        return bool(self.levels or self.min_level or self.tags)


@dataclass(slots=True)
class LoadedRules:
    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_rules(paths: Sequence[Path], selection: Selection) -> LoadedRules:
    """Rules from Sigma files and folders. From folders, deprecated, unsupported and placeholder rules are
    left out unless `selection.include` names them (one note per folder and reason); a file named on its
    own always runs."""
    from ruleatlas.sources.sigma import parse_sigma_file, read_sigma_tree

    out = LoadedRules()
    for path in paths:
        if path.is_dir():
            result = read_sigma_tree(path)
            left_out: dict[str, int] = {}
            for rule in result.rules:
                reason = _left_out(rule, selection.include)
                if reason is None:
                    out.rules.append(rule)
                else:
                    left_out[reason] = left_out.get(reason, 0) + 1
            # problems of rules left out are not this scan's problems (25 placeholder warnings on every run)
            kept_files = {rule.source.path for rule in out.rules}
            dropped_files = {rule.source.path for rule in result.rules} - kept_files
            out.problems.extend(p for p in result.errors if p.file not in dropped_files)
            for reason, count in sorted(left_out.items()):
                out.notes.append(f"{path}: {count} {OPTIONAL[reason]} not run (--include {reason})")
        elif path.is_file():
            try:
                text = path.read_bytes().decode("utf-8", errors="surrogateescape")
            except OSError as exc:
                out.problems.append(Problem(str(path), f"cannot read rule file: {exc.strerror or exc}"))
                continue
            found, file_problems = parse_sigma_file(text, str(path), path.parent.name or ".")
            out.rules.extend(found)
            out.problems.extend(file_problems)
        else:
            out.problems.append(Problem(str(path), "no such rule file or folder"))
    return out


def _left_out(rule: Rule, include: frozenset[str]) -> str | None:
    for name, kind in _KIND_OF.items():
        if rule.kind is kind:
            return None if name in include else name
    if rule.folder == PLACEHOLDER_FOLDER and "placeholder" not in include:
        return "placeholder"
    return None


def parse_placeholders(pairs: Sequence[str], files: Sequence[Path]) -> dict[str, list[str]]:
    """NAME=VALUE pairs (a name given twice has both values, OR-ed) and YAML files mapping a name to a value
    or a list of values (optionally under a top-level `placeholders:` key). Files first, pairs added."""
    values: dict[str, list[str]] = {}
    for path in files:
        for name, items in _placeholder_file(path).items():
            values.setdefault(name, []).extend(items)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().strip("%")
        if not sep or not name:
            raise PlaceholderError(
                f"--placeholder {pair!r}: write NAME=VALUE (e.g. Admins_Workstations=WS01)"
            )
        values.setdefault(name, []).append(value)
    return values


def _placeholder_file(path: Path) -> dict[str, list[str]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlaceholderError(f"--placeholders {path}: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PlaceholderError(f"--placeholders {path}: not YAML: {exc}") from exc
    if isinstance(data, dict) and set(data) == {"placeholders"}:
        data = data["placeholders"]
    if not isinstance(data, dict):
        raise PlaceholderError(
            f"--placeholders {path}: expected a mapping of name to value or list of values"
        )
    out: dict[str, list[str]] = {}
    for name, value in data.items():
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in items):
            raise PlaceholderError(
                f"--placeholders {path}: {name}: values must be text or numbers, got {value!r}"
            )
        out[str(name)] = [str(item) for item in items]
    return out
