"""A rule's canonical form: what rules are compared on for neighbours, equivalence classes and actions.

The form of a single-event rule is its logic as alternatives (`Term`s, OR-ed); a term is a set of clauses
(AND-ed), each clause a set of canonical literals (OR-ed: a value list is one clause), and a set of excluded
terms (the rule's filters: a matching event satisfies none of them). Literals are canonical (`canonical`:
Sigma's field names, regexes that are plain literals reduced) with case-insensitive values folded, so one
comparison written by three vendors is one literal.

Scope predicates (index, sourcetype, `event.type`, Channel...) stay: event coverage is coarser than they are
(`event.type == "deletion"` and `"creation"` share one coverage). Only a top-level conjunct that restates the
coverage goes, so that one logic over one coverage is one form whichever vendor wrote it: the comparison a
reader read the Sigma category from (`CATEGORY_SCOPE`: YARA-L `metadata.event_type = "PROCESS_LAUNCH"`).
A regex that is a list of literals (`\\(a|b)\\.exe$`) is that list (`ends_with \\a.exe`, `ends_with
\\b.exe`), as a Sigma value list writes it. A YARA-L `match` window over one event variable whose condition
is that variable alone matches single events (its match placeholders' zero-value filter is in the logic, as
`exists` predicates).

The rule's event coverage (`coverage`, the catalog's own), its log source and its source stages (`source`)
say what it is fed. A list the rule defines itself (`let names = datatable(...)`) is compared by its text, not
its name. A predicate on a column an earlier stage defines (`EVAL x = ...` then `WHERE x ...`) stays, under a
name holding the text of the defining stages, so it only ever meets rules that define their columns alike.
What the terms cannot hold (an aggregation, a join, a sequence, and every stage from there on) is the form's
`shape`, compared as text.

Expanding AND over OR can blow up; beyond `MAX_TERMS` alternatives or `MAX_LITERALS` literals the form keeps
no terms and says so (`undecidable`), and the class key falls back to the sorted expression tree.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any as AnyType

from ruleatlas.analysis.canonical import canonical, expand_regex, value_text_ignores_case
from ruleatlas.analysis.indicators import defined_columns, rule_logic
from ruleatlas.analysis.relations.scope import pred_implied
from ruleatlas.model import (
    CATEGORY_SCOPE,
    MEMBERSHIP,
    All,
    Any,
    CorrelationType,
    Expr,
    Kind,
    Not,
    Pred,
    Rule,
    Scalar,
    StageOp,
)

MAX_TERMS = 64  # alternatives of one expression (a term list) before the form gives up
MAX_LITERALS = 4000  # literals in the whole form before it gives up

# Canonical fields that hold a whole number whatever the vendor's type for it: `EventID` "4688" is 4688.
NUMBER_FIELDS = frozenset({"EventID"})
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,9}")

# Kinds compared only when identical: what they match cannot be told from their text (regexes, field
# references) or is not a comparison with a value (neq is true of absent fields in some engines).
OPAQUE_KINDS = frozenset({Kind.REGEX, Kind.FIELDREF, Kind.NEQ})

Lit = tuple[str, str, Scalar, bool, str]
"""(canonical field, kind, value — folded when case-insensitive —, case-sensitive, extra): `extra` joins the
value transforms (base64offset, windash, membership...), regex flags and `IMPLIED`; a literal with an extra is
compared only when identical. Field "" is a keyword search (compared only when identical)."""

# The extra of a literal whose canonical comparison is implied by the native one, not equal to it (Kusto
# `has`, ECS `process.args` as `CommandLine contains`: `Canonical.implied`), as `implied#<digest>` of the
# vendor and the native comparison: it never equals, implies or is implied by an exact comparison, nor one
# implied by another native comparison (`has x` and `process.args : x` both imply `contains x`, and differ),
# so no equivalence or "broader" is claimed from it.
IMPLIED = "implied"


class TooBig(Exception):
    """The logic expands to more alternatives or literals than the form keeps."""


@dataclass(slots=True, frozen=True)
class Term:
    """One alternative: every clause holds (some literal of each) and no excluded term does."""

    clauses: frozenset[frozenset[Lit]]
    exclusions: frozenset[Term]


TRUE = Term(frozenset(), frozenset())


@dataclass(slots=True)
class RuleForm:
    """What relations are computed from, for one rule (stored as JSON, `to_json`/`from_json`)."""

    uid: str
    vendor: str
    coverage: frozenset[str]  # event tokens (provider|event), or the log source when no event is known
    shape: dict[str, AnyType] | None  # None: a single-event rule; else its aggregation (correlation) shape
    terms: tuple[Term, ...] | None  # None when undecidable
    undecidable: str = ""  # why `terms` is None
    opaque: tuple[str, ...] = ()  # kinds in the logic compared only when identical (regex, keyword...)
    class_key: str = ""  # hash of the canonical form: equal keys, equal forms
    actions: tuple[tuple[str, str], ...] = ()  # (provider, action event) of cloud and SaaS rules
    stage_count: int = 0
    # vendor and Sigma-style log source: two rules of one vendor with one log source are fed the same events,
    # whatever fields each tests (event coverage is field-aware: `Image or OriginalFileName` drops 4688)
    source: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "uid": self.uid,
                "vendor": self.vendor,
                "coverage": sorted(self.coverage),
                "shape": self.shape,
                "terms": None if self.terms is None else [term_json(t) for t in self.terms],
                "undecidable": self.undecidable,
                "opaque": list(self.opaque),
                "class_key": self.class_key,
                "actions": [list(a) for a in self.actions],
                "stage_count": self.stage_count,
                "source": self.source,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> RuleForm:
        data = json.loads(text)
        terms = data["terms"]
        return cls(
            uid=data["uid"],
            vendor=data["vendor"],
            coverage=frozenset(data["coverage"]),
            shape=data["shape"],
            terms=None if terms is None else tuple(term_from_json(t) for t in terms),
            undecidable=data["undecidable"],
            opaque=tuple(data["opaque"]),
            class_key=data["class_key"],
            actions=tuple((a[0], a[1]) for a in data["actions"]),
            stage_count=data["stage_count"],
            source=data.get("source", ""),
        )


# --- serialisation: sorted, so equal forms give equal text -------------------------------------------------


# `json.dumps(item, ensure_ascii=False, sort_keys=True)` with its encoder made once: sorting calls this for
# every literal of every rule, where building the encoder cost more than encoding a five-item list.
_SORT_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _sort_key(item: object) -> str:
    return _SORT_ENCODER.encode(item)


def term_json(term: Term) -> list[AnyType]:
    return _term_json_text(term)[0]


def _term_json_text(term: Term) -> tuple[list[AnyType], str]:
    """`term_json(term)` with its `_sort_key` text, each literal encoded once: a list's text is its items'
    texts joined as the encoder joins them (`[a, b]`), so sorting a clause, the clauses and the exclusions
    by their texts needs no encoding of the lists again (a tenth of Sublime's analysis)."""
    clauses = [_sorted_with_text([(_sort_key(lit), list(lit)) for lit in clause]) for clause in term.clauses]
    exclusions = [_term_json_text(t) for t in term.exclusions]
    clauses_json, clauses_text = _sorted_with_text([(text, value) for value, text in clauses])
    exclusions_json, exclusions_text = _sorted_with_text([(text, value) for value, text in exclusions])
    return [clauses_json, exclusions_json], f"[{clauses_text}, {exclusions_text}]"


def _sorted_with_text(items: list[tuple[str, AnyType]]) -> tuple[list[AnyType], str]:
    """Items given with their `_sort_key` texts, as `sorted(values, key=_sort_key)` and that list's text."""
    items.sort(key=_text_of_pair)
    return [value for _, value in items], "[" + ", ".join(text for text, _ in items) + "]"


def _text_of_pair(item: tuple[str, AnyType]) -> str:
    return item[0]


def term_from_json(data: list[AnyType]) -> Term:
    clauses, exclusions = data
    return Term(
        frozenset(
            frozenset((lit[0], lit[1], lit[2], lit[3], lit[4]) for lit in clause) for clause in clauses
        ),
        frozenset(term_from_json(t) for t in exclusions),
    )


# --- literals -------------------------------------------------------------------------------------------


def literal(pred: Pred, vendor: str, logsource: dict[str, str]) -> Lit:
    """The canonical literal of a predicate: canonical field and kind, case-insensitive text folded."""
    form = canonical(pred, vendor, logsource)
    value = form.value
    insensitive = not form.cased and form.kind not in (Kind.FIELDREF, Kind.REGEX)
    if isinstance(value, str) and insensitive:
        value = value.casefold()
    extra = "|".join((*pred.transforms, _implied_extra(pred, vendor)) if form.implied else pred.transforms)
    if form.kind is Kind.REGEX:
        extra += f"/re:{pred.regex_flags}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if (
        form.field in NUMBER_FIELDS
        and form.kind is Kind.EQ
        and isinstance(value, str)
        and _DECIMAL.fullmatch(value)
    ):
        value = int(value)  # a Windows event id written as text (YARA-L `product_event_type = "4688"`)
    # Case says nothing about numbers, booleans, null or text without letters that have a case ("4688",
    # "127.0.0.1"): one literal however the source flagged it.
    cased = not insensitive and value.casefold() != value.upper() if isinstance(value, str) else False
    return (form.field, form.kind.value, value, cased, extra)


