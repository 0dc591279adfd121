"""The canonicaliser: one field vocabulary for every vendor, so one indicator written three ways counts once.

A predicate's canonical form is (canonical field, kind, value). Canonical field names are Sigma's taxonomy
names (`Image`, `CommandLine`, `TargetFilename`...) wherever the ecosystem's own tables map the vendor's field
to one (`field_tables`: pySigma's pipelines read backwards, the rule's Sigma category choosing among several
Sigma fields); then:

- name fields: `process.name = X` is `Image ends_with \\X` (`/X` on Linux and macOS), as Splunk's own data
  sources write `Image|endswith → process_name`;
- regexes that are plain literals (optionally anchored, optionally `.*` at an end) become eq, starts_with,
  ends_with or contains, so a SOC Prime conversion meets its Sigma original;
- a vendor field spelled like a Sigma field is that field (Splunk's raw Sysmon fields, Sentinel's `Event`);
- a field that holds one part of what a Sigma field holds whole (ECS `process.args`, one argument of
  `process.command_line`) is counted under the Sigma comparison it implies (`process.args : "-enc"` is
  `CommandLine contains -enc`), as Kusto's `has` is stored as `contains`: such a form is `implied`, which
  relations keep apart from an exact comparison;
- any other field keeps its native name, namespaced by vendor (`sublime:type`, `splunk:type`), so that two
  vendors using one name for different things never merge.

Sources keep native names; this module alone decides canonical ones, and pages show both.
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache

from ruleatlas.analysis.field_tables import Entry, reverse_table, sigma_field_names
from ruleatlas.model import Kind, Pred, Scalar, Wild, WildPart, parse_wildcard, wildcard_text

# Vendor label → the schemas its fields are looked up in, in order. Sigma is the canonical vocabulary itself;
# Sublime's email model and Panther's log schemas are shared with no other vendor, so they stay native.
VENDOR_SCHEMAS: dict[str, tuple[str, ...]] = {
    "sigma": (),
    "elastic": ("ecs",),
    "splunk": ("cim",),
    "kusto": ("mde", "asim", "azuremonitor"),
    "yaral": ("udm",),
    "sublime": (),
    "panther": (),
}

# Where a reverse table names several Sigma fields for one vendor field in the rule's category (ECS
# `process.executable` ← Image, NewProcessName, SourceImage...; `file.path` ← TargetFilename, ImageLoaded...),
# the first of these in the rule's category's list wins, else the first of the default list. Each list is the
# Sigma taxonomy's own field for that event type (the field its Sysmon event calls the thing).
PREFERRED: dict[str, tuple[str, ...]] = {
    "process_creation": ("Image", "ParentImage", "CommandLine", "User", "CurrentDirectory"),
    "file_event": ("TargetFilename", "Image", "User"),
    "file_change": ("TargetFilename", "Image"),
    "file_delete": ("TargetFilename", "Image"),
    "file_rename": ("TargetFilename", "Image"),
    "file_access": ("TargetFilename", "Image"),
    "image_load": ("ImageLoaded", "Image", "User"),
    "driver_load": ("ImageLoaded",),
    "process_access": ("SourceImage", "TargetImage", "SourceUser"),
    "create_remote_thread": ("SourceImage", "TargetImage", "SourceUser"),
    "network_connection": ("Image", "User", "DestinationHostname", "DestinationIp"),
    "dns_query": ("QueryName", "Image", "User"),
    "registry_event": ("TargetObject", "Image", "Details", "User"),
    "registry_set": ("TargetObject", "Image", "Details", "User"),
    "registry_add": ("TargetObject", "Image", "User"),
    "registry_delete": ("TargetObject", "Image", "User"),
    "ps_script": ("ScriptBlockText",),
    "": (
        "Image",
        "TargetFilename",
        "CommandLine",
        "User",
        "TargetObject",
        "DestinationHostname",
        "QueryName",
    ),
}

# Fields that hold a file's name where the Sigma taxonomy holds its path: (schema, field) → (Sigma path field,
# the categories it holds for; empty: any). `eq X` becomes `ends_with <sep>X`, `ends_with X` stays ends_with.
NAME_FIELDS: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("ecs", "process.name"): ("Image", frozenset()),
    ("ecs", "process.parent.name"): ("ParentImage", frozenset()),
    ("ecs", "file.name"): ("TargetFilename", frozenset()),
    ("ecs", "dll.name"): ("ImageLoaded", frozenset()),
    ("cim", "process_name"): ("Image", frozenset()),
    ("cim", "Processes.process_name"): ("Image", frozenset()),
    ("cim", "parent_process_name"): ("ParentImage", frozenset()),
    ("cim", "Processes.parent_process_name"): ("ParentImage", frozenset()),
    ("cim", "Processes.process_exec"): ("Image", frozenset()),
    ("cim", "process_exec"): ("Image", frozenset()),
    ("cim", "Processes.parent_process_exec"): ("ParentImage", frozenset()),
    ("cim", "parent_process_exec"): ("ParentImage", frozenset()),
    ("cim", "file_name"): ("TargetFilename", frozenset()),
    ("cim", "Filesystem.file_name"): ("TargetFilename", frozenset()),
    ("mde", "FileName"): ("Image", frozenset({"process_creation"})),
    ("mde", "InitiatingProcessFileName"): ("ParentImage", frozenset({"process_creation"})),
    ("asim", "TargetProcessName"): ("Image", frozenset({"process_creation"})),
    ("asim", "ParentProcessName"): ("ParentImage", frozenset({"process_creation"})),
}

# Fields that hold one part of what a Sigma field holds whole: (schema, field) → (Sigma field, the part, the
# categories it holds for; empty: any). The ECS field reference defines the parts: `process.args` is the
# "array of process arguments, starting with the absolute path to the executable" and `process.command_line`
# the "full command line that started the process, including the absolute path to the executable, and all
# arguments" (`process.parent.*` likewise); `registry.key` is the "hive-relative path of keys",
# `registry.value` the "name of the value written" and `registry.path` the "full path, including hive, key
# and value".
# pySigma's ecs_windows() names the wholes: CommandLine → process.command_line (process creation),
# ParentCommandLine → process.parent.command_line, TargetObject → registry.path. A comparison of a part
# implies one of the whole (`ARG`: some argument equals X, so the command line contains X; `LAST`: the last
# path component), never the other way round, so the canonical form is `implied`. Sigma's CommandLine is a
# field of process creation only: on other events `process.args` is the acting process's and stays native.
ARG, LAST = "element", "last"
PART_FIELDS: dict[tuple[str, str], tuple[str, str, frozenset[str]]] = {
    ("ecs", "process.args"): ("CommandLine", ARG, frozenset({"process_creation", ""})),
    ("ecs", "process.parent.args"): ("ParentCommandLine", ARG, frozenset({"process_creation", ""})),
    ("ecs", "registry.key"): ("TargetObject", ARG, frozenset()),
    ("ecs", "registry.value"): ("TargetObject", LAST, frozenset()),
}

# Fields that hold a file's extension (ECS: the part of the file's name after its last dot, no dot) where the
# Sigma taxonomy holds the path: `eq X` is exactly `ends_with .X` of that path; other comparisons stay native.
EXTENSION_FIELDS: dict[tuple[str, str], str] = {("ecs", "file.extension"): "TargetFilename"}

# Vendor fields that pySigma's tables leave out, mapped by the vendor's own published Sigma mappings:
# (schema, field) → Sigma field. Splunk's `data_sources/*.yml` `field_mappings` (sysmon_eventid_13.yml:
# `TargetObject: Registry.registry_path`; sysmon_eventid_1.yml: `Hashes: Processes.process_hash`).
# Where pySigma maps a field, pySigma wins: these are looked up only after its table.
VENDOR_MAPPINGS: dict[tuple[str, str], str] = {
    ("cim", "Registry.registry_path"): "TargetObject",
    ("cim", "Processes.process_hash"): "Hashes",
    # Elastic Defend writes a library load's image under `dll.*` where Winlogbeat's Sysmon event 7 has
    # `file.*`; pySigma's ecs_windows() maps ImageLoaded → file.path and, for image loads, Signature →
    # file.code_signature.subject_name. `dll.*` exists only on library events, so these are those fields
    # (`dll.name` is already ImageLoaded's name in NAME_FIELDS). `dll.hash.*` stays native: Sigma's `Hashes`
    # is a list of `ALGO=value` pairs, not one hash.
    ("ecs", "dll.path"): "ImageLoaded",
    ("ecs", "dll.code_signature.subject_name"): "Signature",
}

# Where a vendor's own Sigma translations read a field otherwise than pySigma's table, the vendor's reading
# wins in the categories it was seen in: (schema, field) → ((Sigma field or "" for none, categories), ...).
# Google's community YARA-L rules translated from SigmaHQ (those naming their `sigma_uuid`) write Sysmon's
# TargetFilename as `target.file.full_path` (pySigma-backend-secops: ObjectName, and TargetFilename as
# `target.file.names`), the file event's process Image as `principal.process.file.full_path` (UDM: the
# principal is the actor; pySigma: `target.process.file.full_path`, which then means no Sigma field there),
# OriginalFileName as `src.process.file.full_path` and Product as `target.asset.software.description`
# (neither in pySigma's table); in process access events, SourceImage and TargetImage as the principal's and
# the target's process path (pySigma: Image as the target's) and GrantedAccess as `target.resource.name`;
# `principal.hostname`, which the translations group by (`match: $hostname`), is the event's computer there.
_FILE_CATEGORIES = frozenset(
    {"file_event", "file_delete", "file_change", "file_rename", "file_access", "create_stream_hash"}
)
_ACCESS = frozenset({"process_access"})
_CREATION = frozenset({"process_creation"})
# Events about one host's own processes, files and registry: UDM's principal is the acting process on that
# host, so `principal.hostname` is the event's computer (Windows: the record's `Computer`). (In network and
# logon events the principal may be another machine: left to pySigma's SourceHostname or the native name.)
_HOST_EVENTS = (
    _FILE_CATEGORIES
    | _ACCESS
    | _CREATION
    | frozenset(
        {"registry_event", "registry_add", "registry_set", "registry_delete", "image_load", "driver_load"}
    )
)
VENDOR_READINGS: dict[tuple[str, str], tuple[tuple[str, frozenset[str]], ...]] = {
    ("udm", "target.file.full_path"): (("TargetFilename", _FILE_CATEGORIES),),
    ("udm", "principal.process.file.full_path"): (("Image", _FILE_CATEGORIES), ("SourceImage", _ACCESS)),
    ("udm", "target.process.file.full_path"): (("", _FILE_CATEGORIES), ("TargetImage", _ACCESS)),
    ("udm", "src.process.file.full_path"): (("OriginalFileName", _CREATION),),
    ("udm", "target.asset.software.description"): (("Product", _CREATION),),
    ("udm", "target.resource.name"): (("GrantedAccess", _ACCESS),),
    ("udm", "principal.hostname"): (("Computer", _HOST_EVENTS),),
}

# Schemas whose pySigma pipeline writes every Sigma field it does not map as a prefix plus the Sigma name:
# `ecs_windows()` ends with AddFieldnamePrefixTransformation("winlog.event_data.") for Windows rules, so
# ECS `winlog.event_data.ServiceFileName` is Sigma's `ServiceFileName` (read back only where the rest is a
# Sigma taxonomy field name, looked up after the table).
FIELD_PREFIXES: dict[str, str] = {"ecs": "winlog.event_data."}
# Schemas that keep a log's unmapped keys by their own name in a map field: UDM's
# `additional.fields["CallTrace"]` is the Sysmon event's CallTrace (read back only where the key is a Sigma
# taxonomy field name).
FIELD_MAPS: dict[str, tuple[str, str]] = {"udm": ('additional.fields["', '"]')}

# Cloud audit records keep their own keys whatever the vendor: (Sigma log source service, vendor field) → the
# key as Sigma's rules for that service write it. Sentinel's AWSCloudTrail table spells CloudTrail's
# `eventName` `EventName`; Google SecOps UDM keeps it in `metadata.product_event_type`. Splunk keeps the
# record's own keys, as Sigma's rules do (SigmaHQ's cloudtrail rules use eventName, eventSource, errorCode;
# its m365 audit rules Operation and Workload; its Azure activity and audit log rules operationName).
SERVICE_FIELDS: dict[tuple[str, str], str] = {
    ("cloudtrail", "EventName"): "eventName",
    ("cloudtrail", "EventSource"): "eventSource",
    ("cloudtrail", "eventName"): "eventName",  # Panther reads the CloudTrail record itself
    ("cloudtrail", "eventSource"): "eventSource",
    ("cloudtrail", "metadata.product_event_type"): "eventName",
    # Elastic's integrations copy the record's action into ECS `event.action` (CloudTrail eventName, Okta
    # eventType, Azure Activity operationName, GCP audit methodName) and CloudTrail's eventSource into
    # `event.provider`; the keys on the right are those SigmaHQ's cloud rules use.
    ("cloudtrail", "event.action"): "eventName",
    ("cloudtrail", "event.provider"): "eventSource",
    ("okta", "event.action"): "eventType",
    ("activitylogs", "event.action"): "operationName",
    ("gcp.audit", "event.action"): "gcp.audit.method_name",
    # Elastic keeps the Kubernetes audit event under `kubernetes.audit.`; pySigma's ecs_kubernetes() maps
    # verb → kubernetes.audit.verb and resource → kubernetes.audit.objectRef.resource (...subresource,
    # namespace, apiGroup likewise), and SigmaHQ's Kubernetes audit rules write the event's own keys
    # (`verb`, `objectRef.resource`).
    ("audit", "kubernetes.audit.verb"): "verb",
    ("audit", "kubernetes.audit.objectRef.resource"): "objectRef.resource",
    ("audit", "kubernetes.audit.objectRef.subresource"): "objectRef.subresource",
    ("audit", "kubernetes.audit.objectRef.namespace"): "objectRef.namespace",
    ("audit", "kubernetes.audit.objectRef.apiGroup"): "objectRef.apiGroup",
    ("cloudtrail", "errorCode"): "errorCode",
    ("audit", "Operation"): "Operation",
    ("audit", "Workload"): "Workload",
    ("activitylogs", "operationName"): "operationName",
    ("auditlogs", "operationName"): "operationName",
}

# A path separator per operating system, from the rule's Sigma-style log source product.
PATH_SEPARATORS = {"windows": "\\", "linux": "/", "macos": "/"}
# A file name with one of these extensions is a Windows executable image: without a product (a rule written
# for several operating systems), such a name is still a Windows path's last part.
WINDOWS_IMAGE_EXTENSIONS = (".exe", ".dll", ".sys", ".com", ".scr", ".cpl", ".ocx")
# Sigma fields holding Windows file and registry paths, which Windows compares case-insensitively: a vendor's
# case-sensitive comparison of one (EQL `process.name in ("PowerShell.EXE")`) means what the insensitive one
# does, so its indicator value is folded as Sigma's is. Sigma's own `|cased` predicates are left as written.
WINDOWS_CASELESS_FIELDS = frozenset(
    {
        "Image",
        "ParentImage",
        "OriginalFileName",
        "TargetFilename",
        "ImageLoaded",
        "SourceImage",
        "TargetImage",
        "CurrentDirectory",
        "TargetObject",
    }
)


@dataclass(slots=True, frozen=True)
class Canonical:
    """A predicate's canonical (field, kind, value), with how it was reached (`how`, shown on pages)."""

    field: str
    kind: Kind
    value: Scalar
    cased: bool
    # how it was reached: "sigma", "table:<schema>", "vendor:<schema>", "name:<schema>", "part:<schema>",
    # "service:<service>", "same-name", "native"
    how: str
    # The canonical comparison is implied by the native one, not equal to it (`Pred.implies_only`, a part
    # field, a name compared by a prefix): counted under it, never taken for an exact comparison.
    implied: bool = False


