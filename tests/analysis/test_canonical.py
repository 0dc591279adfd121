"""The canonicaliser: every table it reads or holds, tested against the code that uses it."""

from __future__ import annotations

import pytest

from ruleatlas.analysis.canonical import (
    NAME_FIELDS,
    PART_FIELDS,
    PATH_SEPARATORS,
    PREFERRED,
    SERVICE_FIELDS,
    VENDOR_MAPPINGS,
    VENDOR_SCHEMAS,
    WINDOWS_CASELESS_FIELDS,
    canonical,
    reduce_regex,
    resolve,
)
from ruleatlas.analysis.field_tables import SCHEMA_SOURCES, reverse_table, sigma_field_names
from ruleatlas.analysis.indicators import indicator_key
from ruleatlas.model import VENDORS, Kind, Pred

WIN_PROC = {"product": "windows", "category": "process_creation"}
LINUX_PROC = {"product": "linux", "category": "process_creation"}
WIN_REG = {"product": "windows", "category": "registry_set"}


def test_every_vendor_has_schemas_and_every_schema_a_table() -> None:
    assert set(VENDOR_SCHEMAS) == set(VENDORS)
    schemas = {s for names in VENDOR_SCHEMAS.values() for s in names}
    assert schemas == set(SCHEMA_SOURCES)
    for schema in schemas:
        table = reverse_table(schema)
        assert len(table) >= 30, schema  # pySigma's tables as installed, read backwards
        assert all(sigma in sigma_field_names() for entries in table.values() for sigma, _ in entries)


@pytest.mark.parametrize(
    ("schema", "field", "category", "sigma"),
    [
        ("ecs", "process.executable", "process_creation", "Image"),
        ("ecs", "process.command_line", "process_creation", "CommandLine"),
        ("ecs", "process.parent.executable", "process_creation", "ParentImage"),
        ("ecs", "file.path", "file_event", "TargetFilename"),
        ("ecs", "file.path", "image_load", "ImageLoaded"),
        ("ecs", "process.pe.original_file_name", "process_creation", "OriginalFileName"),
        ("ecs", "event.code", "", "EventID"),
        ("cim", "Processes.process_path", "process_creation", "Image"),
        ("cim", "Processes.process", "process_creation", "CommandLine"),
        ("cim", "Registry.registry_key_name", "registry_set", "TargetObject"),
        ("cim", "EventCode", "", "EventID"),
        ("mde", "FolderPath", "process_creation", "Image"),
        ("mde", "FolderPath", "image_load", "ImageLoaded"),
        ("udm", "target.process.command_line", "process_creation", "CommandLine"),
        ("udm", "target.process.file.full_path", "process_creation", "Image"),
    ],
)
def test_reverse_tables_resolve_by_category(schema: str, field: str, category: str, sigma: str) -> None:
    assert resolve(schema, field, category) == sigma


def test_resolution_agrees_with_the_forward_pipeline() -> None:
    """Independent check: every Sigma field pySigma's ECS pipeline maps for a category, mapped and resolved
    back in that category, lands on a Sigma field that pySigma maps to the same ECS field."""
    from sigma.pipelines.elasticsearch.windows import ecs_windows_variable_mappings

    checked = 0
    for sigma_field, placements in ecs_windows_variable_mappings.items():
        for scope, name, target in placements:
            if scope != "category":
                continue
            back = resolve("ecs", target.removesuffix(".caseless"), name)
            assert back is not None, (sigma_field, name, target)
            forward = {t for s, n, t in ecs_windows_variable_mappings.get(back, ()) if n == name}
            assert back == sigma_field or target in forward or forward == set(), (sigma_field, name, back)
            checked += 1
    assert checked >= 15


def test_preferences_name_sigma_fields_only() -> None:
    known = sigma_field_names()
    assert all(f in known for fields in PREFERRED.values() for f in fields)
    assert "" in PREFERRED


def test_name_fields_table() -> None:
    known = sigma_field_names()
    for (schema, _field), (target, _categories) in NAME_FIELDS.items():
        assert schema in SCHEMA_SOURCES and target in known
    assert set(PATH_SEPARATORS) == {"windows", "linux", "macos"}


