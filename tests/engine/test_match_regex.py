"""The regex guard: every pattern runs in bounded time, with the answers of re.search.

Patterns with unbounded repeats or nested quantifiers run on RE2 (rewritten with Python's meaning) or on
the pure-Python linear matcher; the others on `re`."""

from __future__ import annotations

import random
import re
import re._parser as sre_parse

import pytest
from match_support import one_pred_rule, pred

from ruleatlas.engine import compile_rules
from ruleatlas.engine.regex_guard import (
    LinearRegex,
    RegexError,
    compile_search,
    has_nested_quantifiers,
)
from ruleatlas.engine.regex_re2 import Re2Search, translate

# The pattern of SigmaHQ rules/windows/process_creation/proc_creation_win_hktl_invoke_obfuscation_var.yml
INVOKE_OBFUSCATION_VAR = (
    r'cmd.{0,5}(?:/c|/r)(?:\s|)"set\s[a-zA-Z]{3,6}.*(?:\{\d\}){1,}\\"\s+?-f(?:.*\)){1,}.*"'
)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",
        r"(a*)*b",
        r"(?:.*\)){1,}",
        r"(ab|a)*c",
        r"(\w+\s?)+$",
        r"(a?){30}a{30}",
        r"((ab)+c)+",
        r"(x{2,5})+",
        INVOKE_OBFUSCATION_VAR,
    ],
)
def test_nested_quantifiers_are_detected(pattern: str) -> None:
    assert has_nested_quantifiers(list(sre_parse.parse(pattern)))
    _search, guarded = compile_search(pattern)
    assert guarded


@pytest.mark.parametrize(
    ("pattern", "linear"),
    [
        (r"a+b+", True),
        (r"(?:0[0-9]{1,11}\.){3}", False),
        (r"([0-9a-fA-F]{2}\s?){2,20}", False),
        (r"(a|b)*c", True),
        (r"\+.*\+.*\+.*\+", True),
        (r"^C:\\Users\\[^\\]+\\NTUSER\.DAT$", True),
        (r"(?:\s-[^-\s]{0,20}i|\s--inode\s)", False),
        (r"(abc)+", True),
        (r"(?i)x(y|z)w", False),
    ],
)
def test_patterns_without_nesting_run_on_re_when_bounded_else_linear(pattern: str, linear: bool) -> None:
    assert not has_nested_quantifiers(list(sre_parse.parse(pattern)))
    search, guarded = compile_search(pattern)
    assert guarded is linear  # an unbounded repeat: RE2, whose time is linear in the text
    texts = ["", "aab", "ab", "0123456789.", "C:\\Users\\x\\NTUSER.DAT", " -abci", "abcabc", "XyW", "+a+b+c+"]
    for text in texts:  # `re` itself, behind literal gates that change no answer
        assert bool(search(text)) == bool(re.compile(pattern).search(text)), (pattern, text)


def test_gate_skips_re_when_a_required_literal_is_missing() -> None:
    search, _ = compile_search(r"\w+`(?:\w+|-|.)`[\w+|\s]")
    assert search("IN`V`oke") and not search("a" * 5000)
    search, _ = compile_search(r"(?i)MIMI")  # case-insensitive: no gate
    assert search("mimikatz")


def test_gate_counts_a_literal_the_pattern_needs_several_times() -> None:
    """SigmaHQ's PowerShell obfuscation rule: 14 "+" with `.*` between; `re` takes milliseconds to fail
    on a command line with 13, the count gate does not start it. The answers stay those of `re`."""
    pattern = r"\+.*" * 13 + r"\+"
    search, guarded = compile_search(pattern)
    assert guarded  # RE2, behind the same gate
    for text in ("+" * 14, "a+" * 14, "+" * 13 + "x" * 200, "++\n" + "+" * 12, "x+" * 20):
        assert bool(search(text)) == bool(re.search(pattern, text)), text
    search, _ = compile_search(r"ab(?:ab)x")  # "ab" twice, disjoint
    assert search("zababx") and not search("abx") and not search("abab")


def test_catastrophic_pattern_answers_on_a_near_miss() -> None:
    """`re` would backtrack 2**50 times here; the guarded matcher walks the text once."""
    search, guarded = compile_search(r"(a+)+$")
    assert guarded
    assert not search("a" * 50 + "!")
    assert not search("a" * 20_000 + "!")
    assert search("a" * 50)