def canonical(pred: Pred, vendor: str, logsource: dict[str, str]) -> Canonical:
    """The canonical form of one predicate of a rule of `vendor` with Sigma-style `logsource`."""
    kind, value, cased = pred.kind, pred.value, pred.cased
    if kind is Kind.REGEX and isinstance(value, str):
        reduced = reduce_regex(value, pred.regex_flags)
        if reduced is not None:
            # A regex is case-sensitive unless flagged (Sigma `|re|i`, an inline `(?i)`, YARA-L `nocase`).
            kind, value = reduced
            cased = "i" not in pred.regex_flags and not value_text_ignores_case(pred.value)
    form = _canonical(pred, vendor, logsource, kind, value, cased)
    if pred.implies_only and not form.implied:
        return Canonical(form.field, form.kind, form.value, form.cased, form.how, implied=True)
    return form


def _canonical(
    pred: Pred, vendor: str, logsource: dict[str, str], kind: Kind, value: Scalar, cased: bool
) -> Canonical:
    field = pred.field
    if field is None or vendor == "sigma" or vendor not in VENDOR_SCHEMAS:
        return Canonical(field or "", kind, value, cased, "sigma" if vendor == "sigma" else "native")
    if field.endswith(".caseless"):  # ECS's case-insensitive multi-field: the field itself, compared so
        field, cased = field.removesuffix(".caseless"), False
    service_field = SERVICE_FIELDS.get((logsource.get("service", ""), field))
    if service_field is not None:
        # The service spells each of these values one way (`StopLogging`), so a cased comparison means the
        # same as Sigma's uncased one: counted together.
        return Canonical(service_field, kind, value, False, f"service:{logsource['service']}")
    category = logsource.get("category", "")
    for schema in VENDOR_SCHEMAS[vendor]:
        product = logsource.get("product", "")
        reading = next(
            (s for s, where in VENDOR_READINGS.get((schema, field), ()) if category in where), None
        )
        if reading == "":
            break  # no Sigma field in this category: the native name below
        if reading is not None:
            folded = _windows_caseless(reading, product, value)
            return Canonical(reading, kind, value, cased and not folded, f"vendor:{schema}")
        named = _name_field(schema, field, category, kind, value, product)
        if named is not None:
            folded = _windows_caseless(named[0], product, value)
            return Canonical(named[0], named[1], named[2], cased and not folded, f"name:{schema}", named[3])
        part = _part_field(schema, field, category, kind, value)
        if part is not None:
            folded = _windows_caseless(part[0], product, value)
            return Canonical(part[0], part[1], part[2], cased and not folded, f"part:{schema}", True)
        sigma = resolve(schema, field, category) or VENDOR_MAPPINGS.get((schema, field))
        if sigma is not None:
            folded = _windows_caseless(sigma, product, value)
            return Canonical(sigma, kind, value, cased and not folded, f"table:{schema}")
        prefixed = _prefixed_sigma_field(schema, field)
        if prefixed is not None:
            folded = _windows_caseless(prefixed, product, value)
            return Canonical(prefixed, kind, value, cased and not folded, f"table:{schema}")
    if field in sigma_field_names():
        return Canonical(field, kind, value, cased, "same-name")
    return Canonical(f"{vendor}:{field}", kind, value, cased, "native")