def _implied_extra(pred: Pred, vendor: str) -> str:
    native = pred.native or f"{pred.field} {pred.kind.value} {pred.value!r} {pred.cased}"
    text = f"{vendor}\n{pred.field}\n{pred.kind.value}\n{native}"
    return f"{IMPLIED}#{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def is_implied(extra: str) -> bool:
    """The literal's extra says its comparison is implied by a narrower native one (`IMPLIED`)."""
    return any(part.split("#", 1)[0] == IMPLIED for part in extra.split("|"))


def is_membership(extra: str) -> bool:
    """The literal's extra names a list membership (`expand`, or `expand#<the list's definition hash>`)."""
    return any(part.split("#", 1)[0] == MEMBERSHIP for part in extra.split("|"))


def literal_text(lit: Lit) -> str:
    """A literal as pages write it: `CommandLine contains -enc`."""
    field_name, kind, value, _cased, extra = lit
    shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    if is_membership(extra):
        return f"{field_name or 'keyword'} member of {shown}"
    shown_extra = "|".join(part.split("#", 1)[0] for part in extra.split("|") if part)
    suffix = f" ({shown_extra})" if shown_extra and not extra.startswith("/re:") else ""
    return f"{field_name or 'keyword'} {kind} {shown}{suffix}"


def clause_text(clause: frozenset[Lit], limit: int = 3) -> str:
    """A clause as pages write it: one literal, or a field's value list (`Image ends_with \\a, \\b`)."""
    lits = sorted(clause, key=_sort_key)
    if len(lits) == 1:
        return literal_text(lits[0])
    heads = {(lit[0], lit[1]) for lit in lits}
    if len(heads) == 1:
        field_name, kind = next(iter(heads))
        values = [str(lit[2]) for lit in lits]
        shown = ", ".join(values[:limit]) + (f", … ({len(values)} values)" if len(values) > limit else "")
        return f"{field_name or 'keyword'} {kind} {shown}"
    shown = " or ".join(literal_text(lit) for lit in lits[:limit])
    return shown + (f" or … ({len(lits)} comparisons)" if len(lits) > limit else "")