def test_sigmahq_invoke_obfuscation_regex_is_guarded_and_correct() -> None:
    search, guarded = compile_search(INVOKE_OBFUSCATION_VAR)
    assert guarded
    assert search('cmd /c"set abc=x {0}\\" -f a) b"')
    assert not search('cmd /c"set abc {0}\\" -f' + ")" * 40)  # re needs minutes for this one
    assert not search("powershell -nop")


USE_CLIP = r"(?i)echo.*clip.*&&.*(?:Clipboard|i`?n`?v`?o`?k`?e`?)"  # the stock rule of S1, below


def test_sigmahq_use_clip_regex_answers_on_a_32_kb_command_line() -> None:
    """`re` backtracked 24 s on 2.2 KB of `echo clip&&` (and over 60 s on 4.4 KB); RE2 walks it once."""
    search, guarded = compile_search(USE_CLIP)
    assert guarded
    hostile = "cmd /c " + "echo clip&&" * 3000  # 33 KB: a Windows command line's maximum
    assert not search(hostile)
    assert search(hostile + "Clipboard") and search("echo x | clip && i`n`v`o`k`e")
    assert not search("echo clip")


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r".*a.*a.*a.*a.*a.*b", "b" + "a" * 20_000),  # S1's synthetic case: 35 s in `re` at 100 'a'
        (r"(?i)(?:set).*&&\s?set.*(?:environment|invoke|input).*&&.*\"", "set x&&" * 3000),
        (r"\w+x", "a" * 50_000),
        (r"(\w+\s?)+$", "word " * 5000 + "!"),
        (r"(a|aa)+$", "a" * 30_000 + "!"),
        (r"^(.*?,){11}P", "1," * 20_000),
    ],
)
def test_generated_worst_cases_answer_like_re_on_short_text(pattern: str, text: str) -> None:
    """Each of these keeps `re` busy for minutes to days; here each answers (the test would hang)."""
    search, guarded = compile_search(pattern)
    assert guarded
    assert not search(text)
    short = text[:12]  # where `re` is still quick, both agree
    assert bool(search(short)) == bool(re.search(pattern, short))


RE2_PATTERNS = [
    r"a+b+",
    r"(?i)echo.*clip",
    r"\d+\.\d+",
    r"\w+\s+\W",
    r"[\W\d]+x",
    r"[^\W]+y",
    r"a.*$",
    r"(?m)^b.*$",
    r"(?s)a.*c",
    r"(?a)\w+\s*\d+",
    r"\Aab.*|c+\Z",
    r"(?i)[a-cé]+Q",
    r"(?i:AB)+c",
    r"x*?y+?",
]
RE2_ALPHABET = "abcxyQ \n\t,._0192éÉ\u00a0\u2003٣ⅻ"


@pytest.mark.parametrize("pattern", RE2_PATTERNS)
def test_re2_agrees_with_re(pattern: str) -> None:
    _, guarded = compile_search(pattern)
    assert guarded
    parsed = sre_parse.parse(pattern)
    search = Re2Search(translate(parsed, parsed.state.flags))  # RE2 itself (short values go to `re`)
    reference = re.compile(pattern)
    rng = random.Random(pattern)
    for _ in range(1500):
        text = "".join(rng.choice(RE2_ALPHABET) for _ in range(rng.randint(0, 14)))
        assert bool(search(text)) == bool(reference.search(text)), (pattern, text)


def test_a_lone_surrogate_in_the_text_is_searched_not_raised() -> None:
    search, _ = compile_search(r"a.*b")
    padding = "x" * 1000  # long enough for RE2
    assert search("a\ud800b" + padding) and not search("\ud800" + padding)


def test_short_values_run_on_re_and_long_ones_on_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    import ruleatlas.engine.regex_guard as guard

    assert guard.unbounded_repeats(list(sre_parse.parse(USE_CLIP))) == 3
    calls: list[str] = []
    real = guard.Re2Search

    def counting(translated: str) -> object:
        engine = real(translated)
        return lambda text: calls.append(text) or engine(text)

    monkeypatch.setattr(guard, "Re2Search", counting)
    search, _ = compile_search(r"a.*b")  # one repeat: `re` up to sqrt(RE_STEP_BUDGET) characters
    limit = int(guard.RE_STEP_BUDGET**0.5)
    assert search("a" + "x" * (limit - 2) + "b") and calls == []
    assert search("a" + "x" * limit + "b") and len(calls) == 1


def test_patterns_re2_cannot_spell_run_on_the_linear_matcher() -> None:
    for pattern in (r"\bcmd.*\b", r"a$b*", r"[^\W_]+y"):  # Unicode \b; `$` before more; class minus
        search, guarded = compile_search(pattern)
        assert guarded
        for text in ("écmd x", "cmd x", "a", "a\n", "ab"):
            assert bool(search(text)) == bool(re.search(pattern, text)), (pattern, text)


