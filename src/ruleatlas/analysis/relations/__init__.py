"""Rules in relation (issue 14 §1–§3): canonical forms (`form`), sound implication between them
(`implication`), and the catalog-wide neighbours, equivalence classes and same-action groups
(`neighbours`)."""

from ruleatlas.analysis.relations.form import RuleForm, Term, rule_form
from ruleatlas.analysis.relations.implication import literal_implies, term_implies, terms_imply
from ruleatlas.analysis.relations.neighbours import Neighbour, Relations, relate

__all__ = [
    "Neighbour",
    "Relations",
    "RuleForm",
    "Term",
    "literal_implies",
    "relate",
    "rule_form",
    "term_implies",
    "terms_imply",
]
