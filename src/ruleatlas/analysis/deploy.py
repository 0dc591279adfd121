"""Deploy as: a Sigma rule converted by pySigma's own backends into the query languages of SIEMs.

Each target is one pySigma backend with one output format and the processing pipeline pySigma ships for the
rule's log source (pipelines map Sigma's field names to the SIEM's schema). A backend that refuses a rule
(a field its schema lacks, a modifier it cannot express) is a result too: its message is shown instead of a
query. Nothing here is RuleAtlas's own translation.

Conversions are cached by the rule's text and the backends' versions (`conversion_key`): pySigma costs
5-10 ms per rule and target, so a catalog's cold conversion is minutes of CPU and a rebuild must not
repeat it.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import json
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ruleatlas.analysis.document import DeployDoc

# Bump when what a conversion stores changes: cached conversions of another version are dropped.
DEPLOY_VERSION = 3  # 2: Kusto refusals no longer carry the fields of earlier rules; 3: secops sorted, no leak

# The distributions whose versions a cached conversion depends on.
BACKEND_PACKAGES = (
    "pySigma",
    "pySigma-backend-splunk",
    "pySigma-backend-elasticsearch",
    "pySigma-backend-kusto",
    "pySigma-backend-secops",
)


@dataclass(slots=True, frozen=True)
class Pipeline:
    """A pySigma processing pipeline: `factory` is "module:function"; an empty factory is no pipeline."""

    name: str  # how pages name it (pySigma's own identifier)
    factory: str = ""


NO_PIPELINE = Pipeline("none (Sigma's own field names)")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True, frozen=True)
class Target:
    """One "deploy as" target: a pySigma backend class, an output format and the pipeline per product."""

    name: str  # the CLI's `--to` value and the page's anchor
    label: str  # how pages name the target
    backend: str  # "module:Class"
    output_format: str
    # Sigma `logsource.product` → pipeline; "" is every other product.
    pipelines: tuple[tuple[str, Pipeline], ...]

    def pipeline_for(self, logsource: dict[str, str]) -> Pipeline:
        product = logsource.get("product", "")
        by_product = dict(self.pipelines)
        return by_product.get(product, by_product.get("", NO_PIPELINE))


_ECS = "sigma.pipelines.elasticsearch"
_ELASTIC_PIPELINES = (
    ("windows", Pipeline("ecs_windows", f"{_ECS}:ecs_windows")),
    ("macos", Pipeline("ecs_macos_esf", f"{_ECS}:ecs_macos_esf")),
    ("zeek", Pipeline("ecs_zeek_beats", f"{_ECS}:ecs_zeek_beats")),
    ("kubernetes", Pipeline("ecs_kubernetes", f"{_ECS}:ecs_kubernetes")),
)

TARGETS: tuple[Target, ...] = (
    Target(
        "splunk",
        "Splunk SPL",
        "sigma.backends.splunk:SplunkBackend",
        "default",
        (("", Pipeline("splunk_windows", "sigma.pipelines.splunk:splunk_windows_pipeline")),),
    ),
    Target(
        "lucene",
        "Elastic Lucene",
        "sigma.backends.elasticsearch:LuceneBackend",
        "default",
        _ELASTIC_PIPELINES,
    ),
    Target("eql", "Elastic EQL", "sigma.backends.elasticsearch:EqlBackend", "default", _ELASTIC_PIPELINES),
    Target(
        "esql", "Elastic ES|QL", "sigma.backends.elasticsearch:ESQLBackend", "default", _ELASTIC_PIPELINES
    ),
    Target(
        "defender",
        "Microsoft 365 Defender (KQL)",
        "sigma.backends.kusto:KustoBackend",
        "default",
        (("", Pipeline("microsoft_xdr", "sigma.pipelines.microsoftxdr:microsoft_xdr_pipeline")),),
    ),
    Target(
        "sentinel",
        "Microsoft Sentinel ASIM (KQL)",
        "sigma.backends.kusto:KustoBackend",
        "default",
        (("", Pipeline("sentinel_asim", "sigma.pipelines.sentinelasim:sentinel_asim_pipeline")),),
    ),
    Target(
        "secops",
        "Google SecOps YARA-L",
        "sigma.backends.secops:SecOpsBackend",
        "yara_l",
        (("", Pipeline("secops_udm", "sigma.pipelines.secops:secops_udm_pipeline")),),
    ),
)
TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
_BY_NAME = {t.name: t for t in TARGETS}


def target(name: str) -> Target:
    """The target called `name`; KeyError names the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(TARGET_NAMES)}") from None


