"""The one rule 'protected' and 'ignore' entries use to recognise a name: equal or a glob, as
written or once case, Unicode forms and invisible characters are folded away. Attacked with
names built to look like a protected one while differing in bytes."""

from __future__ import annotations

import unicodedata

import pytest

from tests.unit.test_planner import live, managed, spec
from turnstile_sync.errors import GuardError, SpecError
from turnstile_sync.name_rules import Match, folded, look_alike, matches, matching
from turnstile_sync.planner import plan
from turnstile_sync.spec import load_spec_text

NFC = unicodedata.normalize("NFC", "café checkout")
NFD = unicodedata.normalize("NFD", "café checkout")


def full_width(text: str) -> str:
    """The full-width forms of ASCII letters and punctuation, as East Asian keyboards type."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


WIDE_CHECKOUT = full_width("checkout")
WIDE_CHECK_STAR = full_width("check*")


@pytest.mark.parametrize(
    "name",
    [
        "checkout [eu]",  # a character class read literally
        "checkout [",  # an unterminated class
        "checkout ]",
        "prices *",
        "prices ?",
        "[!x] legacy",
        "a[[]b",
    ],
)
def test_a_name_with_glob_characters_matches_itself(name):
    assert matching(name, name) is Match.AS_WRITTEN


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("checkout [eu]", "checkout e"),  # also a valid glob: it protects what it matches too
        ("checkout [eu]", "checkout u"),
        ("check*", "checkout [eu]"),
        ("prices ?", "prices 1"),
        ("0x4AAAAAAA*", "0x4AAAAAAABn0R22HWm-YUc"),  # sitekeys are matched the same way
        ("stra?e", "straße"),  # '?' matches 'ß' as written, though folding makes it 'ss'
    ],
)
def test_a_pattern_still_matches_everything_its_glob_matches(pattern, name):
    assert matching(pattern, name) is Match.AS_WRITTEN


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        (NFC, NFD),  # composed and decomposed accents print alike
        (NFD, NFC),
        ("checkout", "Checkout"),
        ("checkout", "CHECKOUT"),
        ("Checkout [EU]", "checkout [eu]"),
        ("checkout", WIDE_CHECKOUT),  # full-width
        ("finance", "\ufb01nance"),  # ligature
        ("strasse", "Straße"),
        ("STRASSE", "straße"),
        ("kelvin", "\u212aelvin"),  # KELVIN SIGN
        ("checkout", "check\u200bout"),  # zero-width space
        ("checkout", "check\u00adout"),  # soft hyphen
        ("checkout", "\u202echeckout"),  # right-to-left override
        ("checkout", "checkout\ufe0f"),  # variation selector
        ("checkout", "\u2066checkout\u2069"),  # bidi isolate
        ("checkout", "check\u034fout"),  # combining grapheme joiner
        ("CHECK*", "checkout"),
        ("café*", NFD),
        (WIDE_CHECK_STAR, "checkout"),  # a full-width star is a star once folded
        ("0x4aaaaaaa*", "0x4AAAAAAABn0R22HWm-YUc"),
    ],
)
def test_look_alikes_match_once_folded(pattern, name):
    assert matching(pattern, name) is Match.FOLDED


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("checkout [eu]", "checkout-eu"),
        ("checkout [eu]", "checkout [fr]"),
        ("checkout", "checkouts"),
        ("checkout", "check out"),
        ("checkout*", "my checkout"),
        (NFC, "cafe checkout"),  # an accent is not a case or a form
        ("0x4AAAAAAABn0R22HWm-YUc", "0x4AAAAAAABn0R22HWm-YUd"),
        ("legacy-*", "new-legacy"),
    ],
)
def test_different_names_do_not_match(pattern, name):
    assert not matches(pattern, name)


def test_folding_is_stable_and_look_alikes_are_symmetric():
    for text in (NFC, NFD, "Straße", WIDE_CHECK_STAR, "\u212aelvin"):
        assert folded(folded(text)) == folded(text)
    assert look_alike(NFC, NFD) and look_alike(NFD, NFC)
    assert not look_alike("checkout", "checkout")
    assert not look_alike("checkout", "checkouts")


def test_protected_glob_characters_protect_the_literal_name():
    desired = spec(managed("other"), prune=True, protected=["checkout [eu]"])
    current = [live("other", "0xO"), live("checkout [eu]", "0xC"), live("checkout e", "0xE")]
    with pytest.raises(GuardError) as caught:
        plan(desired, current, force=True)
    assert caught.value.refusals == [
        f"refusing to delete {name!r} ({sitekey}): it is protected by 'protected: "
        "[checkout [eu]]' in the spec. --force does not lift protection; change the spec "
        "first if it really must go."
        for name, sitekey in (("checkout [eu]", "0xC"), ("checkout e", "0xE"))
    ]


@pytest.mark.parametrize("pattern", ["legacy [old]", "LEGACY [OLD]", "Legacy*"])
def test_ignore_uses_the_same_rule(pattern):
    desired = spec(managed("keep"), prune=True, ignore=[pattern])
    result = plan(desired, [live("keep", "0xK"), live("legacy [old]", "0xL")])
    assert result.actions == ()
    assert [w.sitekey for w in result.ignored] == ["0xL"]


def test_a_spec_entry_its_own_ignore_rule_covers_as_written_is_refused():
    text = (
        "account_id: 023e105f4ecef8ad9ca31a8372d0c353\n"
        "ignore: ['legacy [old]', 'temp-*']\n"
        "widgets:\n"
        "  - {name: 'legacy [old]', mode: managed, domains: [example.com]}\n"
        "  - {name: temp-login, mode: managed, domains: [example.com]}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, "spec.yaml")
    messages = [problem.message for problem in caught.value.problems]
    assert messages == [
        "'legacy [old]' matches ignore pattern 'legacy [old]', so it would never be managed; "
        "remove the entry or narrow the pattern",
        "'temp-login' matches ignore pattern 'temp-*', so it would never be managed; "
        "remove the entry or narrow the pattern",
    ]


def test_an_entry_an_ignore_rule_covers_only_once_folded_is_managed_as_before():
    """`ignore: [test*]` beside an entry 'Testimonials' was a valid spec before names were
    folded, and manages that widget: the entry's own widget is never ignored by folding."""
    text = (
        "account_id: 023e105f4ecef8ad9ca31a8372d0c353\n"
        "ignore: ['test*']\n"
        "prune: true\n"
        "widgets:\n"
        "  - {name: Testimonials, mode: invisible, domains: [example.com]}\n"
    )
    loaded = load_spec_text(text, "spec.yaml")
    result = plan(loaded.spec, [live("Testimonials", "0xT"), live("test-old", "0xO")])
    assert [(a.kind.value, a.sitekey) for a in result.actions] == [("update", "0xT")]
    assert [w.sitekey for w in result.ignored] == ["0xO"]


def test_a_dashboard_rename_to_a_look_alike_stays_ignored_and_is_not_pruned():
    desired = spec(managed("keep"), prune=True, ignore=["legacy-*"])
    result = plan(desired, [live("keep", "0xK"), live("Legacy-Checkout", "0xL")])
    assert result.actions == ()
    assert [w.sitekey for w in result.ignored] == ["0xL"]
