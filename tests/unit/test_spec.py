"""The spec loader: every failure mode names the file, line and field; all problems at once."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT
from turnstile_sync.errors import SpecError
from turnstile_sync.models import ClearanceLevel, Mode, Region
from turnstile_sync.spec import MAX_NODES, load_spec, load_spec_text

VALID = """\
account_id: 023e105f4ecef8ad9ca31a8372d0c353
widgets:
  - name: login
    mode: managed
    domains: [example.com]
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, "spec.yaml")
    return [problem.format("spec.yaml") for problem in caught.value.problems]


def only_problem(text: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_example_spec_is_valid():
    loaded = load_spec(REPO_ROOT / "examples" / "widgets.yaml")
    names = [widget.name for widget in loaded.spec.widgets]
    assert "checkout" in names
    assert len(names) == len(set(names)) >= 4
    assert all(line is not None for line in loaded.widget_lines)


def test_valid_spec_is_normalised():
    loaded = load_spec_text(
        """\
        widgets:
          - name: login
            mode: invisible
            region: china
            clearance_level: jschallenge
            domains: [WWW.Example.com, example.com, www.example.com, "2001:DB8::1"]
        """.replace("        ", ""),
    )
    widget = loaded.spec.widgets[0]
    assert widget.domains == ("2001:db8::1", "example.com", "www.example.com")
    assert widget.mode is Mode.INVISIBLE
    assert widget.region is Region.CHINA
    assert widget.clearance_level is ClearanceLevel.JSCHALLENGE
    assert widget.bot_fight_mode is None  # unset means unmanaged, not False
    assert loaded.widget_lines == (2,)


def test_defaults_fill_unset_fields_only():
    loaded = load_spec_text(
        VALID + "    clearance_level: managed\n"
        "  - name: other\n    mode: managed\n    domains: [example.org]\n"
        "defaults:\n  clearance_level: interactive\n  offlabel: false\n"
    )
    spec = loaded.spec
    first, second = spec.widgets
    assert spec.desired_settings(first)["clearance_level"] == "managed"
    assert spec.desired_settings(second)["clearance_level"] == "interactive"
    assert spec.desired_settings(second)["offlabel"] is False
    assert "region" not in spec.desired_settings(second)


def test_yaml_syntax_error_names_line():
    problem = only_problem("widgets:\n  - name: [unclosed\n")
    assert problem.startswith("spec.yaml:3:")
    assert "invalid YAML" in problem


def test_duplicate_key_is_refused_with_both_lines():
    problem = only_problem(VALID + "    mode: invisible\n")
    assert problem.startswith("spec.yaml:6:5: widgets[0] (login).mode:")
    assert "duplicate key 'mode' (first set on line 4)" in problem


def test_unknown_top_level_key_lists_allowed_keys():
    problem = only_problem("colour: red\n" + VALID)
    assert problem.startswith("spec.yaml:1:1: colour:")
    assert "unknown key 'colour'" in problem
    assert "allowed keys: account_id, prune, ignore" in problem


def test_unknown_widget_key_lists_allowed_keys():
    problem = only_problem(VALID + "    colour: red\n")
    assert problem.startswith("spec.yaml:6:5: widgets[0] (login).colour:")
    assert "allowed keys: mode, domains, region" in problem
    assert "name, sitekey" in problem


def test_name_is_not_allowed_in_defaults():
    problem = only_problem(VALID + "defaults:\n  name: x\n")
    assert problem.startswith("spec.yaml:7:3: defaults.name: unknown key 'name'")


def test_missing_name_points_at_the_entry():
    problem = only_problem("widgets:\n  - mode: managed\n    domains: [a.com]\n")
    assert problem == "spec.yaml:2:5: widgets[0].name: this field is required"


@pytest.mark.parametrize("name", ["", "x" * 255])
def test_name_length(name):
    problem = only_problem(
        f"widgets:\n  - name: '{name}'\n    mode: managed\n    domains: [a.com]\n"
    )
    assert problem.startswith("spec.yaml:2:")
    assert ".name:" in problem
    assert "must not be empty" in problem or "255 characters long; at most 254" in problem


@pytest.mark.parametrize(
    ("written", "shown"),
    [("log\\0in", "\\x00"), ("a\\tb", "\\t"), ("a\\x7fb", "\\x7f"), ("a\\x85b", "\\x85")],
    ids=["nul", "tab", "del", "c1"],
)
def test_names_with_control_characters_are_refused(written, shown):
    """No environment variable can hold a NUL (TURNSTILE_WIDGET_NAME of --secrets-exec);
    the other controls act on terminals and CI logs."""
    problem = only_problem(
        f'widgets:\n  - name: "{written}"\n    mode: managed\n    domains: [a.com]\n'
    )
    assert problem.startswith("spec.yaml:2:5: widgets[0] (")
    assert f").name: a widget name cannot contain control characters ({shown})" in problem


def test_names_with_format_characters_are_accepted():
    spec = load_spec_text('widgets:\n  - name: "caf\\u00e9 \\u202e"\n').spec
    assert spec.widgets[0].name == "caf\u00e9 \u202e"


def test_longest_name_is_accepted():
    spec = load_spec_text(f"widgets:\n  - name: {'x' * 254}\n").spec
    assert len(spec.widgets[0].name) == 254


def test_duplicate_names_name_both_lines():
    text = VALID + "  - name: login\n    mode: invisible\n    domains: [a.com]\n"
    problem = only_problem(text)
    assert problem.startswith("spec.yaml:6:5: widgets[1] (login).name:")
    assert "duplicate widget name 'login' (also on line 3)" in problem


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("mode", "managd", "unknown mode 'managd'; did you mean 'managed'?"),
        ("region", "mars", "unknown region 'mars' (one of 'world' or 'china')"),
        ("clearance_level", "high", "'no_clearance', 'jschallenge', 'managed' or 'interactive'"),
        ("bot_fight_mode", "1", "expected true or false, got 1"),
        ("ephemeral_id", "'true'", "expected true or false without quotes, got the text 'true'"),
        ("offlabel", "2", "expected true or false, got 2"),
    ],
)
def test_field_values(field, value, expected):
    text = f"widgets:\n  - name: login\n    domains: [example.com]\n    {field}: {value}\n"
    problem = only_problem(text)
    assert problem.startswith(f"spec.yaml:4:5: widgets[0] (login).{field}:")
    assert expected in problem


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("https://example.com", "includes a scheme"),
        ("example.com:443", "includes a port"),
        ("example.com/login", "includes a path"),
        ("'*.example.com'", "is a wildcard"),
        ("exa_mple.com", "is not a valid hostname"),
        ("-example.com", "is not a valid hostname"),
        ("example.com.", "trailing dot"),
        ("300.1.1.1", "not a valid IP address"),
        ("bücher.de", "punycode"),
        ("' example.com'", "whitespace"),
    ],
)
def test_bad_hostnames_name_the_item(hostname, expected):
    text = f"widgets:\n  - name: a\n    domains:\n      - ok.example.com\n      - {hostname}\n"
    problem = only_problem(text)
    assert problem.startswith("spec.yaml:5:9: widgets[0] (a).domains[1]:")
    assert expected in problem


