"""Cross-vendor canonical forms (issue 14 §2): a YARA-L translation of a SigmaHQ rule meets its original.

Each normalisation has a hand-made pair, and its near miss stays apart: a YARA-L window that only groups one
event variable's matches is a single-event rule (its match placeholder's zero-value filter kept as `exists`),
a scope comparison that restates the event coverage is left to coverage, a regex that is a list of literals is
that list, and UDM fields read as Google's own Sigma translations read them. One real pair is read from
../shared: Google's YARA-L translation of a SigmaHQ rule."""

from __future__ import annotations

from pathlib import Path

from ruleatlas.analysis.canonical import canonical, expand_regex
from ruleatlas.analysis.relations import relate, rule_form
from ruleatlas.analysis.relations.form import RuleForm
from ruleatlas.model import Kind, Pred, Rule
from ruleatlas.sources.sigma import parse_sigma_file
from ruleatlas.sources.yaral import parse_file as parse_yaral

SYSMON_1 = [("Sysmon", "Microsoft-Windows-Sysmon/Operational", 1, "Process creation")]
SYSMON_11 = [("Sysmon", "Microsoft-Windows-Sysmon/Operational", 11, "File created")]


def sigma(detection: str, category: str = "process_creation") -> Rule:
    logsource = f"logsource:\n  product: windows\n  category: {category}\n"
    text = f"title: s\n{logsource}detection:\n{detection}\nlevel: high\n"
    rules, problems = parse_sigma_file(text, "s.yml", "rules")
    assert rules, problems
    return rules[0]


def yaral(events: str, match: str = "$hostname over 5m", condition: str = "$e", options: str = "") -> Rule:
    sections = f"  events:\n{events}\n"
    if match:
        sections += f"  match:\n    {match}\n"
    sections += f"  condition:\n    {condition}\n"
    if options:
        sections += f"  options:\n    {options}\n"
    text = 'rule r {\n  meta:\n    rule_name = "r"\n    platform = "Windows"\n' + sections + "}\n"
    rules, problems = parse_yaral(
        text, "rules/community/r.yaral", "community", repo_url="", commit="", companions={}
    )
    assert rules and not problems, problems
    return rules[0]


def form(rule: Rule, events: list[tuple[str, str, int | str, str]]) -> RuleForm:
    found = rule_form(rule, events)
    assert found is not None
    return found


CERTUTIL = (
    "  sel:\n    Image|endswith: '\\certutil.exe'\n    CommandLine|contains: ['urlcache ', 'verifyctl ']\n"
    "  condition: sel"
)
CERTUTIL_EVENTS = (
    '    $e.metadata.event_type = "PROCESS_LAUNCH"\n'
    "    re.regex($e.target.process.file.full_path, `\\\\certutil\\.exe$`) nocase\n"
    "    re.regex($e.target.process.command_line, `(urlcache|verifyctl) `) nocase\n"
)


def test_a_one_event_window_is_a_single_event_rule_and_a_placeholder_on_the_host_is_always_set() -> None:
    bound = CERTUTIL_EVENTS + "    $e.principal.hostname = $hostname\n"
    windowed = form(yaral(bound), SYSMON_1)
    assert windowed.shape is None
    original = form(sigma(CERTUTIL), SYSMON_1)
    # YARA-L drops events whose match placeholder is empty, but a process event's principal.hostname is the
    # record's Computer, which every Windows event has: over Sysmon 1 nothing is dropped, the same class.
    assert windowed.class_key == original.class_key
    # Over events that are not Windows event log records, the computer may be unset: stricter, never equal.
    linux = [("Linux", "", "process_creation", "")]
    assert form(yaral(bound), linux).class_key != form(sigma(CERTUTIL), linux).class_key
    # With zero values allowed, or without a match section, the same class too.
    allowed = form(yaral(bound, options="allow_zero_values = true"), SYSMON_1)
    assert allowed.class_key == original.class_key
    assert form(yaral(CERTUTIL_EVENTS, match=""), SYSMON_1).class_key == original.class_key


def test_a_match_placeholder_on_a_field_an_event_may_lack_makes_a_stricter_rule() -> None:
    by_user = CERTUTIL_EVENTS + "    $e.principal.user.userid = $user\n"
    windowed = form(yaral(by_user, match="$user over 5m"), SYSMON_1)
    original = form(sigma(CERTUTIL), SYSMON_1)
    assert windowed.class_key != original.class_key
    (found,) = relate([windowed, original]).neighbours
    assert (found.narrow, found.broad) == (windowed.uid, original.uid)
    assert found.broad_reason.startswith("drops `") and "exists true" in found.broad_reason