def _prefixed_sigma_field(schema: str, field: str) -> str | None:
    prefix = FIELD_PREFIXES.get(schema)
    if prefix is not None and field.startswith(prefix):
        rest = field.removeprefix(prefix)
        return rest if rest in sigma_field_names() else None
    brackets = FIELD_MAPS.get(schema)
    if brackets is not None and field.startswith(brackets[0]) and field.endswith(brackets[1]):
        key = field[len(brackets[0]) : len(field) - len(brackets[1])]
        return key if key in sigma_field_names() else None
    return None


def resolve(schema: str, field: str, category: str) -> str | None:
    """The Sigma field a schema's field stands for in a category, or None (unmapped, or still ambiguous)."""
    entries = reverse_table(schema).get(field)
    if not entries:
        return None
    return _choose(entries, category)


@cache
def _choose(entries: tuple[Entry, ...], category: str) -> str | None:
    # Mappings made for this category first, then those made for any log source.
    for fits in (
        [sigma for sigma, where in entries if where is not None and category in where],
        [sigma for sigma, where in entries if where is None],
    ):
        if len(fits) == 1:
            return fits[0]
        if fits:
            for preferred in (*PREFERRED.get(category, ()), *PREFERRED[""]):
                if preferred in fits:
                    return preferred
            return None  # several Sigma fields and no taxonomy preference: ambiguous, stays native
    # Only mappings for other categories: a rule without a category takes the one Sigma field they all name.
    names = {sigma for sigma, _ in entries}
    return names.pop() if not category and len(names) == 1 else None