@dataclass(slots=True, frozen=True)
class Conversion:
    """A rule in one target's language, or the backend's refusal (`error`, then `query` is empty)."""

    target: str
    label: str
    pipeline: str
    query: str
    error: str = ""

    def to_json(self) -> DeployDoc:
        return {
            "target": self.target,
            "label": self.label,
            "pipeline": self.pipeline,
            "query": self.query,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: DeployDoc) -> Conversion:
        return cls(
            str(data["target"]),
            str(data["label"]),
            str(data["pipeline"]),
            str(data["query"]),
            str(data.get("error", "")),
        )


def backend_versions() -> dict[str, str]:
    """The installed version of each backend package ("missing" when not installed)."""
    out = {}
    for package in BACKEND_PACKAGES:
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def versions_key() -> str:
    """What every cached conversion depends on besides the rule: this module's format and the backends."""
    return json.dumps([DEPLOY_VERSION, backend_versions(), TARGET_NAMES], sort_keys=True)


def conversion_key(body: str) -> str:
    """The cache key of one rule's conversions: its text (the backends' versions key the whole cache)."""
    return hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Converter:
    """Converts rule texts; backends and pipelines are made once per (target, pipeline) and reused."""

    def __init__(self, targets: Sequence[Target] = TARGETS) -> None:
        _validate_regexes_once()
        self.targets = tuple(targets)
        # (target, pipeline) → the backend and the refusal messages its transformations start from
        # and the secops event-type mappings it empties before each rule
        self._backends: dict[tuple[str, str], tuple[Any, list[tuple[Any, str]], list[Any]]] = {}
        self.conversions = 0  # backend runs, for tests and figures

    def _backend(self, tgt: Target, pipeline: Pipeline) -> Any:
        key = (tgt.name, pipeline.name)
        found = self._backends.get(key)
        if found is None:
            cls = _load(tgt.backend)
            backend = cls(_load(pipeline.factory)()) if pipeline.factory else cls()
            _combine_pipelines_once(backend, tgt.output_format)
            _sort_event_types(backend)
            found = (backend, _refusal_messages(backend), _event_type_mappings(backend))
            self._backends[key] = found
        backend, messages, mappings = found
        # pySigma-backend-kusto's InvalidFieldTransformation prepends each refused field to its own message:
        # reused, the backend's refusal of one rule would carry the fields of every rule refused before it.
        for transformation, message in messages:
            transformation.message = message
        # pySigma-backend-secops's event-type field mapping adds each rule's event types' mappings to its
        # own: reused, a rule would be mapped with the tables of every rule converted before it.
        for transformation in mappings:
            transformation.mapping = {}
        return backend

    def prepare(self) -> None:
        """Every backend with every pipeline it may use, made now (else on first use)."""
        for tgt in self.targets:
            pipelines = [pipeline for _, pipeline in tgt.pipelines]
            if "" not in dict(tgt.pipelines):
                pipelines.append(NO_PIPELINE)
            for pipeline in pipelines:
                self._backend(tgt, pipeline)

    def convert(self, body: str, extra_documents: Iterable[str] = ()) -> list[Conversion]:
        """`body` (one Sigma document; `extra_documents` are the rules a correlation refers to) in every
        target. A document pySigma cannot read gives the same error for every target."""
        from sigma.rule import SigmaRule

        out: list[Conversion] = []
        try:
            # YAML read once, by libyaml where it is there (pySigma's own from_yaml reads it in pure Python,
            # which was 60% of a conversion's cost).
            documents = list(yaml.load_all("\n---\n".join([body, *extra_documents]), Loader=_LOADER))
        except yaml.YAMLError as exc:
            error = _message(exc)
            return [Conversion(t.name, t.label, NO_PIPELINE.name, "", error) for t in self.targets]
        parsed = _parsed_once(documents)
        last = len(self.targets) - 1
        # the collection the previous target's pipeline processed, when the next may convert it as it is
        applied: tuple[Pipeline, Any, Any] | None = None
        for index, tgt in enumerate(self.targets):
            pipeline = NO_PIPELINE
            shares = tgt.backend in SHARED_PIPELINE_BACKENDS
            try:
                if shares and applied is not None:
                    pipeline, collection, processing = applied
                    self.conversions += 1
                    result = _convert_applied(self._backend(tgt, pipeline), processing, collection, tgt)
                    out.append(Conversion(tgt.name, tgt.label, pipeline.name, _query_text(result)))
                    continue
                applied = None
                # the last target takes the collection read first: no other target will see it
                collection = parsed.take() if index == last else parsed.copy()
                first = collection.rules[0] if collection.rules else None
                logsource = _logsource(first) if isinstance(first, SigmaRule) else {}
                pipeline = tgt.pipeline_for(logsource)
                self.conversions += 1
                backend = self._backend(tgt, pipeline)
                result = backend.convert(collection, tgt.output_format)
                out.append(Conversion(tgt.name, tgt.label, pipeline.name, _query_text(result)))
                if shares and pipeline.name in SHARED_PIPELINES:
                    applied = (pipeline, collection, backend.last_processing_pipeline)
            except Exception as exc:  # a backend's refusal is a result: pySigma raises many kinds
                applied = None  # the next target processes its own copy
                out.append(Conversion(tgt.name, tgt.label, pipeline.name, "", _message(exc)))
        return out