def test_a_window_that_counts_stays_an_aggregation() -> None:
    counted = form(
        yaral(CERTUTIL_EVENTS + "    $e.principal.hostname = $hostname\n", condition="#e > 3"), SYSMON_1
    )
    assert counted.shape is not None and counted.shape["type"] == "window"
    assert relate([counted, form(sigma(CERTUTIL), SYSMON_1)]).neighbours == []


def test_scope_comparisons_that_restate_the_coverage_are_left_to_it() -> None:
    original = form(sigma(CERTUTIL), SYSMON_1)
    # The event type the category was read from adds nothing over Sysmon 1.
    assert form(yaral(CERTUTIL_EVENTS, match=""), SYSMON_1).class_key == original.class_key
    # An event id stays a condition (left to coverage it would leave an `EventID`-only rule nothing to index).
    with_id = CERTUTIL_EVENTS + '    $e.metadata.product_event_type = "1"\n'
    assert form(yaral(with_id, match=""), SYSMON_1).class_key != original.class_key
    # Without a known event coverage, nothing is left out.
    bare = form(yaral(CERTUTIL_EVENTS, match=""), [])
    assert any("metadata.event_type" in lit[0] for t in bare.terms or () for c in t.clauses for lit in c)
    # An event type read as a category that other types are read as too restates nothing.
    read = yaral('    $e.metadata.event_type = "FILE_READ"\n    $e.target.file.full_path = "x"\n', match="")
    assert "category_scope" not in read.logsource


def test_regexes_that_are_lists_are_those_lists() -> None:
    assert expand_regex(r"\\(cachedump\.exe|pwdump\.exe)$", "i") == (
        Kind.ENDS_WITH,
        ("\\cachedump.exe", "\\pwdump.exe"),
    )
    assert expand_regex(r"^(a|b)c?$") == (Kind.EQ, ("a", "ac", "b", "bc"))
    assert expand_regex(r"\.(dll|exe)") == (Kind.CONTAINS, (".dll", ".exe"))
    # Not lists: character ranges, repetitions, any character, a single literal (reduce_regex's), flags.
    for pattern in (r"[a-z]x", r"a+(b|c)", r"dump.dmp$", r"abc", r"(a|b)(?m)"):
        assert expand_regex(pattern) is None, pattern
    assert expand_regex("(a|b)", "s") is None
    listed = "  sel:\n    TargetFilename|endswith: ['\\pwdump.exe', '\\cachedump.exe']\n  condition: sel"
    as_regex = "  sel:\n    TargetFilename|re|i: '\\\\(cachedump\\.exe|pwdump\\.exe)$'\n  condition: sel"
    as_cased_regex = "  sel:\n    TargetFilename|re: '\\\\(cachedump\\.exe|pwdump\\.exe)$'\n  condition: sel"
    keys = [form(sigma(d, "file_event"), SYSMON_11).class_key for d in (listed, as_regex, as_cased_regex)]
    assert keys[0] == keys[1] != keys[2]  # a case-sensitive regex matches fewer spellings


def test_udm_fields_as_google_s_sigma_translations_read_them() -> None:
    file_event = {"product": "windows", "category": "file_event"}
    process = {"product": "windows", "category": "process_creation"}
    assert (
        canonical(Pred("target.file.full_path", Kind.EQ, "x"), "yaral", file_event).field == "TargetFilename"
    )
    assert (
        canonical(Pred("principal.process.file.full_path", Kind.EQ, "x"), "yaral", file_event).field
        == "Image"
    )
    # pySigma reads target.process as the file event's Image: no longer two UDM fields for one Sigma field.
    assert canonical(Pred("target.process.file.full_path", Kind.EQ, "x"), "yaral", file_event).field == (
        "yaral:target.process.file.full_path"
    )
    assert (
        canonical(Pred("src.process.file.full_path", Kind.EQ, "x"), "yaral", process).field
        == "OriginalFileName"
    )
    assert (
        canonical(Pred("target.asset.software.description", Kind.EQ, "x"), "yaral", process).field
        == "Product"
    )
    access = {"product": "windows", "category": "process_access"}
    assert canonical(Pred("principal.process.file.full_path", Kind.EQ, "x"), "yaral", access).field == (
        "SourceImage"
    )
    assert (
        canonical(Pred("target.process.file.full_path", Kind.EQ, "x"), "yaral", access).field == "TargetImage"
    )
    assert canonical(Pred("target.resource.name", Kind.EQ, "x"), "yaral", access).field == "GrantedAccess"
    # Unmapped keys kept by name: a Sigma field's name is that field, any other key stays native.
    assert (
        canonical(Pred('additional.fields["CallTrace"]', Kind.EQ, "x"), "yaral", access).field == "CallTrace"
    )
    assert canonical(Pred('additional.fields["Foo"]', Kind.EQ, "x"), "yaral", access).field == (
        'yaral:additional.fields["Foo"]'
    )
    # Outside the categories they were seen in, pySigma's table decides as before.
    assert canonical(Pred("target.process.file.full_path", Kind.EQ, "x"), "yaral", process).field == "Image"
    assert canonical(Pred("src.process.file.full_path", Kind.EQ, "x"), "yaral", file_event).field == (
        "yaral:src.process.file.full_path"
    )


