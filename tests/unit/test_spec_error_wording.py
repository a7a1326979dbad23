"""Spec errors speak the tool's language: no pydantic or PyYAML wording reaches the user, every
message keeps its file:line:column and field, values YAML read as numbers, dates or booleans
come with the fix (quote them), and typos suggest the closest key or value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.test_spec import only_problem, problems_of
from turnstile_sync.models import Spec
from turnstile_sync.spec_messages import PYDANTIC_MESSAGES
from turnstile_sync.suggestions import closest, did_you_mean

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"


def widget(*lines: str) -> str:
    return "widgets:\n  - name: a\n" + "".join(f"    {line}\n" for line in lines)


# (pydantic error type, spec text, expected start "file:line:col: field:", expected words)
PYDANTIC_CASES = [
    (
        "tuple_type",
        widget("domains: example.com"),
        "spec.yaml:3:5: widgets[0] (a).domains:",
        "expected a list of hostnames, got one value; write it as a list: domains: ['example.com']",
    ),
    (
        "tuple_type",
        "protected: checkout\n",
        "spec.yaml:1:1: protected:",
        "write it as a list: protected: ['checkout']",
    ),
    (
        "tuple_type",
        "ignore: legacy-*\n",
        "spec.yaml:1:1: ignore:",
        "expected a list of glob patterns of widget names, got one value; write it as a list: "
        "ignore: ['legacy-*']",
    ),
    (
        "tuple_type",
        "protected:\n",
        "spec.yaml:1:1: protected:",
        "is empty; expected a list of widget names, sitekeys or glob patterns",
    ),
    (
        "tuple_type",
        "widgets:\n  name: a\n",
        "spec.yaml:1:1: widgets:",
        "expected a list of widgets, each starting '- name:', got a mapping",
    ),
    (
        "string_type",
        "account_id: 12345678901234567890123456789012\n",
        "spec.yaml:1:1: account_id:",
        "YAML read 12345678901234567890123456789012 as a number; put it in quotes to make it "
        "text: account_id: '12345678901234567890123456789012'",
    ),
    (
        "string_type",
        "widgets:\n  - name: 0x4AAAAAAA\n",
        "spec.yaml:2:5: widgets[0].name:",
        "YAML read 0x4AAAAAAA as a number (1252698794); put it in quotes to make it text: "
        "name: '0x4AAAAAAA'",
    ),
    (
        "string_type",
        widget("sitekey: 0x4AAAAAAA"),
        "spec.yaml:3:5: widgets[0] (a).sitekey:",
        "expected a sitekey as text, but YAML read 0x4AAAAAAA as a number (1252698794); put "
        "it in quotes to make it text: sitekey: '0x4AAAAAAA'",
    ),
    (
        "string_type",
        "widgets:\n  - name: 2024-01-01\n",
        "spec.yaml:2:5: widgets[0].name:",
        "YAML read 2024-01-01 as a date; put it in quotes to make it text: name: '2024-01-01'",
    ),
    (
        "string_type",
        "widgets:\n  - name: yes\n",
        "spec.yaml:2:5: widgets[0].name:",
        "YAML read yes as true/false (True); put it in quotes to make it text: name: 'yes'",
    ),
    (
        "string_type",
        widget("domains: [example.com, 8080]"),
        "spec.yaml:3:28: widgets[0] (a).domains[1]:",
        "expected a hostname as text, but YAML read 8080 as a number; put it in quotes to "
        "make it text: '8080'",
    ),
    (
        "string_type",
        "widgets:\n  - name:\n",
        "spec.yaml:2:5: widgets[0].name:",
        "expected a widget name, got nothing (an empty value)",
    ),
    ("bool_type", "prune: 1\n", "spec.yaml:1:1: prune:", "expected true or false, got 1"),
    (
        "bool_type",
        "prune: 'false'\n",
        "spec.yaml:1:1: prune:",
        "expected true or false without quotes, got the text 'false'",
    ),
    (
        "int_type",
        "max_deletes: two\n",
        "spec.yaml:1:1: max_deletes:",
        "expected a whole number, got 'two'",
    ),
    (
        "enum",
        widget("mode: manged"),
        "spec.yaml:3:5: widgets[0] (a).mode:",
        "unknown mode 'manged'; did you mean 'managed'? (one of 'non-interactive', "
        "'invisible' or 'managed')",
    ),
    (
        "enum",
        "defaults:\n  region: 1\n",
        "spec.yaml:2:3: defaults.region:",
        "expected one of 'world' or 'china', got 1",
    ),
    (
        "model_type",
        "widgets:\n  - checkout\n",
        "spec.yaml:2:5: widgets[0]:",
        "expected a widget (a mapping such as 'name: checkout'",
    ),
    (
        "model_type",
        "defaults: [mode]\n",
        "spec.yaml:1:1: defaults:",
        "expected a mapping of settings (key: value lines), got a list",
    ),
    (
        "greater_than_equal",
        "max_deletes: -1\n",
        "spec.yaml:1:1: max_deletes:",
        "must be at least 0, got -1",
    ),
    (
        "less_than_equal",
        "max_domains_per_widget: 500\n",
        "spec.yaml:1:1: max_domains_per_widget:",
        "must be at most 200, got 500",
    ),
    ("string_too_short", "widgets:\n  - name: ''\n", "spec.yaml:2:5:", "must not be empty"),
    (
        "string_too_long",
        f"widgets:\n  - name: {'n' * 300}\n",
        "spec.yaml:2:5:",
        "is 300 characters long; at most 254 are allowed",
    ),
    (
        "string_pattern_mismatch",
        widget("sitekey: abc"),
        "spec.yaml:3:5: widgets[0] (a).sitekey:",
        "'abc' is not a sitekey: a sitekey is '0x' and up to 30 letters",
    ),
    (
        "missing",
        "widgets:\n  - mode: managed\n",
        "spec.yaml:2:5: widgets[0].name:",
        "this field is required",
    ),
    (
        "value_error",
        "account_id: xyz\n",
        "spec.yaml:1:1: account_id:",
        "'xyz' is not an account id (32 lower-case hex characters)",
    ),
]
LIBRARY_WORDS = ("Input should", "valid tuple", "valid string", "instance of", "String should")


@pytest.mark.parametrize(
    ("kind", "text", "where", "words"),
    PYDANTIC_CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(PYDANTIC_CASES)],
)
def test_each_validation_error_is_worded_for_people(kind, text, where, words):
    problem = only_problem(text)
    assert problem.startswith(where + " "), problem
    assert words in problem
    assert not any(library in problem for library in LIBRARY_WORDS), problem


def test_the_cases_cover_every_error_type_the_table_words():
    assert {case[0] for case in PYDANTIC_CASES} == set(PYDANTIC_MESSAGES)


def _pydantic_types(text: str) -> set[str]:
    import yaml

    try:
        Spec.model_validate(yaml.safe_load(text))
    except ValidationError as error:
        return {item["type"] for item in error.errors()}
    return set()


@pytest.mark.parametrize(("kind", "text", "where", "words"), PYDANTIC_CASES)
def test_each_case_meets_the_error_type_it_is_named_after(kind, text, where, words):
    """The table is exercised for real: each case makes pydantic raise that very type."""
    assert kind in _pydantic_types(text)


MISTAKES = [
    "account_id: 0123\n",
    "prune: maybe\nmax_deletes: 1.5\nignore: {a: 1}\n",
    "widgets:\n  - name: [a]\n    mode: [managed]\n    domains: [[a.com]]\n",
    "widgets:\n  - name: a\n    bot_fight_mode: 'on'\n    protect: 0\n    sitekey: 12\n",
    "defaults: x\nwidgets: x\n",
    "protected: [1, true, ~]\nmax_domains_per_widget: 0\n",
    "widgets:\n  - {name: a, region: 2, clearance_level: ~high}\n",
    "widgets:\n  - name: 1e3\n  - name: .inf\n  - name: 12:30:00\n  - name: 2024-01-01 10:00:00\n",
]


@pytest.mark.parametrize("text", MISTAKES)
def test_no_library_wording_for_common_mistakes(text):
    for problem in problems_of(text):
        assert not any(library in problem for library in LIBRARY_WORDS), problem
        assert problem.startswith("spec.yaml:")


def test_an_octal_looking_account_id_is_quoted_as_written():
    """YAML 1.1 reads 0-leading digits as octal: the message shows what the file says."""
    problem = only_problem("account_id: 01234567012345670123456701234567\n")
    assert "put it in quotes to make it text: account_id: '01234567012345670123456701234567'" in (
        problem
    )


# Did you mean


@pytest.mark.parametrize(
    ("text", "where", "suggestion"),
    [
        ("ignroe: [a]\n", "spec.yaml:1:1: ignroe:", "'ignore'"),
        (widget("doamins: [a.com]"), "spec.yaml:3:5: widgets[0] (a).doamins:", "'domains'"),
        ("defaults:\n  mdoe: managed\n", "spec.yaml:2:3: defaults.mdoe:", "'mode'"),
        ("widget:\n  - name: a\n", "spec.yaml:1:1: widget:", "'widgets'"),
        (widget("Protect: true"), "spec.yaml:3:5: widgets[0] (a).Protect:", "'protect'"),
    ],
)
def test_unknown_keys_suggest_the_closest_allowed_key(text, where, suggestion):
    problem = next(p for p in problems_of(text) if "unknown key" in p)
    assert problem.startswith(where + " unknown key")
    assert f"(did you mean {suggestion}?)" in problem
    assert "allowed keys:" in problem


def test_a_key_like_no_allowed_key_gets_no_guess():
    problem = only_problem("colour: red\n")
    assert "did you mean" not in problem
    assert "unknown key 'colour'; allowed keys: account_id" in problem


@pytest.mark.parametrize(
    ("line", "suggestion"),
    [
        ("mode: manged", "'managed'"),
        ("mode: Managed", "'managed'"),
        ("mode: noninteractive", "'non-interactive'"),
        ("region: chnia", "'china'"),
        ("clearance_level: jschalenge", "'jschallenge'"),
    ],
)
def test_unknown_values_suggest_the_closest_allowed_value(line, suggestion):
    assert f"did you mean {suggestion}?" in only_problem(widget(line))


def test_an_unknown_key_full_of_escapes_is_shown_escaped():
    problems = problems_of('"\\e[31mdomains\\u202e": x\n')
    assert all("\x1b" not in p and "\u202e" not in p for p in problems)
    assert any("\\x1b[31mdomains\\u202e" in p for p in problems)


# YAML syntax


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("widgets:\n\t- name: a\n", "spec.yaml:2:1:", "a tab character"),
        ("widgets:\n  - name: a\n\tmode: managed\n", "spec.yaml:3:1:", "a tab character"),
        (
            "widgets:\n  - name: a: b\n",
            "spec.yaml:2:12:",
            "put a value containing ': ' in quotes",
        ),
        (
            "widgets:\n  - name: a\n   mode: managed\n",
            "spec.yaml:3:4:",
            "indentation does not line up",
        ),
        ("widgets:\n  - name: 'a\n", "spec.yaml:3:1:", "a quote or bracket opened above"),
        ("widgets:\n  - domains: [a.com, b.com\n", "spec.yaml:3:1:", "'[' list is not closed"),
        ("defaults: {mode: managed\n", "spec.yaml:2:1:", "'{' mapping is not closed"),
        ("widgets:\n  - *x\n", "spec.yaml:2:5:", "refers to no anchor"),
        ('widgets:\n  - name: "a\\q"\n', "spec.yaml:2:13:", "unknown escape sequence"),
        ("widgets:\n  - name: @a\n", "spec.yaml:2:11:", "a value cannot start with '@'"),
        ("widgets: []\n---\nwidgets: []\n", "spec.yaml:2:1:", "a spec is one document"),
        ("a: &x 1\nb: &x 2\n", "spec.yaml:2:4:", "defined twice"),
        ("widgets:\n  - name: a\x07\n", "spec.yaml:2:12:", "the character U+0007"),
    ],
)
def test_yaml_syntax_errors_are_worded_for_people(text, where, words):
    problem = only_problem(text)
    assert problem.startswith(where + " invalid YAML: "), problem
    assert words in problem
    for library in ("cannot start any token", "not allowed in this context", "expected '-'"):
        assert library not in problem


def test_a_tab_says_tab_and_how_to_fix_it():
    problem = only_problem("widgets:\n\t- name: a\n")
    assert "YAML indents with spaces only; replace the tab with spaces" in problem


# The suggestions module


def test_suggestions_are_close_matches_best_first_ignoring_case():
    assert closest("chekout", ["checkout", "login", "Checkout-v2"]) == ["checkout", "Checkout-v2"]
    assert closest("LOGIN", ["login"]) == ["login"]
    assert closest("checkout", ["checkout"]) == []  # an exact match is not a suggestion
    assert closest("payments", ["checkout", "login"]) == []


def test_suggestions_list_at_most_three_quoted():
    names = ["login-1", "login-2", "login-3", "login-4"]
    assert did_you_mean("login", names).count("'") == 6
    assert did_you_mean("x" * 10_000, ["x" * 10_000 + "y"]) == ""  # no quadratic work
    assert did_you_mean("a\x1b", ["a\x1bb"]) == "did you mean 'a\\x1bb'?"


def test_sitekeys_sharing_their_prefix_are_not_suggested_for_each_other():
    from turnstile_sync.suggestions import SITEKEY_CUTOFF

    live = ["0x4AAAAAAAnMr8KWVqJpbyqJ", "0x4AAAAAAA8Ec8KqpmavwpWN"]
    typo = "0x4AAAAAAAnMr8KWVqJpbyqA"
    assert closest(typo, live, cutoff=SITEKEY_CUTOFF) == ["0x4AAAAAAAnMr8KWVqJpbyqJ"]
