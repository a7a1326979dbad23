"""Protection and guards, as pure planner rules."""

from __future__ import annotations

import pytest

from tests.unit.test_planner import live, managed, spec
from turnstile_sync.errors import GuardError
from turnstile_sync.planner import plan


def refusal(*args, **kwargs) -> GuardError:
    with pytest.raises(GuardError) as caught:
        plan(*args, **kwargs)
    return caught.value


def test_protect_true_refuses_a_replacement_even_with_force():
    desired = spec(managed(region="china", protect=True))
    for force in (False, True):
        error = refusal(desired, [live("login", "0xA")], force=force)
        assert not error.forcible
        assert error.refusals == [
            "refusing to replace 'login' (0xA): it is protected by 'protect: true' on its entry "
            "'login'. --force does not lift protection; change the spec first if it really must go."
        ]


def test_protected_list_keeps_a_widget_whose_entry_was_removed():
    desired = spec(managed("other"), prune=True, protected=["checkout"])
    error = refusal(desired, [live("other", "0xO"), live("checkout", "0xC")], force=True)
    assert "refusing to delete 'checkout' (0xC): it is protected by 'protected: [checkout]'" in str(
        error
    )


@pytest.mark.parametrize("rule", ["check*", "0xC"])
def test_protected_matches_globs_and_sitekeys(rule):
    desired = spec(managed("other"), prune=True, protected=[rule])
    error = refusal(desired, [live("other", "0xO"), live("checkout", "0xC")])
    assert f"'protected: [{rule}]'" in str(error)


def test_protection_of_an_unaffected_widget_changes_nothing():
    desired = spec(managed(mode="invisible", protect=True), protected=["login"])
    (action,) = plan(desired, [live("login", "0xA")]).actions
    assert action.sitekey == "0xA"


def test_deleting_every_managed_widget_is_refused_unless_forced():
    desired = spec(managed("new"), prune=True, max_deletes=10)
    current = [live("a", "0xA"), live("b", "0xB")]
    error = refusal(desired, current)
    assert error.forcible
    assert error.refusals[0].startswith(
        "the plan deletes every managed widget in the account (2 of 2). "
        "Rule: a plan may not delete every live managed widget."
    )
    assert error.refusals[0].endswith("re-run with --force.")
    assert len(plan(desired, current, force=True).actions) == 3


def test_more_deletes_than_max_deletes_is_refused_unless_forced():
    desired = spec(managed("keep"), managed("moved", region="china"), prune=True)
    current = [live("keep", "0xK"), live("moved", "0xM"), live("x", "0xX"), live("y", "0xY")]
    error = refusal(desired, current)
    assert error.refusals == [
        "the plan deletes 2 and replaces 1 widget(s): 3 destructive actions, more than "
        "max_deletes (2). Rule: at most max_deletes widgets may be deleted or replaced in one "
        "run. Review the plan, then raise max_deletes in the spec or re-run with --force."
    ]
    assert len(plan(desired, current, force=True).actions) == 3
    raised = spec(managed("keep"), managed("moved", region="china"), prune=True, max_deletes=3)
    assert len(plan(raised, current).actions) == 3


def test_exactly_max_deletes_is_allowed():
    desired = spec(managed("keep"), prune=True)
    current = [live("keep", "0xK"), live("x", "0xX"), live("y", "0xY")]
    assert len(plan(desired, current).actions) == 2


@pytest.mark.parametrize("prune", [True, False])
def test_empty_spec_against_a_populated_account_is_refused(prune):
    error = refusal(spec(prune=prune), [live("a", "0xA")])
    assert error.refusals[0].startswith(
        "the spec lists no widgets but the account has 1 managed widget(s)."
    )
    assert plan(spec(prune=False), [live("a", "0xA")], force=True).unmanaged


def test_empty_spec_is_fine_when_only_ignored_widgets_exist():
    result = plan(spec(ignore=["legacy-*"]), [live("legacy-a", "0xA")])
    assert result.actions == ()


def test_protect_true_protects_a_look_alike_the_dashboard_renamed_it_to():
    desired = spec(managed("checkout", protect=True), managed("other"), prune=True)
    current = [live("Checkout", "0xC"), live("other", "0xO")]
    error = refusal(desired, current, force=True)
    assert error.refusals == [
        "refusing to delete 'Checkout' (0xC): it is protected by 'protect: true' on the entry "
        "'checkout' (matched once case and Unicode normalisation are ignored). --force does not "
        "lift protection; change the spec first if it really must go."
    ]
    assert error.plan is not None
    assert [a.kind.value for a in error.plan.actions] == ["create", "delete"]


def test_protected_list_protects_a_look_alike():
    desired = spec(managed("other"), prune=True, protected=["CAFÉ*"])
    error = refusal(desired, [live("other", "0xO"), live("cafe\u0301 checkout", "0xC")])
    assert "'protected: [CAFÉ*]' in the spec (matched once case and Unicode" in str(error)


def test_renaming_a_widget_away_from_its_protection_is_refused_even_with_force():
    desired = spec(managed("old checkout", sitekey="0xC"), protected=["checkout"])
    for force in (False, True):
        error = refusal(desired, [live("checkout", "0xC")], force=force)
        assert not error.forcible
        assert error.refusals == [
            "refusing to rename 'checkout' (0xC) to 'old checkout': 'checkout' is protected by "
            "'protected: [checkout]' in the spec, and no rule protects 'old checkout', so the "
            "widget would lose its protection. --force does not lift protection; protect the "
            "new name first ('protect: true' on its entry, or add it to 'protected')."
        ]


def test_renaming_away_from_another_entrys_protect_true_is_refused():
    desired = spec(managed("checkout", protect=True), managed("retired", sitekey="0xC"))
    error = refusal(desired, [live("checkout", "0xC")])
    assert "refusing to rename 'checkout' (0xC) to 'retired'" in str(error)
    assert "protected by 'protect: true' on its entry 'checkout'" in str(error)


@pytest.mark.parametrize(
    ("entry", "protected"),
    [
        ({"protect": True}, ["checkout"]),  # the entry protects its new name
        ({}, ["checkout", "old checkout"]),
        ({}, ["*checkout"]),  # a glob that covers both names
        ({}, ["0xC"]),  # a sitekey rule survives any rename
    ],
)
def test_a_rename_that_keeps_the_widget_protected_is_allowed(entry, protected):
    desired = spec(managed("old checkout", sitekey="0xC", **entry), protected=protected)
    (action,) = plan(desired, [live("checkout", "0xC")]).actions
    assert action.kind.value == "update" and action.name == "old checkout"


def test_a_case_only_rename_keeps_protection_and_is_allowed():
    desired = spec(managed("Checkout", sitekey="0xC"), protected=["checkout"])
    (action,) = plan(desired, [live("checkout", "0xC")]).actions
    assert action.name == "Checkout"


def test_renaming_an_unprotected_widget_is_not_a_protection_matter():
    desired = spec(managed("new name", sitekey="0xA"), protected=["checkout"])
    (action,) = plan(desired, [live("old name", "0xA")]).actions
    assert action.name == "new name"