def _name_field(
    schema: str, field: str, category: str, kind: Kind, value: Scalar, product: str
) -> tuple[str, Kind, Scalar, bool] | None:
    """(Sigma path field, kind, value, implied) of a name field's comparison, or None. `eq X` is exactly
    `ends_with <sep>X` and `ends_with X` stays; a prefix, a part or a pattern of the name implies one of the
    path (`starts_with X` → `contains <sep>X`, `contains X` → `contains X`, `P` → `*<sep>P`)."""
    extension_of = EXTENSION_FIELDS.get((schema, field))
    if extension_of is not None:
        if kind is Kind.EQ and isinstance(value, str) and value and "." not in value:
            return extension_of, Kind.ENDS_WITH, "." + value, False
        return None  # an extension compared another way is not one end of the path
    entry = NAME_FIELDS.get((schema, field))
    if entry is None or not isinstance(value, str) or not value:
        return None
    target, categories = entry
    if categories and category not in categories:
        return None
    if kind is Kind.ENDS_WITH:
        return target, Kind.ENDS_WITH, value, False
    if kind is Kind.CONTAINS:
        return target, Kind.CONTAINS, value, True
    separator = PATH_SEPARATORS.get(product)
    if separator is None and not product and _windows_image(value):
        separator = PATH_SEPARATORS["windows"]
    if separator is None:
        return None  # without an operating system there is no separator to add
    if kind is Kind.EQ:
        return target, Kind.ENDS_WITH, separator + value, False
    if kind is Kind.STARTS_WITH:
        return target, Kind.CONTAINS, separator + value, True
    if kind is Kind.WILDCARD:
        return target, Kind.WILDCARD, wildcard_text([Wild.STAR, separator, *parse_wildcard(value)]), True
    return None  # a regex or a number says nothing of the path