def test_rules_that_look_alike_but_are_not_equal_stay_apart() -> None:
    original = form(sigma(CERTUTIL), SYSMON_1)
    # Same values, case-sensitive regexes: fewer spellings match.
    cased = CERTUTIL_EVENTS.replace(" nocase", "")
    assert form(yaral(cased, match=""), SYSMON_1).class_key != original.class_key
    # Same values on the parent process.
    parent = CERTUTIL_EVENTS.replace("target.process.file", "principal.process.file")
    assert form(yaral(parent, match=""), SYSMON_1).class_key != original.class_key
    # Same logic over other events.
    assert form(yaral(CERTUTIL_EVENTS, match=""), SYSMON_11).class_key != original.class_key


# --- a real pair: Google's YARA-L translation of a SigmaHQ rule -----------------------------------------

REAL_SIGMA = "rules/windows/process_creation/proc_creation_win_finger_execution.yml"
REAL_YARAL = "rules/community/microsoft/windows/finger_exe_execution.yaral"


def test_a_real_translation_is_its_sigma_original_s_class(shared_dir: Path) -> None:
    """Both are read from ../shared and compared over one coverage (Sysmon 1, what the catalog gives both):
    the translation's host grouping (`match: $hostname`) filters nothing there."""
    sigma_path = shared_dir / "corpus" / "sigma" / REAL_SIGMA
    original, problems = parse_sigma_file(sigma_path.read_text(encoding="utf-8"), REAL_SIGMA, "rules")
    assert original, problems
    yaral_path = shared_dir / "corpus" / "chronicle" / REAL_YARAL
    translated, errors = parse_yaral(
        yaral_path.read_text(encoding="utf-8"), REAL_YARAL, "community", repo_url="", commit="", companions={}
    )
    assert translated and not errors
    assert translated[0].related == ({"id": original[0].id, "type": "derived"},)
    s_form, y_form = form(original[0], SYSMON_1), form(translated[0], SYSMON_1)
    assert y_form.class_key == s_form.class_key
    assert relate([s_form, y_form]).classes == {s_form.class_key: sorted([s_form.uid, y_form.uid])}


def test_rules_of_one_log_source_never_compare_across_their_event_ids() -> None:
    """Rules of one log source compare whatever their coverage: their event ids stay in the form, so that a
    Kerberos ticket rule is never stricter than a service installation rule."""
    security = "product: windows\n  service: security"

    def rule(name: str, detection: str) -> Rule:
        text = f"title: {name}\nlogsource:\n  {security}\ndetection:\n{detection}\nlevel: high\n"
        (found,), _ = parse_sigma_file(text, f"{name}.yml", "rules")
        found.uid = f"sigma/{name}"
        return found

    rc4 = "    EventID: 4769\n    TicketEncryptionType: '0x17'\n"
    kerberos = rule("k", f"  sel:\n{rc4}    TicketOptions: '0x40810000'\n  condition: sel")
    # the same field test on another event of the log source (a service installation)
    service = rule("s", "  sel:\n    EventID: 4697\n    TicketEncryptionType: '0x17'\n  condition: sel")
    any_ticket = rule("t", f"  sel:\n{rc4}  condition: sel")
    forms = [
        form(kerberos, [("Security", "Security", 4769, "")]),
        form(service, [("Security", "Security", 4697, "")]),
        form(any_ticket, [("Security", "Security", 4769, "")]),
    ]
    found = {(n.narrow, n.broad) for n in relate(forms).neighbours}
    assert found == {("sigma/k", "sigma/t")}  # the same event: one is stricter; the service rule is apart