def test_domains_must_be_a_list():
    problem = only_problem("widgets:\n  - name: a\n    domains: example.com\n")
    assert problem.startswith("spec.yaml:3:5: widgets[0] (a).domains:")
    assert "expected a list of hostnames" in problem


def test_empty_domains_are_refused():
    problem = only_problem("widgets:\n  - name: a\n    domains: []\n")
    assert problem.startswith("spec.yaml:3:5: widgets[0] (a).domains:")
    assert "at least one hostname" in problem


def eleven_domains() -> str:
    return "[" + ", ".join(f"h{i}.example.com" for i in range(11)) + "]"


def test_more_than_ten_domains_is_refused_by_default():
    problem = only_problem(f"widgets:\n  - name: a\n    domains: {eleven_domains()}\n")
    assert problem.startswith("spec.yaml:3:5: widgets[0] (a).domains:")
    assert "11 hostnames, more than 10" in problem
    assert "max_domains_per_widget" in problem


def test_duplicates_do_not_count_towards_the_limit():
    domains = "[" + ", ".join(["a.com", "A.com"] * 6) + "]"
    spec = load_spec_text(f"widgets:\n  - name: a\n    domains: {domains}\n").spec
    assert spec.widgets[0].domains == ("a.com",)


def test_enterprise_limit_can_be_raised():
    text = f"max_domains_per_widget: 20\nwidgets:\n  - name: a\n    domains: {eleven_domains()}\n"
    assert len(load_spec_text(text).spec.widgets[0].domains or ()) == 11


def test_limit_cannot_exceed_cloudflare_maximum():
    problem = only_problem("max_domains_per_widget: 201\n")
    assert problem.startswith("spec.yaml:1:1: max_domains_per_widget:")
    assert "must be at most 200" in problem


def test_defaults_domains_respect_the_limit():
    problem = only_problem(f"defaults:\n  domains: {eleven_domains()}\n")
    assert problem.startswith("spec.yaml:2:3: defaults.domains: 11 hostnames")


@pytest.mark.parametrize("account_id", ["123", "023E105F4ECEF8AD9CA31A8372D0C353", "g" * 32])
def test_account_id_format(account_id):
    problem = only_problem(f"account_id: '{account_id}'\n")
    assert problem.startswith("spec.yaml:1:1: account_id:")
    assert "32 lower-case hex characters" in problem


def test_sitekey_format():
    problem = only_problem(VALID + "    sitekey: not-a-sitekey\n")
    assert problem.startswith("spec.yaml:6:5: widgets[0] (login).sitekey:")