def _part_field(
    schema: str, field: str, category: str, kind: Kind, value: Scalar
) -> tuple[str, Kind, Scalar] | None:
    """(Sigma field, kind, value) implied by a comparison of a part field (`PART_FIELDS`), or None."""
    entry = PART_FIELDS.get((schema, field))
    if entry is None or not isinstance(value, str) or not value:
        return None
    target, part, categories = entry
    if categories and category not in categories:
        return None
    if part == LAST:  # the last component of a backslash-separated path
        if kind is Kind.EQ:
            return target, Kind.ENDS_WITH, "\\" + value
        if kind is Kind.ENDS_WITH:
            return target, Kind.ENDS_WITH, value
        if kind is Kind.STARTS_WITH:
            return target, Kind.CONTAINS, "\\" + value
    if kind in (Kind.EQ, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.CONTAINS):
        return target, Kind.CONTAINS, value
    if kind is Kind.WILDCARD:
        parts = parse_wildcard(value)
        if part == LAST:  # the pattern matches the whole last component: `*\P`
            return target, Kind.WILDCARD, wildcard_text([Wild.STAR, "\\", *parts])
        lead: list[WildPart] = [] if parts[0] is Wild.STAR else [Wild.STAR]
        tail: list[WildPart] = [] if parts[-1] is Wild.STAR else [Wild.STAR]
        return target, Kind.WILDCARD, wildcard_text([*lead, *parts, *tail])
    return None  # regexes, numbers, `neq`, `exists`: nothing implied of the whole


