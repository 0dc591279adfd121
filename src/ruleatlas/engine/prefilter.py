"""Prefilter: pick, cheaply and soundly, the rules worth matching against an event.

Two tests, both necessary conditions for a rule to match (so skipping a rule that fails one never loses a
match; tests compare prefiltered scans with full scans over real logs, house rule 8):

1. Literals: each compiled rule brings `required_literals`, case-folded strings at least one of which occurs
   in the case-folded text of every event the rule matches (None: no such guarantee). The event text is the
   concatenation of all its values in the text form string matchers compare (`values.scalar_text`: strings
   as they are, numbers as `str()`, booleans as true/false; lists and nested objects walked), folded the
   same way (`fold`, str.casefold, as the matchers). An Aho-Corasick automaton (literal_search.py) finds
   every literal present, in one pass over the text of the fields the candidate rules read, or over the
   whole text when one of them is a keyword search (which may read any field).
   A rule's further requirements (`CompiledRule.literal_groups` after the first: the other And
   children's) must each have a literal in the text too.
   A big automaton is not walked over the whole text (`FieldGroup`): each literal is searched only in the
   values of the fields its predicates read (`literal_sources`; a keyword's literal in every field), which
   holds it whenever the rule matches.
2. Fields: `required_fields(rule)` names fields at least one of which the event must have for the rule to
   match: a field that is absent fails every comparison except null, `exists` and negated ones (matchers.py),
   so a positive comparison requires its field. Events with the same field names (typically all events of
   one Channel/EventID) share the answer, cached by the tuple of names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from ruleatlas.engine.literal_search import LiteralSearch
from ruleatlas.engine.matchers import top_name
from ruleatlas.engine.requirements import pred_requirement
from ruleatlas.engine.values import scalar_text
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, Rule, walk_preds

# between values, so that a literal does not match across two values (only UTF-16 literals contain it:
# such a match adds a candidate, never loses one)
SEPARATOR = "\x00"
SIGNATURE_CACHE = 4096  # field-name signatures remembered per bucket (cleared when full)
# Plans whose automaton holds more than this many literals search field by field (`FieldGroup`): a big
# automaton walks text out of the CPU caches (Sysmon 1's ~11,700 literals: ~25 ns a character), so
# keeping it to the few fields its literals belong to saves more than the extra passes cost. The fields
# whose literals together stay within it share one automaton (a pass costs ~1 µs whatever its text).
SMALL_AUTOMATON = 2000

Requirement = frozenset[str] | None
# literal -> the event keys whose values hold it when a predicate requiring it holds; None: any key
Sources = dict[str, frozenset[str] | None]
# Value types whose str() is, once folded, the text matchers compare (`scalar_text`), or more (None gives
# "none", which scalar_text leaves out: extra text can only add candidates, never lose one).
_STR_TYPES = frozenset({str, int, float, bool, type(None)})
# Value types whose text holds only characters of "-0123456789" or "truefals": a literal made of other
# characters never occurs in it, so the text of such values is added only for an automaton with literals
# of that kind (`_LiteralSet.numeric`), which saves converting numbers to text for most events.
_WORDLESS_TYPES = frozenset({int, bool, type(None)})
_NUMERIC_CHARS = frozenset("-0123456789")


def _numeric(literals: Iterable[str]) -> bool:
    """Whether a literal could occur in the text of a number or a boolean (see _WORDLESS_TYPES)."""
    return any(
        set(literal) <= _NUMERIC_CHARS or literal in "true" or literal in "false" for literal in literals
    )


def fold(text: str) -> str:
    """The case folding shared with compile's `required_literals` and the matchers (str.casefold)."""
    return text.casefold()


