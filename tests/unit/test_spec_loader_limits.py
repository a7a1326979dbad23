"""Specs built to exhaust the loader get one clear spec error, in bounded time and memory.

Each case here once crashed the process (a C stack overflow in libyaml's composer), ran for
minutes or gigabytes (aliases expanded in keys or merges, a problem per value, checks that
compared every widget with every other), or ended in "Internal error" (values PyYAML cannot
construct). Files that could hang or crash are run in a child process, with a timeout that
guards the suite only: it is no measurement, and the runs take a few seconds at most."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT
from tests.processes import run_guarded
from tests.unit.test_spec import only_problem, problems_of
from turnstile_sync.errors import Problem, SpecError
from turnstile_sync.spec import MAX_ENTRIES, MAX_NODES, MAX_PROBLEMS, load_spec_text
from turnstile_sync.userfiles import SPEC_SIZE_CAP

"""Seconds after which a run counts as hung (a guard against blocking the suite)."""


def validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """``validate`` on ``text`` in a child process: a crash or hang fails the test, not pytest."""
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size <= SPEC_SIZE_CAP.limit
    return run_guarded(["validate", str(path)], tmp_path)


def widget(name: str, *extra: str) -> str:
    return f"  - {{name: {name}, mode: managed, domains: [example.com]{''.join(extra)}}}\n"


# 1. Nesting deep enough to overflow libyaml's recursive composer


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("widgets: " + "[" * 40_000 + "\n", "1:73"),
        ("{a: " * 40_000 + "\n", "1:257"),
        ("- " * 100_000 + "x\n", "1:129"),
    ],
    ids=["flow-sequences", "flow-mappings", "block-sequences"],
)
def test_deep_nesting_is_refused_before_composing(tmp_path, text, where):
    result = validate(tmp_path, text)
    assert result.returncode == 1, result.stderr[-500:]
    assert f"spec.yaml:{where}: invalid YAML: the document nests deeper than 64 levels" in (
        result.stderr
    )
    assert "Internal error" not in result.stderr


# 2. Aliases expanded through mapping keys and merge keys


def nested_aliases(line: str, levels: int = 10) -> list[str]:
    """Level i refers ten times to level i-1: 10**levels values when expanded."""
    return [
        line.format(i=i, items=", ".join([f"*l{i - 1}"] * 10) if i else ", ".join(["x"] * 10))
        for i in range(levels)
    ]


def test_an_alias_bomb_in_keys_is_not_built(tmp_path):
    lines = nested_aliases("? &l{i} [{items}]\n: 1")
    result = validate(tmp_path, "\n".join(lines) + "\nwidgets: []\n")
    assert result.returncode == 1, result.stderr[-500:]
    assert "10 problems" in result.stderr
    assert "spec.yaml:19:3: keys must be strings, got a list" in result.stderr
    assert len(result.stderr) < 2_000


def test_a_mapping_key_is_refused_without_being_shown():
    problem = only_problem("? {a: 1}\n: 1\nwidgets: []\n")
    assert problem == "spec.yaml:1:3: keys must be strings, got a mapping"


def test_an_alias_bomb_through_merge_keys_is_not_built(tmp_path):
    first = "l0: &l0 {" + ", ".join(f"k{j}: x" for j in range(10)) + "}"
    lines = [first, *nested_aliases("l{i}: &l{i} {{<<: [{items}]}}")[1:]]
    result = validate(tmp_path, "\n".join(lines) + "\nwidgets: []\n")
    assert result.returncode == 1, result.stderr[-500:]
    assert "10 problems" in result.stderr  # l0 to l9 are not spec keys
    assert "unknown key 'l9'" in result.stderr


def test_merge_keys_still_merge_with_the_mappings_own_keys_first():
    text = (
        "a: &a {mode: invisible, domains: [a.com]}\n"
        "b: &b {mode: managed, region: china}\n"
        "widgets:\n  - <<: [*a, *b]\n    name: w\n    domains: [own.com]\n"
    )
    problems = problems_of(text)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "a: unknown key 'a'; allowed keys: account_id, prune, ignore, max_domains_per_widget, "
        "defaults, protected, max_deletes, widgets",
        "b: unknown key 'b'; allowed keys: account_id, prune, ignore, max_domains_per_widget, "
        "defaults, protected, max_deletes, widgets",
    ]
    loaded = load_spec_text(
        "widgets:\n  - <<: [{mode: invisible, domains: [a.com]}, {mode: managed, region: china}]"
        "\n    name: w\n    domains: [own.com]\n"
    )
    (merged,) = loaded.spec.widgets
    assert (merged.mode, merged.region, merged.domains) == ("invisible", "china", ("own.com",))


@pytest.mark.parametrize(
    "text",
    ["a: &a {b: 1, <<: *a}\n", "a: &a {b: {<<: *a}}\n"],
    ids=["itself", "its-parent"],
)
def test_a_recursive_merge_is_refused(text):
    problem = only_problem(text)
    assert problem.startswith("spec.yaml:1:")
    assert "recursive alias" in problem


@pytest.mark.parametrize("value", ["x", "[x]", "[{a: 1}, x]"])
def test_a_merge_of_something_other_than_mappings_is_refused(value):
    problem = only_problem(f"widgets:\n  - <<: {value}\n    name: a\n")
    assert "a merge key ('<<') takes a mapping or a list of mappings" in problem


# 3. Problems and values without bound


def test_a_document_of_filler_values_names_the_value_limit_not_aliases(tmp_path):
    result = validate(tmp_path, "widgets: [" + ",".join(["a"] * 990_000) + "]\n")
    assert result.returncode == 1
    assert f"the document has more than {MAX_NODES:,} values" in result.stderr
    assert "alias" not in result.stderr
    assert len(result.stderr.splitlines()) == 2


def test_the_largest_plain_spec_under_the_size_cap_is_within_the_value_limit(tmp_path):
    lines = [f"account_id: {ACCOUNT}", "widgets:"]
    for i in range(28_000):
        lines += [f"  - name: widget {i}", "    mode: managed", f"    domains: [w{i}.example.com]"]
    result = validate(tmp_path, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr[-500:]
    assert "valid (28000 widgets)" in result.stdout


def test_an_enterprise_spec_of_short_hostnames_is_within_the_value_limit(tmp_path):
    hosts = ", ".join(f"{j}.io" for j in range(200))
    lines = ["max_domains_per_widget: 200", "widgets:"]
    for i in range(1_360):
        lines += [f"  - name: w{i}", "    mode: managed", f"    domains: [{hosts}]"]
    result = validate(tmp_path, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr[-500:]


def sharing_bad_hostnames(count: int) -> str:
    """``count`` widgets whose domains are one alias of 1,000 invalid hostnames."""
    text = "y: &a [" + ", ".join(['"bad host!"'] * 1_000) + "]\nwidgets:\n"
    return text + "".join(f"  - {{name: w{i}, mode: managed, domains: *a}}\n" for i in range(count))


def test_an_aliased_list_of_bad_hostnames_is_reported_within_bounds(tmp_path):
    result = validate(tmp_path, sharing_bad_hostnames(990))
    assert result.returncode == 1
    assert f"aliases expand it to more than {MAX_NODES:,} values" in result.stderr
    assert len(result.stderr.splitlines()) == 2


def test_validation_stops_after_a_bounded_number_of_problems(tmp_path):
    result = validate(tmp_path, sharing_bad_hostnames(390))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].endswith(f"spec.yaml: {MAX_PROBLEMS + 2:,} problems:")
    assert f"validation stopped after the first {MAX_PROBLEMS:,} problems" in lines[1]
    assert lines[-1] == f"  ... and {MAX_PROBLEMS + 2 - 100:,} more problems"
    assert len(lines) == 102


def test_a_long_list_of_filler_widgets_stops_at_the_problem_limit():
    with pytest.raises(SpecError) as caught:
        load_spec_text("widgets: [" + ",".join(["a"] * 5_000) + "]\n", "spec.yaml")
    assert len(caught.value.problems) == MAX_PROBLEMS + 1
    assert "validation stopped" in caught.value.problems[0].message


def test_a_spec_error_lists_the_first_hundred_problems_and_counts_the_rest():
    error = SpecError("s.yaml", [Problem(f"problem {i}", "", i + 1, 1) for i in range(1_234)])
    lines = str(error).splitlines()
    assert lines[0] == "s.yaml: 1,234 problems:"
    assert lines[100] == "  s.yaml:100:1: problem 99"
    assert lines[101] == "  ... and 1,134 more problems"
    assert len(lines) == 102


@pytest.mark.parametrize(
    ("key", "what"),
    [("ignore", "patterns"), ("protected", "entries")],
)
def test_an_overlong_rule_list_is_one_problem(key, what):
    items = ", ".join(f"p{i}*" for i in range(MAX_ENTRIES + 1))
    problem = only_problem(f"{key}: [{items}]\nwidgets: []\n")
    assert problem == f"spec.yaml:1:1: {key}: 1,001 {what}; at most 1,000 are read"


def test_an_overlong_domains_list_is_one_problem():
    hosts = ", ".join(["bad host!"] * (MAX_ENTRIES + 1))
    problem = only_problem(f"widgets:\n  - name: a\n    mode: managed\n    domains: [{hosts}]\n")
    assert problem.startswith("spec.yaml:4:5: widgets[0] (a).domains: 1,001 hostnames")


# 4. Checks that compared every widget with every other


def test_many_pinned_widgets_sharing_a_name_are_checked_in_one_pass(tmp_path):
    entries = "".join(widget("a", f", sitekey: '0x{i:x}'") for i in range(24_000))
    result = validate(tmp_path, "widgets:\n" + entries)
    assert result.returncode == 0, result.stderr[-500:]
    assert "valid (24000 widgets)" in result.stdout


def test_a_shared_name_is_still_refused_unless_every_entry_pins_a_sitekey():
    text = "widgets:\n" + widget("a", ", sitekey: '0x1'") + widget("a") + widget("a")
    problems = problems_of(text)
    assert len(problems) == 2
    assert all("duplicate widget name 'a' (also on line 2)" in p for p in problems)


def test_many_ignore_patterns_against_many_widgets_are_checked_quickly(tmp_path):
    patterns = ", ".join(f"p{i}*x" for i in range(MAX_ENTRIES))
    entries = "".join(widget(f"w{i}") for i in range(24_000))
    result = validate(tmp_path, f"ignore: [{patterns}, w77]\nwidgets:\n" + entries)
    assert result.returncode == 1
    assert "spec.yaml: 1 problem:" in result.stderr


def test_sixty_thousand_ignore_patterns_are_one_problem(tmp_path):
    patterns = ", ".join(f"p{i}*x" for i in range(60_000))
    entries = "".join(widget(f"w{i}") for i in range(20_000))
    result = validate(tmp_path, f"ignore: [{patterns}]\nwidgets:\n" + entries)
    assert result.returncode == 1
    assert "ignore: 60,000 patterns; at most 1,000 are read" in result.stderr
    assert "spec.yaml: 1 problem:" in result.stderr


def test_a_name_is_reported_once_naming_the_first_ignore_pattern_that_covers_it():
    text = "ignore: ['x*', login, 'l*', '[l]ogin']\nwidgets:\n" + widget("login")
    problem = only_problem(text)
    assert "'login' matches ignore pattern 'login'" in problem
    text = "ignore: ['l?gin', login]\nwidgets:\n" + widget("login") + widget("other")
    assert "matches ignore pattern 'l?gin'" in only_problem(text)
    text = "ignore: ['x*', '[a]']\nwidgets:\n" + widget("'[a]'") + widget("a")
    problems = problems_of(text)
    assert len(problems) == 2
    assert all("matches ignore pattern '[a]'" in problem for problem in problems)


# 5. Values PyYAML cannot construct


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-02-30", "cannot read '2024-02-30' as a date: day is out of range for month"),
        ("2001-13-45", "cannot read '2001-13-45' as a date: month must be in 1..12"),
        ("!!int abc", "cannot read 'abc' as an integer: invalid literal for int()"),
        ("!!float x", "cannot read 'x' as a number: could not convert string to float"),
        ("!!bool abc", "cannot read 'abc' as true or false: not a value of this type"),
        ("!!timestamp abc", "cannot read 'abc' as a date: not a value of this type"),
    ],
)
def test_an_unreadable_value_is_a_problem_at_the_value(value, message):
    problem = only_problem(f"widgets:\n  - name: {value}\n    mode: managed\n")
    assert problem.startswith(f"spec.yaml:2:11: widgets[0].name: {message}")


def test_an_integer_too_long_to_read_is_a_bounded_problem():
    problem = only_problem("widgets: []\nmax_deletes: " + "9" * 4_301 + "\n")
    assert problem.startswith("spec.yaml:2:14: max_deletes: cannot read '9999")
    assert "as an integer: Exceeds the limit (4300 digits)" in problem
    assert len(problem) < 400


def test_an_unreadable_key_is_a_problem_at_the_key():
    problem = only_problem("widgets: []\n2024-02-30: x\n")
    assert problem.startswith("spec.yaml:2:1: cannot read '2024-02-30' as a date")