def test_name_matching_an_ignore_pattern_is_refused():
    problem = only_problem("ignore: ['log*']\n" + VALID)
    assert problem.startswith("spec.yaml:4:5: widgets[0] (login).name:")
    assert "matches ignore pattern 'log*'" in problem


def test_every_problem_is_reported_at_once():
    text = (
        "account_id: nope\n"
        "prune: maybe\n"
        "widgets:\n"
        "  - name: a\n"
        "    mode: managd\n"
        "    domains: [https://a.com]\n"
        "  - name: a\n"
        "    region: mars\n"
    )
    problems = problems_of(text)
    lines = [int(problem.split(":")[1]) for problem in problems]
    assert lines == [1, 2, 5, 6, 7, 8]


def test_problems_are_in_file_order_and_counted_in_the_message():
    with pytest.raises(SpecError) as caught:
        load_spec_text("a: 1\nb: 2\n", "x.yaml")
    message = str(caught.value)
    assert message.splitlines()[0] == "x.yaml: 2 problems:"
    assert message.index("x.yaml:1:1") < message.index("x.yaml:2:1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- a\n- b\n", "expected a mapping with 'widgets:'"),
        ("just text\n", "expected a mapping with 'widgets:'"),
    ],
)
def test_wrong_document_shape(text, expected):
    assert expected in only_problem(text)


def test_non_string_keys_are_refused():
    problem = only_problem("widgets:\n  - name: a\n    1: x\n")
    assert "keys must be strings" in problem
    assert problem.startswith("spec.yaml:3:5:")


@pytest.mark.parametrize(
    "text",
    [
        "widgets: !!python/object/apply:os.system ['true']\n",
        "widgets:\n  - !!python/object:builtins.dict {name: a}\n",
        "account_id: !!python/name:os.system\n",
    ],
)
def test_python_tags_are_refused_not_executed(text):
    problem = only_problem(text)
    assert "invalid YAML" in problem or "unsupported YAML tag" in problem


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "absent.yaml")
    assert str(caught.value).endswith("absent.yaml: file not found")


def test_anchors_and_merge_keys_work():
    text = (
        "base: &base\n  mode: managed\n  domains: [a.com]\nwidgets:\n  - <<: *base\n    name: a\n"
    )
    # 'base' is not a spec key: it is reported, the merge itself is understood.
    problem = only_problem(text)
    assert "unknown key 'base'" in problem


def alias_bomb(levels: int = 8) -> str:
    """Each level holds ten references to the previous one: 10**levels values when expanded."""
    lines = ["l0: &l0 x"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("a: &a {b: [*a]}\n", "recursive alias"),
        (alias_bomb(), f"aliases expand it to more than {MAX_NODES:,} values"),
    ],
    ids=["recursive", "recursive-mapping", "bomb"],
)
def test_alias_bombs_are_refused_naming_the_limit(text, limit):
    problem = only_problem(text)
    assert limit in problem


def test_a_large_plain_document_is_not_blamed_on_aliases(monkeypatch):
    monkeypatch.setattr("turnstile_sync.spec.MAX_NODES", 1_000)
    text = "widgets: [" + ", ".join(["x"] * 1_001) + "]\n"
    problem = only_problem(text)
    assert "the document has more than 1,000 values" in problem
    assert "alias" not in problem


def test_deep_nesting_without_aliases_names_the_depth_limit():
    problem = only_problem("widgets: " + "[" * 70 + "]" * 70 + "\n")
    assert "nests deeper than 64 levels" in problem
    assert "alias" not in problem


def test_cross_field_rules_are_reported_with_everything_else():
    domains = "[" + ", ".join(f"h{i}.example.com" for i in range(11)) + "]"
    text = f"ignore: ['log*']\nwidgets:\n  - name: login\n    mode: wrong\n    domains: {domains}\n"
    problems = problems_of(text)
    assert len(problems) == 3
    assert "matches ignore pattern 'log*'" in problems[0]
    assert "'non-interactive', 'invisible' or 'managed'" in problems[1]
    assert "11 hostnames, more than 10" in problems[2]


@pytest.mark.parametrize("key", ["max_deletes", "max_domains_per_widget"])
@pytest.mark.parametrize("value", ["true", "2.0", "'3'"])
def test_integer_settings_are_strict(key, value):
    problem = only_problem(f"{key}: {value}\n")
    assert problem.startswith(f"spec.yaml:1:1: {key}:")
    assert "expected a whole number, got " in problem


def test_names_cannot_start_a_new_line_in_spec_errors():
    text = 'widgets:\n  - name: "d\\n::error::forged"\n    mode: wrong\n'
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, "s.yaml")
    assert "\n::error" not in str(caught.value)


@pytest.mark.parametrize("key", ["~", "null", "Null"])
def test_a_null_key_is_refused_not_dropped(key):
    problem = only_problem(f"widgets:\n  - name: a\n    {key}: x\n    domains: [a.com]\n")
    assert problem.startswith("spec.yaml:3:5: widgets[0]: keys must be strings, got null")