def _windows_image(value: Scalar) -> bool:
    return isinstance(value, str) and value.lower().endswith(WINDOWS_IMAGE_EXTENSIONS)


def _windows_caseless(sigma_field: str, product: str, value: Scalar) -> bool:
    """Whether a vendor predicate on `sigma_field` compares a Windows path (case-insensitive on Windows)."""
    if sigma_field not in WINDOWS_CASELESS_FIELDS:
        return False
    return product == "windows" or (not product and _windows_image(value))


# --- regexes that are literals ---------------------------------------------------------------------------

_AT_START = {sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING}
_AT_END = {sre_constants.AT_END, sre_constants.AT_END_STRING}


def value_text_ignores_case(value: Scalar) -> bool:
    return isinstance(value, str) and value.startswith("(?i)")


@lru_cache(maxsize=8192)  # rules repeat patterns; each is read several times per rule
def reduce_regex(pattern: str, flags: str = "") -> tuple[Kind, str] | None:
    """A regex that is a plain literal, as (kind, literal): `^x$` eq, `^x` starts_with, `x$` ends_with, `x`
    contains; `.*` at an end is the same as no anchor there; `.*` inside makes it a wildcard pattern (kind
    wildcard, the value in Sigma's wildcard syntax, `*` at each unanchored end). None for anything else
    (classes, alternation, other repetition, flags other than ignore-case that change what it means)."""
    if set(flags) - {"i"}:
        return None
    text = pattern.removeprefix("(?i)")
    try:
        with warnings.catch_warnings():  # `[[` in MQL regexes: Python's "possible nested set" FutureWarning
            warnings.simplefilter("ignore", FutureWarning)
            parsed = sre_parse.parse(text)
    except (re.error, RecursionError, OverflowError):
        return None
    if parsed.state.flags & (re.MULTILINE | re.DOTALL | re.VERBOSE | re.IGNORECASE):
        return None  # other inline flags: leave such a regex to the regex kind
    items = list(parsed)
    start = bool(items) and _is_anchor(items[0], _AT_START)
    if start:
        items = items[1:]
    while items and _is_dot_star(items[0]):  # `.*.*x`: any number of `.*` is one unanchored start
        start = False
        items = items[1:]
    end = bool(items) and _is_anchor(items[-1], _AT_END)
    if end:
        items = items[:-1]
    while items and _is_dot_star(items[-1]):
        end = False
        items = items[:-1]
    if not items or any(op is not sre_constants.LITERAL and not _is_dot_star((op, a)) for op, a in items):
        return None
    if any(op is not sre_constants.LITERAL for op, _ in items):
        # `.*` inside: a wildcard pattern (`.*\\Corona.*\.exe` → `*\Corona*.exe*`), as Sigma writes it
        parts: list[WildPart] = [] if start else [Wild.STAR]
        for op, code in items:
            parts.append(chr(code) if op is sre_constants.LITERAL else Wild.STAR)
        parts += [] if end else [Wild.STAR]
        return Kind.WILDCARD, wildcard_text(parts)
    literal = "".join(chr(code) for _, code in items)
    if start and end:
        return Kind.EQ, literal
    if start:
        return Kind.STARTS_WITH, literal
    if end:
        return Kind.ENDS_WITH, literal
    return Kind.CONTAINS, literal