def test_a_name_field_is_the_sigma_path_field_ending_with_it() -> None:
    sigma = Pred("Image", Kind.ENDS_WITH, "\\powershell.exe")
    elastic = Pred("process.name", Kind.EQ, "PowerShell.EXE", native='process.name : "PowerShell.EXE"')
    splunk = Pred("Processes.process_name", Kind.EQ, "powershell.exe")
    keys = {
        indicator_key(sigma, "sigma", WIN_PROC),
        indicator_key(elastic, "elastic", WIN_PROC),
        indicator_key(splunk, "splunk", WIN_PROC),
    }
    assert keys == {("Image", "ends_with", "\\powershell.exe", "")}
    linux = canonical(Pred("process.name", Kind.EQ, "curl"), "elastic", {"product": "linux"})
    assert (linux.field, linux.kind, linux.value, linux.how) == ("Image", Kind.ENDS_WITH, "/curl", "name:ecs")
    assert not linux.implied  # a name equal to X is exactly a path ending with <sep>X
    # A part, a prefix or a pattern of the name implies one of the path, and is marked so.
    other = canonical(Pred("process.name", Kind.CONTAINS, "power"), "elastic", WIN_PROC)
    assert (other.field, other.kind, other.value, other.implied) == ("Image", Kind.CONTAINS, "power", True)
    prefix = canonical(Pred("process.name", Kind.STARTS_WITH, "python"), "elastic", {"product": "linux"})
    assert (prefix.field, prefix.kind, prefix.value, prefix.implied) == (
        "Image",
        Kind.CONTAINS,
        "/python",
        True,
    )
    pattern = canonical(Pred("process.name", Kind.WILDCARD, "ps*.exe"), "elastic", WIN_PROC)
    assert (pattern.kind, pattern.value, pattern.implied) == (Kind.WILDCARD, "*\\ps*.exe", True)
    # Without an operating system there is no separator to add, unless the name is a Windows image's.
    assert canonical(Pred("process.name", Kind.EQ, "curl"), "elastic", {}).field == "elastic:process.name"
    image = canonical(Pred("process.name", Kind.EQ, "X.exe", cased=True), "elastic", {})
    assert (image.field, image.kind, image.value, image.cased) == ("Image", Kind.ENDS_WITH, "\\X.exe", False)


def test_an_ecs_cloud_action_is_the_key_sigma_writes_for_its_service() -> None:
    elastic = Pred("event.action", Kind.EQ, "CreateAccessKey", cased=True)
    sigma = Pred("eventName", Kind.EQ, "CreateAccessKey")
    aws = {"product": "aws", "service": "cloudtrail"}
    assert indicator_key(elastic, "elastic", aws) == indicator_key(sigma, "sigma", aws)
    okta = canonical(
        Pred("event.action", Kind.EQ, "user.mfa.factor.deactivate"), "elastic", {"service": "okta"}
    )
    assert (okta.field, okta.how) == ("eventType", "service:okta")
    assert canonical(elastic, "elastic", WIN_PROC).field == "elastic:event.action"  # an endpoint action stays


def test_windows_path_fields_fold_for_every_vendor_but_sigma() -> None:
    for field in WINDOWS_CASELESS_FIELDS:
        assert field in sigma_field_names()
    cased = Pred("process.pe.original_file_name", Kind.EQ, "PowerShell.EXE", cased=True)
    assert indicator_key(cased, "elastic", WIN_PROC) == ("OriginalFileName", "eq", "powershell.exe", "")
    linux = canonical(Pred("process.name", Kind.EQ, "Curl", cased=True), "elastic", {"product": "linux"})
    assert linux.cased  # Linux paths are case-sensitive
    sigma = Pred("Image", Kind.ENDS_WITH, "\\PowerShell.EXE", cased=True)
    assert indicator_key(sigma, "sigma", WIN_PROC)[2] == "\\PowerShell.EXE"  # Sigma's |cased kept as written


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        # Splunk's own data_sources/sysmon_eventid_13.yml: TargetObject → Registry.registry_path
        (
            Pred("Registry.registry_path", Kind.CONTAINS, "\\Run\\"),
            ("TargetObject", Kind.CONTAINS, "table:cim"),
        ),
        (Pred("Processes.process_hash", Kind.CONTAINS, "ABC"), ("Hashes", Kind.CONTAINS, "table:cim")),
        # ESCU's process_exec holds the image's file name, as process_name does
        (Pred("Processes.process_exec", Kind.EQ, "net.exe"), ("Image", Kind.ENDS_WITH, "name:cim")),
        (Pred("parent_process_exec", Kind.EQ, "cmd.exe"), ("ParentImage", Kind.ENDS_WITH, "name:cim")),
    ],
)
def test_splunk_fields_beyond_pysigma(pred: Pred, expected: tuple[str, Kind, str]) -> None:
    form = canonical(pred, "splunk", WIN_PROC)
    assert (form.field, form.kind, form.how) == expected
    assert set(VENDOR_MAPPINGS.values()) <= sigma_field_names()