def test_unbounded_pattern_with_a_lookahead_searches_a_bounded_text() -> None:
    search, guarded = compile_search(r"a.*(?=b)")
    assert not guarded
    assert search("xab") and not search("a" * 10_000 + "b")  # beyond BACKTRACK_TEXT: not searched


def test_guarded_rule_end_to_end() -> None:
    rule = compile_rules([one_pred_rule(pred("F", "regex", r"(a+)+$"))]).rules[0]
    assert not rule.match({"F": "a" * 50 + "!"}) and rule.match({"F": "xaa"})


PATTERNS = [
    r"(a+)+$",
    r"(ab|a)*c",
    r"^(a|b)*?c{2,3}$",
    r"(?i)(x+y)+Z",
    r"\b(ab)+\b",
    r"(?m)^a(b|c)+$",
    r"(?s)a.(b.)*c",
    r"[^a-c\d]+(d|e)*",
    r"(?:0[0-9]{1,11}\.){3}0",
    INVOKE_OBFUSCATION_VAR,
    r"a{2,5}(b?){3}",
    r"(\w+\s?)+$",
    r"(a|)+b",
    r"a$",
    r"\Ba+\B",
    r"(?i)[a-c]+Q",
    r"\Aab|c\Z",
    r"(\s|x)+\S",
    r"(?a)\w+\W",
    r"(?i:AB)+c",
]
ALPHABET = 'abcxyzQ \n{}0)"-/fsetABC_\\é'


@pytest.mark.parametrize("pattern", PATTERNS)
def test_linear_matcher_agrees_with_re(pattern: str) -> None:
    parsed = sre_parse.parse(pattern)
    linear = LinearRegex(parsed, parsed.state.flags)
    reference = re.compile(pattern)
    rng = random.Random(pattern)
    for _ in range(1500):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 16)))
        assert linear.search(text) == bool(reference.search(text)), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(a+)+\1", "groupref"),
        (r"(a+)+(?=b)", "assert"),
        (r"(a{1,1000}){1,1000}", "too large"),
    ],
)
def test_nested_pattern_with_unsupported_construct_is_refused(pattern: str, words: str) -> None:
    with pytest.raises(RegexError, match=words):
        compile_search(pattern)


def test_regex_flags() -> None:
    search, _ = compile_search("^b$", "m")
    assert search("a\nb")
    with pytest.raises(RegexError, match="unknown regular expression flag 'x'"):
        compile_search("a", "x")


def test_linear_matcher_stays_right_when_its_transition_cache_starts_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ruleatlas.engine.regex_guard as guard

    monkeypatch.setattr(guard, "_TRANSITION_CACHE", 3)
    pattern = r"(ab|a)*c"
    parsed = sre_parse.parse(pattern)
    linear = LinearRegex(parsed, parsed.state.flags)
    reference = re.compile(pattern)
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice("abcx") for _ in range(rng.randint(0, 20)))
        assert linear.search(text) == bool(reference.search(text)), text


@pytest.mark.parametrize(
    "pattern",
    [
        r".{1000,}",  # SigmaHQ's "Unusually Long PowerShell CommandLine"
        r"(?s).{20,}x",
        r"a{5}(?:bc|d)+",
        r"(?=abc)abc.*\d{3}",
        r"(?i)[a-z]{8,}\\x?",
        r"^.{2}$",
        r"x|",
    ],
)
def test_length_gate_answers_like_re_around_the_shortest_match(pattern: str) -> None:
    """A text shorter than the shortest match is refused by its length alone; at and above it, and for
    every engine the pattern runs on, the answers stay those of re.search."""
    search, _ = compile_search(pattern)
    shortest = sre_parse.parse(pattern).getwidth()[0]
    reference = re.compile(pattern)
    rng = random.Random(pattern)
    for length in {0, 1, max(shortest - 1, 0), shortest, shortest + 1, shortest + 7, 2 * shortest + 3}:
        for _ in range(40):
            text = "".join(rng.choice("abcdx\\\n19AZ") for _ in range(length))
            assert bool(search(text)) == bool(reference.search(text)), (pattern, length, text)
    if pattern == r".{1000,}":  # a newline-free command line: refused at 999 characters, found at 1000
        assert not search("a" * 999) and search("a" * 1000) and search("b\n" + "a" * 1000)