# --- expressions to terms ----------------------------------------------------------------------------------


class _Builder:
    def __init__(
        self, vendor: str, logsource: dict[str, str], defined: frozenset[str], definitions: str = ""
    ) -> None:
        self.vendor = vendor
        self.logsource = logsource
        self.defined = defined
        digest = hashlib.sha256(definitions.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        self.defined_prefix = f"defined#{digest}:"
        self.lists: dict[str, str] = {}
        self.literals = 0
        self.opaque: set[str] = set()

    def keep(self, expr: Expr) -> Expr | None:
        """`expr` with unresolved references dropped (empty groups drop out); a predicate on a column an
        earlier stage defines is kept under a name that holds the definitions' text (`defined`), so that it
        compares only with rules that define their columns alike."""
        if isinstance(expr, Pred):
            if expr.field is not None and expr.field in self.defined:
                return replace(expr, field=f"{self.defined_prefix}{expr.field}")
            return expr
        if isinstance(expr, Not):
            inner = self.keep(expr.item)
            return None if inner is None else Not(inner)
        if isinstance(expr, All | Any):
            items = tuple(x for x in (self.keep(i) for i in expr.items) if x is not None)
            return type(expr)(items) if items else None
        return None  # a reference left unresolved: nothing known of it

    def lit(self, pred: Pred) -> Lit:
        lit = literal(pred, self.vendor, self.logsource)
        if MEMBERSHIP in pred.transforms and isinstance(pred.value, str):
            # A list the rule defines itself (`let names = datatable(...)`) is that text, not its name.
            defined = self.lists.get(pred.value.casefold())
            if defined is not None:
                digest = hashlib.sha256(defined.encode("utf-8", "surrogatepass")).hexdigest()[:12]
                lit = (lit[0], lit[1], lit[2], lit[3], f"{lit[4]}#{digest}")
        self.literals += 1
        if self.literals > MAX_LITERALS:
            raise TooBig(f"its logic has more than {MAX_LITERALS} comparisons")
        if not lit[0]:
            self.opaque.add("keyword")
        elif lit[1] in OPAQUE_KINDS:
            self.opaque.add(lit[1])
        elif is_membership(lit[4]):
            self.opaque.add("membership")
        elif is_implied(lit[4]):
            self.opaque.add("implied")
        elif lit[4]:
            self.opaque.add("transformed value")
        return lit

    def terms(self, expr: Expr) -> list[Term]:
        if isinstance(expr, Pred):
            alternatives = _regex_alternatives(expr)
            if alternatives is not None:
                return self.terms(alternatives)
            return [Term(frozenset({frozenset({self.lit(expr)})}), frozenset())]
        if isinstance(expr, Not):
            if isinstance(expr.item, Not):
                return self.terms(expr.item.item)
            excluded = self.terms(expr.item)
            if TRUE in excluded:  # `not (anything)`: nothing is left to match
                return []
            return [Term(frozenset(), frozenset(excluded))]
        if isinstance(expr, All):
            acc = [TRUE]
            for item in expr.items:
                step = self.terms(item)
                acc = [_merge(a, b) for a in acc for b in step]
                if len(acc) > MAX_TERMS:
                    raise TooBig(f"its logic expands to more than {MAX_TERMS} alternatives")
            return acc
        if isinstance(expr, Any):
            parts: list[list[Term]] = [self.terms(item) for item in expr.items]
            if all(len(p) == 1 and len(p[0].clauses) == 1 and not p[0].exclusions for p in parts):
                # A value list (or any OR of single comparisons) is one clause.
                return [
                    Term(
                        frozenset({frozenset(lit for p in parts for lit in next(iter(p[0].clauses)))}),
                        frozenset(),
                    )
                ]
            out: list[Term] = []
            for p in parts:
                if TRUE in p:
                    return [TRUE]
                out.extend(t for t in p if t not in out)
            if len(out) > MAX_TERMS:
                raise TooBig(f"its logic expands to more than {MAX_TERMS} alternatives")
            return out
        return [TRUE]


def _regex_alternatives(pred: Pred) -> Any | None:
    """A regex that is a list of plain literals (`\\\\(a|b)\\.exe$`) as that list of comparisons (`ends_with
    \\a.exe`, `ends_with \\b.exe`), each matching what its branch does; None for any other predicate."""
    if pred.kind is not Kind.REGEX or pred.transforms or not isinstance(pred.value, str):
        return None
    expanded = expand_regex(pred.value, pred.regex_flags)
    if expanded is None:
        return None
    kind, values = expanded
    cased = "i" not in pred.regex_flags and not value_text_ignores_case(pred.value)
    return Any(tuple(replace(pred, kind=kind, value=v, cased=cased, regex_flags="") for v in values))


def _merge(a: Term, b: Term) -> Term:
    clauses = a.clauses | b.clauses
    # A clause that contains a whole other clause adds nothing (x and (x or y) is x).
    minimal = frozenset(c for c in clauses if not any(o < c for o in clauses))
    return Term(minimal, a.exclusions | b.exclusions)


def _tree(expr: Expr, builder: _Builder) -> AnyType:
    """The expression as a sorted, flattened tree (the class key when the terms are too many)."""
    if isinstance(expr, Pred):
        return list(literal(expr, builder.vendor, builder.logsource))
    if isinstance(expr, Not):
        return ["not", _tree(expr.item, builder)]
    if isinstance(expr, All | Any):
        op = "and" if isinstance(expr, All) else "or"
        items: list[AnyType] = []
        for item in expr.items:
            sub = _tree(item, builder)
            if isinstance(sub, list) and sub and sub[0] == op and len(sub) == 2 and isinstance(sub[1], list):
                items.extend(sub[1])
            else:
                items.append(sub)
        return [op, sorted(items, key=_sort_key)]
    return None


# --- the rule's form ------------------------------------------------------------------------------------


def coverage_tokens(
    events: list[tuple[str, str, int | str, str]], logsource: dict[str, str]
) -> frozenset[str]:
    """Event tokens of the rule's event coverage (provider|event id); the log source when it has none."""
    if events:
        return frozenset(f"{provider}|{event_id}" for provider, _channel, event_id, _title in events)
    return frozenset({f"logsource|{_logsource_key(logsource)}"})


def _logsource_key(logsource: dict[str, str]) -> str:
    """Every log source key (the native ones too: `kusto.table`, `elastic.index`...), sorted, as text."""
    return json.dumps(
        sorted((str(k).lower(), str(v).strip().lower()) for k, v in logsource.items() if v),
        ensure_ascii=False,
    )


def _text(stage_text: str) -> str:
    return " ".join(stage_text.split())


_AFTER_FILTERS = (StageOp.AGGREGATE, StageOp.SEQUENCE, StageOp.JOIN)


def _shape(rule: Rule) -> dict[str, AnyType] | None:
    """None for a single-event rule; else its correlation or aggregation, with the text of every stage from
    the first aggregate, sequence or join on (what the terms do not hold: equal only to the same text)."""
    ops = [s.op for s in rule.stages]
    first = next((i for i, op in enumerate(ops) if op in _AFTER_FILTERS), None)
    tail = [_text(s.text) for s in rule.stages[first:]] if first is not None else []
    corr = rule.correlation
    if corr is not None and _one_event_window(rule):
        return None
    if corr is not None:
        shape: dict[str, AnyType] = {
            "type": corr.type,
            "group_by": sorted(g.casefold() for g in corr.group_by),
            "timespan_seconds": corr.timespan_seconds,
            "condition": {k: corr.condition[k] for k in sorted(corr.condition)},
        }
        if tail:
            shape["stages"] = tail
        return shape
    if tail:
        return {"type": "pipeline", "stages": tail}
    return None


def _one_event_window(rule: Rule) -> bool:
    """A YARA-L `match` window over one event variable whose condition only asks that the variable match
    (`condition: $e`) alerts on every event its events section matches, grouped: the events are a single-event
    rule's. (The zero-value filter of its match placeholders is in the logic already: `exists` predicates.)"""
    corr = rule.correlation
    if corr is None or corr.type != CorrelationType.WINDOW or corr.rules:
        return False
    condition = corr.condition
    searches = [s for s in rule.stages if s.op == StageOp.SEARCH]
    if set(condition) != {"condition"} or len(searches) != 1:
        return False
    if any(s.op == StageOp.JOIN for s in rule.stages):
        return False
    return condition["condition"] == searches[0].label


def _implied_by_coverage(
    expr: Expr, vendor: str, logsource: dict[str, str], events: list[tuple[str, str, int | str, str]]
) -> bool:
    """`expr` holds for every event of the rule's event coverage: the scope comparison its reader read the
    category from (`CATEGORY_SCOPE`), or a comparison the coverage implies (`scope.pred_implied`: an Elastic
    `event.category` its ingest writes on every covered event, a header field every Windows event has); a
    value list holds when one of its comparisons does. (An `EventID` naming every covered event would too, but
    a rule whose logic is only that is left with nothing to index, and then loses its stricter neighbours:
    kept.)"""
    if isinstance(expr, Any):
        return any(_implied_by_coverage(item, vendor, logsource, events) for item in expr.items)
    if not isinstance(expr, Pred):
        return False
    if (
        expr.scope
        and expr.kind is Kind.EQ
        and not expr.transforms
        and logsource.get(CATEGORY_SCOPE) == f"{expr.field}={expr.value}"
    ):
        return True
    sigma_field = canonical(expr, vendor, logsource).field
    return pred_implied(expr, vendor, sigma_field, logsource, events)


def _conjuncts(expr: Expr) -> tuple[Expr, ...]:
    """The top-level conjuncts of `expr`, nested ANDs flattened (`(a and b) and c` is a, b, c)."""
    if not isinstance(expr, All):
        return (expr,)
    return tuple(x for item in expr.items for x in _conjuncts(item))


def _without_implied(
    expr: Expr, vendor: str, logsource: dict[str, str], events: list[tuple[str, str, int | str, str]]
) -> Expr | None:
    """`expr` without its top-level conjuncts that every covered event satisfies (None: nothing is left). Only
    conjuncts go: a comparison true of every event is the identity of AND, whatever vendor wrote it."""
    items = _conjuncts(expr)
    kept = tuple(i for i in items if not _implied_by_coverage(i, vendor, logsource, events))
    if len(kept) == len(items):
        return expr
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else All(kept)


def rule_form(
    rule: Rule,
    events: list[tuple[str, str, int | str, str]],
    actions: tuple[tuple[str, str], ...] = (),
) -> RuleForm | None:
    """The canonical form of `rule` over its event coverage (`events` as the catalog computed them), or None
    when the rule has no logic of its own to compare (its language is not parsed yet, a Sigma correlation
    over other rules, no stages) or only in part (Python logic not reduced: the predicates shown must hold,
    but others may too, so neither "broader" nor "the same" could be claimed soundly)."""
    if not rule.logic_parsed or not rule.logic_complete:
        return None
    if rule.correlation is not None and rule.correlation.rules:
        return None  # its events are those of the rules it correlates
    logic = rule_logic(rule.stages)
    definitions = "\n".join(_text(s.text) for s in rule.stages if s.defines)
    builder = _Builder(rule.vendor, rule.logsource, defined_columns(rule.stages), definitions)
    builder.lists = {s.label.casefold(): _text(s.text) for s in rule.stages if s.op == StageOp.LET}
    # The data a pipeline reads (index, table, FROM): part of what it is fed, in its own words.
    sources = sorted(_text(s.text) for s in rule.stages if s.op == StageOp.SOURCE)
    kept = builder.keep(logic) if logic is not None else None
    if kept is None:
        return None
    coverage = coverage_tokens(events, rule.logsource)
    restated: list[AnyType] = []
    if events:
        # Compared over the same coverage, a comparison that only restates it must not tell rules apart.
        trimmed = _without_implied(kept, rule.vendor, rule.logsource, events)
        if trimmed is not None and trimmed != kept:
            restated = sorted(
                (_tree(x, builder) for x in _conjuncts(kept) if x not in _conjuncts(trimmed)), key=_sort_key
            )
            kept = trimmed
    shape = _shape(rule)
    terms: tuple[Term, ...] | None
    try:
        terms = tuple(builder.terms(kept))
        undecidable = ""
    except TooBig as too_big:
        terms, undecidable = None, str(too_big)
    body: AnyType = [term_json(t) for t in terms] if terms is not None else ["tree", _tree(kept, builder)]
    key = hashlib.sha256(
        json.dumps([sorted(coverage), sources, shape, body], ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()[:16]
    return RuleForm(
        uid=rule.uid,
        vendor=rule.vendor,
        coverage=coverage,
        shape=shape,
        terms=terms,
        undecidable=undecidable,
        opaque=tuple(sorted(builder.opaque)),
        class_key=key,
        actions=actions,
        stage_count=sum(1 for s in rule.stages if s.op != StageOp.CONDITION),
        # What the rule restated of its coverage goes with its source: rules of one source compare whatever
        # their coverage only when the same comparisons were left to it (`EventID: 4624` is not `4769`'s).
        source=json.dumps(
            [rule.vendor, _logsource_key(rule.logsource), sources, *([restated] if restated else [])],
            ensure_ascii=False,
        ),
    )