@pytest.mark.parametrize(
    ("field", "service", "sigma"),
    [
        ("eventName", "cloudtrail", "eventName"),
        ("errorCode", "cloudtrail", "errorCode"),
        ("Operation", "audit", "Operation"),
        ("operationName", "activitylogs", "operationName"),
    ],
)
def test_splunk_cloud_fields_are_sigmas_for_their_service(field: str, service: str, sigma: str) -> None:
    form = canonical(Pred(field, Kind.EQ, "StopLogging", cased=True), "splunk", {"service": service})
    assert (form.field, form.how, form.cased) == (sigma, f"service:{service}", False)
    # the same key spelled by another service stays the vendor's own
    assert canonical(Pred(field, Kind.EQ, "x"), "splunk", {"service": "okta"}).field == f"splunk:{field}"


def test_pysigma_wins_over_vendor_mappings() -> None:
    assert all(resolve(schema, f, "") is None for schema, f in VENDOR_MAPPINGS)


def test_caseless_multi_fields_and_same_names() -> None:
    caseless = canonical(
        Pred("process.executable.caseless", Kind.EQ, "C:\\X.exe", cased=True), "elastic", WIN_PROC
    )
    assert (caseless.field, caseless.cased) == ("Image", False)
    raw = canonical(Pred("CommandLine", Kind.CONTAINS, "-enc"), "splunk", WIN_PROC)
    assert (raw.field, raw.how) == ("CommandLine", "same-name")


def test_unmapped_fields_are_namespaced_by_vendor() -> None:
    assert canonical(Pred("type.inbound", Kind.EQ, True), "sublime", {}).field == "sublime:type.inbound"
    assert canonical(Pred("dest_category", Kind.EQ, "x"), "splunk", {}).field == "splunk:dest_category"
    assert canonical(Pred("anything", Kind.EQ, "x"), "sigma", {}).field == "anything"
    assert canonical(Pred(None, Kind.CONTAINS, "x"), "elastic", {}).field == ""


@pytest.mark.parametrize(
    ("pattern", "flags", "reduced"),
    [
        (r"\\powershell\.exe$", "", (Kind.ENDS_WITH, "\\powershell.exe")),
        (r"^C:\\Windows\\", "", (Kind.STARTS_WITH, "C:\\Windows\\")),
        (r"^whoami\.exe$", "i", (Kind.EQ, "whoami.exe")),
        ("mimikatz", "", (Kind.CONTAINS, "mimikatz")),
        (".*mimikatz.*", "", (Kind.CONTAINS, "mimikatz")),
        ("(?i)mimikatz", "", (Kind.CONTAINS, "mimikatz")),
        ("[m]imikatz", "", (Kind.CONTAINS, "mimikatz")),
        (r".*.*\.arj$", "", (Kind.ENDS_WITH, ".arj")),
        (r".*\\Corona.*\.exe", "", (Kind.WILDCARD, "*\\Corona*.exe*")),
        (r"^C:\\Users\\.*\\gup\.exe$", "i", (Kind.WILDCARD, r"C:\Users\\*\gup.exe")),
        (r"a\*.*b", "", (Kind.WILDCARD, "*a\\**b*")),
        ("mimi.atz", "", None),
        ("a|b", "", None),
        ("ab+", "", None),
        ("^", "", None),
        ("x", "m", None),
        ("(?m)^x", "", None),
        ("(unclosed", "", None),
    ],
)
def test_regex_literals_reduce(pattern: str, flags: str, reduced: tuple[Kind, str] | None) -> None:
    assert reduce_regex(pattern, flags) == reduced


def test_a_reduced_regex_counts_with_the_plain_comparison() -> None:
    regex = Pred("target.process.file.full_path", Kind.REGEX, r"\\powershell\.exe$", regex_flags="i")
    assert indicator_key(regex, "yaral", WIN_PROC) == ("Image", "ends_with", "\\powershell.exe", "")
    cased = Pred("CommandLine", Kind.REGEX, "Invoke-Mimikatz")
    assert indicator_key(cased, "sigma", WIN_PROC) == ("CommandLine", "contains", "Invoke-Mimikatz", "")