def _walk(value: object, parts: list[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _walk(item, parts)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, parts)
    else:
        text = scalar_text(value)  # the very text string matchers compare
        if text is not None:
            parts.append(text)


def event_text(fields: dict[str, object]) -> str:
    """The case-folded text of every value of an event."""
    parts: list[str] = []
    append = parts.append
    for value in fields.values():
        kind = type(value)
        if kind is str:
            append(value)  # type: ignore[arg-type]
        elif kind is int:
            append(str(value))
        elif value is not None:
            _walk(value, parts)
    return fold(SEPARATOR.join(parts))


def values_text(values: Sequence[object]) -> str:
    """The case-folded text of `values` for the prefilter: `str()` of each joined when all are plain
    scalars (one C-level join), else the exact walk. It holds every text `event_text` would hold for
    them (and for None, "none"), so literal hits are never fewer."""
    if _STR_TYPES.issuperset(map(type, values)):
        return fold(SEPARATOR.join(map(str, values)))
    parts: list[str] = []
    for value in values:
        if value is not None:
            _walk(value, parts)
    return fold(SEPARATOR.join(parts))


def _getter(names: Sequence[str]) -> Callable[[Mapping[str, object]], Sequence[object]]:
    """A C-level getter of the values of `names` (always a sequence, also for one or no name)."""
    if len(names) >= 2:
        return itemgetter(*names)
    if len(names) == 1:
        name = names[0]
        return lambda fields: (fields[name],)
    return lambda fields: ()


Getter = Callable[[Mapping[str, object]], Sequence[object]]


def _split(fields: Mapping[str, object], names: Sequence[str]) -> tuple[Getter, Getter] | None:
    """Getters of the str-valued and the int/bool/None-valued fields among `names` (by their values in
    `fields`); None when another type (list, object, float) is among them."""
    texts = [name for name in names if type(fields[name]) is str]
    others = [name for name in names if type(fields[name]) is not str]
    if not _WORDLESS_TYPES.issuperset(type(fields[name]) for name in others):
        return None
    return _getter(texts), _getter(others)


def _split_text(split: tuple[Getter, Getter], fields: Mapping[str, object], numeric: bool) -> str | None:
    """The folded text of the str fields, and of the number, boolean and null fields when `numeric` (the
    automaton has literals that could occur in their text; `str()` of a null gives "none", which only adds
    text); None when a field holds another type this time than when the plan was made (the caller then
    builds the exact text)."""
    strings, wordless = split
    others = wordless(fields)
    if not _WORDLESS_TYPES.issuperset(map(type, others)):
        return None
    values = strings(fields)
    try:
        text = SEPARATOR.join(values)  # type: ignore[arg-type]
    except TypeError:  # a field that held text holds something else this time
        return None
    numbers = SEPARATOR.join(map(str, others)) if numeric and others else None
    if text.isascii():  # folded at C speed
        return (text if numbers is None else f"{text}{SEPARATOR}{numbers}").casefold()
    # casefold is per character, so folding value by value gives the same text; it keeps the slow
    # (non-ASCII) folding to the few values that need it, such as "Microsoft® Windows®" (str.casefold is
    # `fold`, called as the C method)
    text = SEPARATOR.join(map(str.casefold, values))  # type: ignore[arg-type]
    return text if numbers is None else f"{text}{SEPARATOR}{fold(numbers)}"


# --- required fields ------------------------------------------------------------------------------------


def _pred_fields(pred: Pred) -> Requirement:
    if pred.field is None or pred.kind in (Kind.EXISTS, Kind.NEQ) or "neq" in pred.transforms:
        return None
    if pred.kind is Kind.EQ and pred.value is None:
        return None  # `field: null` holds when the field is absent
    return frozenset({pred.field})


def required_fields(rule: Rule) -> Requirement:
    """Fields at least one of which an event must have for `rule` to match; None when there is no such set.

    Walks the condition through its search identifiers: All takes the child with the fewest alternatives,
    Any the union of its children (None if one has none), Not gives None.
    """
    conditions = [stage for stage in rule.stages if stage.op == "condition"]
    if not conditions or conditions[0].expr is None:
        return None
    searches = {stage.label: stage.expr for stage in rule.stages if stage.op == "search"}
    memo: dict[str, Requirement] = {}

    def walk(expr: Expr, active: frozenset[str]) -> Requirement:
        if isinstance(expr, Pred):
            return _pred_fields(expr)
        if isinstance(expr, Not):
            return None
        if isinstance(expr, Ref):
            if expr.name in memo:
                return memo[expr.name]
            target = searches.get(expr.name)
            if target is None or expr.name in active:
                return None
            memo[expr.name] = found = walk(target, active | {expr.name})
            return found
        if isinstance(expr, All):
            options = [r for r in (walk(item, active) for item in expr.items) if r]
            return min(options, key=lambda r: (len(r), sorted(r))) if options else None
        if isinstance(expr, Any):
            union: set[str] = set()
            for item in expr.items:
                found = walk(item, active)
                if not found:
                    return None
                union |= found
            return frozenset(union) if union else None
        return None

    return walk(conditions[0].expr, frozenset())


def literal_sources(rule: Rule) -> Sources:
    """Where each literal a predicate of `rule` requires (`pred_requirement`, from which every literal of
    `CompiledRule.literal_groups` comes) occurs when that predicate holds: in the value of its field, read
    by its name or, for a dotted or indexed name, from its top key (`matchers.lookup`); gathered over every
    predicate requiring it; None when a keyword predicate (any field) requires it.

    So if the rule matches, each of its literal groups has a literal in the text of one of that literal's
    keys: searching a literal in those keys' values only loses no candidate.
    """
    found: dict[str, set[str] | None] = {}
    for stage in rule.stages:
        if stage.op not in ("search", "condition") or stage.expr is None:
            continue
        for pred, _negated in walk_preds(stage.expr):
            requirement = pred_requirement(pred)
            for literal in requirement or ():
                if pred.field is None:
                    found[literal] = None
                elif (names := found.setdefault(literal, set())) is not None:
                    names.add(pred.field)
                    names.add(top_name(pred.field))
    return {literal: None if names is None else frozenset(names) for literal, names in found.items()}


def has_any_field(fields: Mapping[str, object], names: frozenset[str]) -> bool:
    """Whether the event has one of `names` (a dotted name counts when its top object is there)."""
    return any(name in fields or top_name(name) in fields for name in names)


def read_fields(matcher: object) -> frozenset[str] | None:
    """The fields a compiled matcher reads (dotted names also by their top object); None: it may read any.

    A sound literal requirement holds within the values of the fields its rule reads (values the rule does
    not read cannot decide a match), so the event text for a set of rules may leave the other fields out.
    """
    from ruleatlas.engine.matchers import AllOf, AnyOf, Const, FieldMatcher, NotOf

    found: set[str] = set()
    stack = [matcher]
    while stack:
        node = stack.pop()
        if isinstance(node, AllOf | AnyOf):
            stack.extend(node.children)
        elif isinstance(node, NotOf):
            stack.append(node.child)
        elif isinstance(node, FieldMatcher):
            for name, _path in node.fields_read():  # every field it reads (fieldref: both)
                found.add(name)
                found.add(top_name(name))
        elif not isinstance(node, Const):  # a keyword search, or a matcher unknown here: may read anything
            return None
    return frozenset(found)


@dataclass(slots=True)
class RuleFacts:
    """Per rule (by index): required literals, required fields, the fields its matcher reads, its
    further literal requirements (`CompiledRule.literal_groups` after the first: each must hold too), and
    where its literals occur (`literal_sources`; None: anywhere)."""

    literals: list[Requirement]
    fields: list[Requirement]
    reads: list[frozenset[str] | None]
    more_literals: list[tuple[frozenset[str], ...]] | None = None
    sources: list[Sources] | None = None

    def all_literals(self, rule_id: int) -> list[str]:
        """Every literal of the rule's requirements (its first and its further ones)."""
        found = [literal for literal in self.literals[rule_id] or () if literal]
        for group in self.more_literals[rule_id] if self.more_literals is not None else ():
            if group and all(group):
                found.extend(group)
        return found


class _LiteralSet:
    """One automaton over the literals of a set of rules, and the rules of each literal.

    A rule with further requirements (`RuleFacts.more_literals`) stays a candidate only if each of them
    has a literal in the text too; their literals are in the automaton, with no rule of their own.
    """

    __slots__ = ("_search", "checked", "checks", "numeric", "rules_of")

    def __init__(self, rule_ids: Sequence[int], facts: RuleFacts) -> None:
        rules_of: dict[str, list[int]] = {}
        checks: dict[int, tuple[frozenset[str], ...]] = {}
        more = facts.more_literals
        for rule_id in rule_ids:
            for literal in facts.literals[rule_id] or ():
                if literal:
                    rules_of.setdefault(literal, []).append(rule_id)
            groups = [group for group in (more[rule_id] if more is not None else ()) if group and all(group)]
            if groups:
                for group in groups:
                    for literal in group:
                        rules_of.setdefault(literal, [])
                checks[rule_id] = tuple(groups)
        # the automata get these very literal objects and give them back when found: their hashes are known
        self.rules_of = {literal: tuple(rules) for literal, rules in rules_of.items()}
        self._search: LiteralSearch | None = None  # built when first needed (not by field-split plans)
        self.checks = checks
        self.checked = frozenset(checks)
        self.numeric = _numeric(rules_of)

    @property
    def search(self) -> LiteralSearch:
        """One automaton of all the literals."""
        if self._search is None:
            self._search = LiteralSearch(list(self.rules_of))
        return self._search

    def hits(self, text: str) -> set[int]:
        """The rules with a literal in `text` that meet their further requirements there too."""
        search = self._search if self._search is not None else self.search
        return self.hits_of(set(search.occurrences(text)))

    def hits_of(self, found: set[str]) -> set[int]:
        """The rules with a literal in `found` that meet their further requirements there too."""
        if not found:
            return set()
        rules: set[int] = set().union(*map(self.rules_of.__getitem__, found))
        if self.checked and not self.checked.isdisjoint(rules):
            self._drop_unmet(rules, found)
        return rules

    def _drop_unmet(self, rules: set[int], found: set[str]) -> None:
        """Drop from `rules` those with a further requirement none of whose literals is in `found`."""
        for rule_id in rules & self.checked:
            for group in self.checks[rule_id]:
                if found.isdisjoint(group):
                    rules.discard(rule_id)
                    break


class LiteralSets:
    """Automata shared between buckets, keyed by their rule sets, and the automata of field-split plans,
    keyed by their literals (the least recently built dropped first)."""

    def __init__(self, facts: RuleFacts | Sequence[Requirement], limit: int = 256) -> None:
        if not isinstance(facts, RuleFacts):  # literals only
            facts = RuleFacts(list(facts), [None] * len(facts), [None] * len(facts))
        self.facts = facts
        self.limit = limit
        self._sets: dict[frozenset[int], _LiteralSet] = {}
        self._searches: dict[frozenset[str], LiteralSearch] = {}

    def search(self, literals: frozenset[str], order: Mapping[str, object]) -> LiteralSearch:
        """An automaton of `literals` (given as the keys of `order`: the same objects, in its order)."""
        found = self._searches.get(literals)
        if found is None:
            found = LiteralSearch([literal for literal in order if literal in literals])
            if len(self._searches) >= self.limit:
                self._searches.pop(next(iter(self._searches)))
            self._searches[literals] = found
        return found

    def get(self, rule_ids: frozenset[int]) -> _LiteralSet:
        found = self._sets.get(rule_ids)
        if found is None:
            found = _LiteralSet(sorted(rule_ids), self.facts)
            if len(self._sets) >= self.limit:
                self._sets.pop(next(iter(self._sets)))
            self._sets[rule_ids] = found
        return found


@dataclass(slots=True)
class FieldGroup:
    """Fields of an event searched together for the same literals (those of their values' rules)."""

    search: LiteralSearch
    values: Getter  # the values of these fields, in event order
    split: tuple[Getter, Getter] | None  # as Plan.split, for these fields
    numeric: bool  # whether a literal could occur in the text of a number or boolean


@dataclass(slots=True)
class Plan:
    """What to do for events of one bucket with one field-name signature."""

    always: tuple[int, ...]  # candidates whatever the text (no literal requirement), fields present
    # the automaton of the literals of the other rules whose required fields such events have (None: none)
    literal_set: _LiteralSet | None
    values: Getter  # the values of the fields it searches, in event order (a C getter)
    # The same fields split by the type their values had when the plan was made: text (str) fields, and
    # numbers, booleans and nulls (whose text is added only when the automaton has literals that could be
    # in it). None: other types.
    split: tuple[Getter, Getter] | None = None
    # a big automaton's search split by field (FIELD_SPLIT_LITERALS): groups of fields with their own
    # automata, in place of `values`/`split` and the literal set's one automaton
    groups: tuple[FieldGroup, ...] | None = None


class Prefilter:
    """The candidates among the rules of one route bucket (by index), per event."""

    __slots__ = (
        "_by_field",
        "_facts",
        "_free",
        "_keyword",
        "_plans",
        "_searchable",
        "_sets",
        "always",
        "rule_ids",
    )

    def __init__(self, rule_ids: Sequence[int], facts: RuleFacts, sets: LiteralSets) -> None:
        self.rule_ids = tuple(sorted(rule_ids))
        self._facts = facts
        self._sets = sets
        literals = facts.literals
        self.always = tuple(i for i in self.rule_ids if not literals[i] or "" in literals[i])  # type: ignore[operator]
        always = set(self.always)
        self._searchable = frozenset(i for i in self.rule_ids if i not in always)
        # for `_make_plan`: the rules with no required field, the rules each field name lets through (a
        # dotted name also by its top object, as `has_any_field`), and the rules that may read any field
        self._free = frozenset(i for i in self.rule_ids if facts.fields[i] is None)
        by_field: dict[str, set[int]] = {}
        for i in self.rule_ids:
            for name in facts.fields[i] or ():
                by_field.setdefault(name, set()).add(i)
                top = top_name(name)
                if top != name:
                    by_field.setdefault(top, set()).add(i)
        self._by_field = {name: frozenset(rules) for name, rules in by_field.items()}
        self._keyword = frozenset(i for i in self.rule_ids if facts.reads[i] is None)
        self._plans: dict[tuple[str, ...], Plan] = {}

    def plan(self, fields: Mapping[str, object]) -> Plan:
        """The plan for events with the field names of `fields` (cached by the names, in order)."""
        signature = tuple(fields)
        plan = self._plans.get(signature)
        if plan is None:
            plan = self._make_plan(fields)
            if len(self._plans) >= SIGNATURE_CACHE:
                self._plans.clear()
            self._plans[signature] = plan
        return plan

    def _make_plan(self, fields: Mapping[str, object]) -> Plan:
        """The rules whose required fields the event has, one automaton of their literals, and its text.

        The text is the values of the fields those rules read, or of every field when one of them may
        read any (a keyword search). Searching more text than a rule reads only adds candidates, so one
        pass over the whole text serves keyword and field rules together.
        """
        possible = set(self._free)
        by_field = self._by_field
        for name in fields:
            rules = by_field.get(name)
            if rules is not None:
                possible |= rules
        searched = frozenset(possible & self._searchable)
        if searched.isdisjoint(self._keyword):
            all_reads = self._facts.reads
            reads: set[str] = set()
            for i in searched:
                reads |= all_reads[i]  # type: ignore[arg-type]
            text_fields = tuple(name for name in fields if name in reads)
        else:
            text_fields = tuple(fields)
        literal_set = self._sets.get(searched) if searched else None
        groups = None
        if (
            literal_set is not None
            and self._facts.sources is not None
            and len(literal_set.rules_of) > SMALL_AUTOMATON
        ):
            groups = self._field_groups(searched, literal_set, fields, text_fields)
        return Plan(
            always=tuple(sorted(possible - self._searchable)),
            literal_set=literal_set,
            values=_getter(text_fields),
            split=_split(fields, text_fields),
            groups=groups,
        )

    def _field_groups(
        self,
        searched: frozenset[int],
        literal_set: _LiteralSet,
        fields: Mapping[str, object],
        text_fields: tuple[str, ...],
    ) -> tuple[FieldGroup, ...]:
        """The text fields grouped by the literals to search in them: those whose sources (over the
        searched rules, `literal_sources`) include the field, and those that may be anywhere. A literal
        whose fields the event lacks is searched nowhere: no predicate requiring it can hold."""
        facts = self._facts
        sources = facts.sources
        assert sources is not None
        anywhere: set[str] = set()
        per_field: dict[str, set[str]] = {name: set() for name in text_fields}
        for rule_id in searched:
            rule_sources = sources[rule_id]
            for literal in facts.all_literals(rule_id):
                keys = rule_sources.get(literal)
                if keys is None:  # a keyword's, or of no known predicate: anywhere
                    anywhere.add(literal)
                    continue
                for name in keys:
                    found = per_field.get(name)
                    if found is not None:
                        found.add(literal)
        by_literals: dict[frozenset[str], list[str]] = {}
        for name in text_fields:
            literals = frozenset(per_field[name] | anywhere)
            if literals:
                by_literals.setdefault(literals, []).append(name)
        # fields with few literals share one automaton of them all (as long as it stays small); fields
        # with many keep theirs (searching more literals in a field than its own only adds candidates)
        shared: set[str] = set()
        shared_names: list[str] = []
        alone: list[tuple[frozenset[str], list[str]]] = []
        for literals, names in sorted(by_literals.items(), key=lambda item: len(item[0])):
            if len(shared | literals) <= SMALL_AUTOMATON:
                shared |= literals
                shared_names += names
            else:
                alone.append((literals, names))
        if shared:
            position = {name: n for n, name in enumerate(text_fields)}
            alone.insert(0, (frozenset(shared), sorted(shared_names, key=position.__getitem__)))
        groups: list[FieldGroup] = []
        for literals, names in alone:  # smallest automaton first (the order does not change the result)
            groups.append(
                FieldGroup(
                    search=self._sets.search(literals, literal_set.rules_of),
                    values=_getter(names),
                    split=_split(fields, names),
                    numeric=_numeric(literals),
                )
            )
        return tuple(groups)

    def candidates(self, fields: dict[str, object]) -> list[int]:
        """Rule indexes to test, ascending."""
        return self.select(self.plan(fields), fields)

    def select(self, plan: Plan, fields: Mapping[str, object]) -> list[int]:
        """The candidates of an event whose plan is `plan`: one automaton pass over its text."""
        literal_set = plan.literal_set
        if literal_set is None:
            return list(plan.always)
        if plan.groups is not None:
            found: list[str] = []
            for group in plan.groups:
                split = group.split
                text = _split_text(split, fields, group.numeric) if split is not None else None
                if text is None:  # the exact text (a value of another type this time)
                    text = values_text(group.values(fields))
                found += group.search.occurrences(text)
            hits = literal_set.hits_of(set(found))
            if not hits:
                return list(plan.always)
            if plan.always:
                hits.update(plan.always)
            return sorted(hits)
        text = _split_text(plan.split, fields, literal_set.numeric) if plan.split is not None else None
        if text is None:  # the exact text (a value of another type this time)
            text = values_text(plan.values(fields))
        hits = literal_set.hits(text)
        if not hits:
            return list(plan.always)
        if plan.always:
            hits.update(plan.always)
        return sorted(hits)

    def without_prefilter(self) -> list[int]:
        return list(self.rule_ids)