# pySigma-backend-elasticsearch's backends join no pipeline of their own to the ECS one (nor any query
# postprocessing), so the rule one of them processed is the rule the next would make: the next converts it
# as it is instead of a fresh copy processed again (a fifth of their CPU). Pipelines with templates (which
# read the backend's name) are left out.
SHARED_PIPELINE_BACKENDS = frozenset(
    f"sigma.backends.elasticsearch:{name}" for name in ("LuceneBackend", "EqlBackend", "ESQLBackend")
)
SHARED_PIPELINES = frozenset({"ecs_windows", "ecs_macos_esf", NO_PIPELINE.name})


def _convert_applied(backend: Any, processing: Any, collection: Any, tgt: Target) -> Any:
    """`collection`, processed already by `processing` (another backend's joined pipeline, with the same
    items), converted by `backend` without processing it again: the backend converts with that pipeline
    and its state, its own `apply` left out."""
    own = backend.last_processing_pipeline
    backend.last_processing_pipeline = processing
    processing.apply = _already_applied
    try:
        return backend.convert(collection, tgt.output_format)
    finally:
        del processing.apply
        backend.last_processing_pipeline = own


def _already_applied(rule: Any) -> Any:
    """Stands in for a pipeline's `apply` on a rule it processed already (`_convert_applied`)."""
    return rule


_valid_regexes: set[tuple[str, frozenset[Any]]] = set()
_escaped_patterns = [0]  # > 0 while pySigma builds a regex from an escaped string (`SigmaString.to_regex`)


def _validate_regexes_once() -> None:
    """Make pySigma check a regular expression's validity once per process, and not at all when it built
    the expression itself from an escaped string.

    Backends turn every string value into a regex (`SigmaString.to_regex`) and compile it only to check it
    (the compiled pattern is dropped): a fifth of a conversion's CPU, seven times per value across the
    targets. Such a pattern is literal characters with every regex special escaped, `.*` and `.`: valid by
    construction, unless a backend's extra escaped characters include a letter or digit (`\\1` is not a
    literal), which are then checked. Any other regex (a rule's `|re`) is checked once per pattern and
    flags: one that compiled once compiles again. Nothing a conversion returns or raises changes.
    """
    from sigma.types import SigmaRegularExpression, SigmaString

    if getattr(SigmaRegularExpression.compile, "_ruleatlas_memo", False):
        return
    check = SigmaRegularExpression.compile
    to_regex = SigmaString.to_regex

    def compile_once(self: SigmaRegularExpression) -> None:
        if _escaped_patterns[0] and not self.flags:
            return
        key = (str(self.regexp), frozenset(self.flags))
        if key not in _valid_regexes:
            check(self)  # raises SigmaRegularExpressionError for an invalid one: not remembered
            _valid_regexes.add(key)

    def escaped_to_regex(self: SigmaString, custom_escaped: str = "") -> SigmaRegularExpression:
        if any(c.isalnum() for c in custom_escaped):  # an escaped letter or digit may not be a literal
            return to_regex(self, custom_escaped)
        _escaped_patterns[0] += 1
        try:
            return to_regex(self, custom_escaped)
        finally:
            _escaped_patterns[0] -= 1

    compile_once._ruleatlas_memo = True  # type: ignore[attr-defined]
    SigmaRegularExpression.compile = compile_once  # type: ignore[method-assign]
    SigmaString.to_regex = escaped_to_regex  # type: ignore[method-assign]


def _combine_pipelines_once(backend: Any, output_format: str) -> None:
    """Join the backend's, the target's and the output format's pipelines now, once, instead of in every
    `convert` call (pySigma rebuilds the joined pipeline per call: 14 % of a conversion's CPU).

    Reusing it is what pySigma itself does between the rules of one collection: `ProcessingPipeline.apply`
    starts every rule from a cleared state, and the joined pipeline depends only on the backend and the
    output format, which are fixed per backend object here.
    """
    backend.init_processing_pipeline(output_format)
    backend.init_processing_pipeline = _pipelines_already_combined


def _refusal_messages(backend: Any) -> list[tuple[Any, str]]:
    """The transformations of a backend's joined pipeline that carry a message (a refusal's text), with it."""
    out = []
    for item in backend.last_processing_pipeline.items:
        transformation = getattr(item, "transformation", None)
        message = getattr(transformation, "message", None)
        if isinstance(message, str):
            out.append((transformation, message))
    return out