def _is_anchor(item: tuple[object, object], which: set[object]) -> bool:
    op, arg = item
    return op is sre_constants.AT and arg in which


def _is_dot_star(item: tuple[object, object]) -> bool:
    op, arg = item
    if op is not sre_constants.MAX_REPEAT and op is not sre_constants.MIN_REPEAT:
        return False
    assert isinstance(arg, tuple)  # a repeat's argument: (min, max, body)
    low, high, body = arg
    return bool(low == 0 and high == sre_constants.MAXREPEAT and list(body) == [(sre_constants.ANY, None)])


# A regex is read as a list of literals up to this many alternatives (`(a|b)(c|d)` is four).
MAX_ALTERNATIVES = 256


@lru_cache(maxsize=8192)  # rules repeat patterns; each is read several times per rule
def expand_regex(pattern: str, flags: str = "") -> tuple[Kind, tuple[str, ...]] | None:
    """A regex that is a list of plain literals with one anchoring, as (kind, literals): `\\\\(a|b)\\.exe$` →
    ends_with `\\a.exe`, `\\b.exe`; groups, alternations and sets of single characters are expanded, `.*` at
    an end is no anchor, as in `reduce_regex`. None when it is not such a list (or already one literal, or
    more than `MAX_ALTERNATIVES`), or for flags other than ignore-case."""
    if set(flags) - {"i"}:
        return None
    text = pattern.removeprefix("(?i)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            parsed = sre_parse.parse(text)
    except (re.error, RecursionError, OverflowError):
        return None
    if parsed.state.flags & (re.MULTILINE | re.DOTALL | re.VERBOSE | re.IGNORECASE):
        return None
    items = list(parsed)
    start = bool(items) and _is_anchor(items[0], _AT_START)
    if start:
        items = items[1:]
    while items and _is_dot_star(items[0]):
        start, items = False, items[1:]
    end = bool(items) and _is_anchor(items[-1], _AT_END)
    if end:
        items = items[:-1]
    while items and _is_dot_star(items[-1]):
        end, items = False, items[:-1]
    values = _literals(items)
    if values is None or len(values) < 2:
        return None
    kind = (
        Kind.EQ if start and end else Kind.STARTS_WITH if start else Kind.ENDS_WITH if end else Kind.CONTAINS
    )
    return kind, tuple(sorted(set(values)))


def _literals(items: list[tuple[object, object]]) -> list[str] | None:
    """Every text a sequence of regex items matches, when they are literals, literal sets, groups and
    alternations only (at most `MAX_ALTERNATIVES`); else None."""
    out = [""]
    for op, arg in items:
        if op is sre_constants.LITERAL:
            assert isinstance(arg, int)
            choices = [chr(arg)]
        elif op is sre_constants.IN:
            assert isinstance(arg, list)
            if not all(sub_op is sre_constants.LITERAL for sub_op, _ in arg):
                return None  # a range, a class, a negated set: more than a list
            choices = [chr(code) for _, code in arg]
        elif op is sre_constants.SUBPATTERN:
            assert isinstance(arg, tuple)
            _group, add_flags, del_flags, body = arg
            if add_flags or del_flags:
                return None
            found = _literals(list(body))
            if found is None:
                return None
            choices = found
        elif op is sre_constants.MAX_REPEAT or op is sre_constants.MIN_REPEAT:
            assert isinstance(arg, tuple)
            low, high, body = arg
            found = _literals(list(body)) if (low, high) == (0, 1) else None
            if found is None:
                return None  # only `x?` is a list (of two); other repetitions are not
            choices = ["", *found]
        elif op is sre_constants.BRANCH:
            assert isinstance(arg, tuple)
            choices = []
            for branch in arg[1]:
                found = _literals(list(branch))
                if found is None:
                    return None
                choices.extend(found)
        else:
            return None
        out = [head + tail for head in out for tail in choices]
        if len(out) > MAX_ALTERNATIVES:
            return None
    return out