def test_cloud_audit_keys_by_service() -> None:
    trail = {"product": "aws", "service": "cloudtrail"}
    kusto = Pred("EventName", Kind.EQ, "StopLogging")
    udm = Pred("metadata.product_event_type", Kind.EQ, "StopLogging", cased=True)  # YARA-L without nocase
    assert indicator_key(kusto, "kusto", trail) == ("eventName", "eq", "stoplogging", "")
    assert indicator_key(udm, "yaral", trail) == ("eventName", "eq", "stoplogging", "")
    assert canonical(udm, "yaral", {"product": "windows"}).field != "eventName"  # elsewhere: UDM's table


@pytest.mark.parametrize(
    ("pred", "logsource", "expected"),
    [
        # pySigma's ecs_windows() prefixes every field it does not map with `winlog.event_data.`
        (
            Pred("winlog.event_data.ServiceFileName", Kind.CONTAINS, "cmd"),
            {"product": "windows", "service": "system"},
            ("ServiceFileName", Kind.CONTAINS, "cmd", "table:ecs"),
        ),
        # a prefix followed by a name the Sigma taxonomy does not know stays native
        (
            Pred("winlog.event_data.NoSuchSigmaField", Kind.EQ, "x"),
            {"product": "windows"},
            ("elastic:winlog.event_data.NoSuchSigmaField", Kind.EQ, "x", "native"),
        ),
        # an extension is exactly the end of the file's path after a dot
        (
            Pred("file.extension", Kind.EQ, "vbs"),
            {"product": "windows", "category": "file_event"},
            ("TargetFilename", Kind.ENDS_WITH, ".vbs", "name:ecs"),
        ),
        (
            Pred("file.extension", Kind.STARTS_WITH, "vb"),
            {"product": "windows", "category": "file_event"},
            ("elastic:file.extension", Kind.STARTS_WITH, "vb", "native"),
        ),
        # Elastic Defend's library events: dll.* where Sysmon event 7 has file.*
        (
            Pred("dll.path", Kind.ENDS_WITH, "\\x.dll"),
            {"product": "windows", "category": "image_load"},
            ("ImageLoaded", Kind.ENDS_WITH, "\\x.dll", "table:ecs"),
        ),
        (
            Pred("dll.code_signature.subject_name", Kind.EQ, "Microsoft Windows"),
            {"product": "windows", "category": "image_load"},
            ("Signature", Kind.EQ, "Microsoft Windows", "table:ecs"),
        ),
        # no exact Sigma field: process.args is one argument, CommandLine the whole line, which the argument
        # implies (an implied form, test_a_part_field_counts_under_the_sigma_comparison_it_implies)
        (
            Pred("process.args", Kind.EQ, "-enc"),
            {"product": "windows", "category": "process_creation"},
            ("CommandLine", Kind.CONTAINS, "-enc", "part:ecs"),
        ),
        (
            Pred("event.outcome", Kind.EQ, "success"),
            {"product": "aws", "service": "cloudtrail"},
            ("elastic:event.outcome", Kind.EQ, "success", "native"),
        ),
    ],
)
def test_ecs_fields_beyond_pysigmas_reverse_table(
    pred: Pred, logsource: dict[str, str], expected: tuple[str, Kind, str, str]
) -> None:
    form = canonical(pred, "elastic", logsource)
    assert (form.field, form.kind, form.value, form.how) == expected