class _SortedSet(set[Any]):
    """A set that iterates in sorted order (its items are strings)."""

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(super().__iter__()))


def _sort_event_types(backend: Any) -> None:
    """Make pySigma-backend-secops list a rule's event types in sorted order.

    Its pipeline keeps them as a `set` of strings (rule.custom_attributes["event_types"]), whose order is
    Python's per-process string hash: the same rule came out with its `metadata.event_type` alternatives
    (and, where two event types map one field, its field mapping) in another order in each process. After
    the transformation that makes the set, it is replaced by one that iterates sorted: every process and
    every worker gives one answer."""
    for item in backend.last_processing_pipeline.items:
        transformation: Any = getattr(item, "transformation", None)
        if type(transformation).__name__ != "SetRuleEventTypeFromLogsourceTransformation":
            continue
        original = transformation.apply

        def apply(rule: Any, original: Callable[[Any], None] = original) -> None:
            original(rule)
            found = rule.custom_attributes.get("event_types")
            if type(found) is set:
                rule.custom_attributes["event_types"] = _SortedSet(found)

        transformation.apply = apply


def _event_type_mappings(backend: Any) -> list[Any]:
    return [
        item.transformation
        for item in backend.last_processing_pipeline.items
        if type(getattr(item, "transformation", None)).__name__ == "EventTypeFieldMappingTransformation"
    ]


def _pipelines_already_combined(output_format: str | None = None) -> None:
    """Stands in for a backend's `init_processing_pipeline` once `_combine_pipelines_once` has run."""


@dataclass(slots=True, frozen=True)
class _Parsed:
    """A rule's documents read by pySigma once, handing out a fresh collection per target (pipelines
    change the rule objects they process). A copy is unpickled from the first reading: a third of the
    cost of reading the documents again. What pySigma cannot pickle is read again per target; what it
    refuses to read raises the same error for every target."""

    documents: list[Any]
    pickled: bytes = b""
    error: Exception | None = None
    first: Any = None  # the collection read first (when pickled): `take` hands it out once

    def copy(self) -> Any:
        from sigma.collection import SigmaCollection

        if self.error is not None:
            raise self.error
        if self.pickled:
            return pickle.loads(self.pickled)
        return SigmaCollection.from_dicts(copy.deepcopy(self.documents))

    def take(self) -> Any:
        """The collection read first, for the last target (a copy costs a seventh of a conversion's CPU);
        a copy when there is none to hand out."""
        if self.first is None or self.error is not None:
            return self.copy()
        first = self.first
        object.__setattr__(self, "first", None)
        return first


def _parsed_once(documents: list[Any]) -> _Parsed:
    from sigma.collection import SigmaCollection

    try:
        collection = SigmaCollection.from_dicts(copy.deepcopy(documents))
    except Exception as exc:  # pySigma's refusal of the documents: every target's result
        return _Parsed(documents, error=exc)
    try:
        return _Parsed(documents, pickle.dumps(collection, pickle.HIGHEST_PROTOCOL), None, collection)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return _Parsed(documents)


def _logsource(rule: Any) -> dict[str, str]:
    ls = rule.logsource
    return {
        k: v for k, v in (("product", ls.product), ("category", ls.category), ("service", ls.service)) if v
    }


def _query_text(result: Any) -> str:
    """A backend's output as one text: several queries (a correlation's parts) one per paragraph."""
    if isinstance(result, str):
        return result.strip()
    if isinstance(result, list | tuple):
        parts = [_query_text(item) for item in result]
        return "\n\n".join(p for p in parts if p)
    if isinstance(result, dict):
        return json.dumps(result, indent=2, ensure_ascii=False)
    return str(result).strip()


ConvertBatch = Callable[[list[tuple[str, str, tuple[str, ...]]]], list[tuple[str, list[DeployDoc]]]]
_worker_converter: Converter | None = None


def prepare_workers() -> None:
    """Make this process's converter with every backend and pipeline now, before a pool forks: the
    workers inherit it instead of each importing pySigma and building the backends (0.7 s CPU a worker)."""
    global _worker_converter
    if _worker_converter is None:
        _worker_converter = Converter()
    _worker_converter.prepare()


def convert_batch(items: list[tuple[str, str, tuple[str, ...]]]) -> list[tuple[str, list[DeployDoc]]]:
    """(key, body, extra documents) → (key, conversions as JSON): a worker pool's task, one converter per
    process."""
    global _worker_converter
    if _worker_converter is None:
        _worker_converter = Converter()
    return [
        (key, [c.to_json() for c in _worker_converter.convert(body, extra)]) for key, body, extra in items
    ]
