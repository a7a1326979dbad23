"""Widget names become identifiers for secrets stores and build outputs; commands that deliver
by identifier refuse names whose identifiers would collide or be empty, naming both entries."""

from __future__ import annotations

import pytest

from turnstile_sync.errors import SpecError
from turnstile_sync.spec import load_spec_text, require_widget_keys
from turnstile_sync.widget_keys import widget_key


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("checkout", "CHECKOUT"),
        ("Checkout page (EU)", "CHECKOUT_PAGE_EU"),
        ("--login--", "LOGIN"),
        ("a.b-c d", "A_B_C_D"),
        ("café au lait", "CAF_AU_LAIT"),
        ("straße", "STRASSE"),
        ("1st", "1ST"),
        ("日本", ""),
        ("$(touch x)", "TOUCH_X"),
    ],
)
def test_names_map_to_predictable_identifiers(name, key):
    assert widget_key(name) == key


def spec_with(*names: str) -> str:
    entries = "".join(f"  - name: {name!r}\n    domains: [a.com]\n" for name in names)
    return "widgets:\n" + entries


def identifier_problems(text: str) -> list[str]:
    loaded = load_spec_text(text, "spec.yaml")  # such names are a valid spec
    with pytest.raises(SpecError) as caught:
        require_widget_keys(loaded, "--secrets-exec")
    return [problem.format("spec.yaml") for problem in caught.value.problems]


def test_two_names_sharing_an_identifier_are_refused_naming_both_lines():
    problems = identifier_problems(spec_with("checkout", "log in", "Checkout!", "log-in"))
    assert len(problems) == 3, problems
    assert "--secrets-exec uses each widget's identifier" in problems[0]
    assert problems[1].startswith("spec.yaml:6: widgets[2] (Checkout!).name:")
    assert "'Checkout!' and 'checkout' (line 2) share the identifier CHECKOUT" in problems[1]
    assert problems[2].startswith("spec.yaml:8:")
    assert "'log-in' and 'log in' (line 4) share the identifier LOG_IN" in problems[2]


def test_a_name_without_letters_or_digits_is_refused():
    problems = identifier_problems(spec_with("ok", "---", "日本"))
    assert len(problems) == 3, problems
    assert problems[1].startswith("spec.yaml:4:")
    assert "'---' has no letters or digits" in problems[1]
    assert "'日本' has no letters or digits" in problems[2]


def test_pinned_widgets_sharing_one_name_share_its_identifier():
    text = (
        "widgets:\n"
        "  - {name: shop, sitekey: '0x4AAAAAAAAAAAAAAAAAAAAA', domains: [a.com]}\n"
        "  - {name: shop, sitekey: '0x4AAAAAAAAAAAAAAAAAAAAB', domains: [a.com]}\n"
    )
    require_widget_keys(load_spec_text(text), "output")  # does not raise