@pytest.mark.parametrize(
    ("pred", "logsource", "expected"),
    [
        # one argument equal to, starting, ending with or containing X: the command line contains X
        (Pred("process.args", Kind.EQ, "-enc"), WIN_PROC, ("CommandLine", Kind.CONTAINS, "-enc")),
        (
            Pred("process.args", Kind.STARTS_WITH, "/tmp/"),
            LINUX_PROC,
            ("CommandLine", Kind.CONTAINS, "/tmp/"),
        ),
        (Pred("process.args", Kind.ENDS_WITH, ".sh"), LINUX_PROC, ("CommandLine", Kind.CONTAINS, ".sh")),
        (Pred("process.parent.args", Kind.EQ, "-c"), LINUX_PROC, ("ParentCommandLine", Kind.CONTAINS, "-c")),
        # an argument matching a pattern: the command line matches it somewhere
        (
            Pred("process.args", Kind.WILDCARD, "http*://*"),
            LINUX_PROC,
            ("CommandLine", Kind.WILDCARD, "*http*://*"),
        ),
        # a regex that is a plain literal is that literal first
        (Pred("process.args", Kind.REGEX, "^-nop$"), WIN_PROC, ("CommandLine", Kind.CONTAINS, "-nop")),
        # the registry value's name is the last part of the path; the key a part of it
        (
            Pred("registry.value", Kind.EQ, "Debugger"),
            WIN_REG,
            ("TargetObject", Kind.ENDS_WITH, "\\Debugger"),
        ),
        (Pred("registry.key", Kind.ENDS_WITH, "\\Run"), WIN_REG, ("TargetObject", Kind.CONTAINS, "\\Run")),
        (
            Pred("registry.value", Kind.WILDCARD, "*Debug?r"),
            WIN_REG,
            ("TargetObject", Kind.WILDCARD, "*\\\\*Debug?r"),  # a backslash before `*` is escaped
        ),
    ],
)
def test_a_part_field_counts_under_the_sigma_comparison_it_implies(
    pred: Pred, logsource: dict[str, str], expected: tuple[str, Kind, str]
) -> None:
    form = canonical(pred, "elastic", logsource)
    assert (form.field, form.kind, form.value) == expected
    assert form.implied and form.how == "part:ecs"


def test_a_part_field_stays_native_where_nothing_is_implied() -> None:
    # a file event's process.args are the acting process's: Sigma's file events have no CommandLine
    on_file = canonical(
        Pred("process.args", Kind.EQ, "-o"), "elastic", {"product": "linux", "category": "file_event"}
    )
    assert on_file.field == "elastic:process.args" and not on_file.implied
    for kind, value in ((Kind.NEQ, "x"), (Kind.EXISTS, True), (Kind.EQ, ""), (Kind.REGEX, "a|b")):
        assert canonical(Pred("process.args", kind, value), "elastic", WIN_PROC).how == "native"
    # process.args_count counts arguments: no part of any Sigma field
    assert canonical(Pred("process.args_count", Kind.EQ, 2), "elastic", WIN_PROC).how == "native"


def test_part_fields_table() -> None:
    known = sigma_field_names()
    for (schema, _field), (target, _part, _categories) in PART_FIELDS.items():
        assert schema in SCHEMA_SOURCES and target in known


def test_a_predicate_marked_implies_only_has_an_implied_canonical_form() -> None:
    has = Pred("CommandLine", Kind.CONTAINS, "-enc", implies_only=True, native='CommandLine has "-enc"')
    form = canonical(has, "kusto", WIN_PROC)
    assert (form.field, form.kind, form.implied) == ("CommandLine", Kind.CONTAINS, True)
    # the indicator key is the canonical comparison, as before: it counts with Sigma's `contains`
    assert indicator_key(has, "kusto", WIN_PROC) == indicator_key(
        Pred("CommandLine", Kind.CONTAINS, "-enc"), "sigma", WIN_PROC
    )


def test_kubernetes_audit_keys_are_those_pysigma_maps_and_sigma_writes() -> None:
    from sigma.pipelines.elasticsearch.kubernetes import ecs_kubernetes
    from sigma.processing.transformations import FieldMappingTransformation

    targets = {
        target
        for item in ecs_kubernetes().items
        if isinstance(item.transformation, FieldMappingTransformation)
        for targets in item.transformation.mapping.values()
        for target in (targets if isinstance(targets, list) else [targets])
    }
    kubernetes = {k: v for k, v in SERVICE_FIELDS.items() if k[1].startswith("kubernetes.audit.")}
    assert len(kubernetes) == 5
    for (_service, ecs_field), sigma_key in kubernetes.items():
        assert ecs_field in targets  # pySigma's ecs_kubernetes() maps a Sigma field to it
        assert ecs_field == "kubernetes.audit." + sigma_key  # the audit event's own key, as Sigma writes it
    audit = {"product": "kubernetes", "service": "audit"}
    elastic = canonical(
        Pred("kubernetes.audit.objectRef.resource", Kind.EQ, "pods", cased=True), "elastic", audit
    )
    assert (elastic.field, elastic.how) == ("objectRef.resource", "service:audit")
    assert indicator_key(Pred("kubernetes.audit.verb", Kind.EQ, "create"), "elastic", audit) == indicator_key(
        Pred("verb", Kind.EQ, "create"), "sigma", audit
    )
