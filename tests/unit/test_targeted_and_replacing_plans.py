"""plan(targets=..., replace=...): a plan limited to selected widgets, and replacements of
widgets whose settings match, planned by the pure planner so guards and plan files see them."""

from __future__ import annotations

import pytest

from tests.unit.test_planner import live, managed, spec
from turnstile_sync.actions import REGION_IMMUTABLE_REASON, REPLACE_REQUESTED_REASON, ActionKind
from turnstile_sync.errors import GuardError, PlanError
from turnstile_sync.planner import plan


def shop() -> tuple:
    """Three entries that drift (one to create) and two unmanaged live widgets."""
    desired = spec(
        managed("checkout-eu", mode="invisible"),
        managed("checkout-us", mode="invisible"),
        managed("login", mode="invisible"),
        managed("signup"),
    )
    current = [
        live("checkout-eu", "0xEU"),
        live("checkout-us", "0xUS"),
        live("login", "0xLOGIN"),
        live("checkout-old", "0xOLD"),
        live("stray", "0xSTRAY"),
    ]
    return desired, current


def summary(result) -> list[tuple[str, str]]:
    return [(a.kind.value, a.name) for a in result.actions]


def test_a_name_target_plans_only_that_widget():
    desired, current = shop()
    result = plan(desired, current, targets=["login"])
    assert summary(result) == [("update", "login")]
    assert result.unmanaged == ()
    assert result.unchanged == ()
    assert result.targets == ("login",)
    assert (result.selected, result.universe) == (1, 6)


def test_a_glob_target_selects_entries_and_unmanaged_widgets_it_matches():
    desired, current = shop()
    result = plan(desired, current, targets=["checkout-*"])
    assert summary(result) == [("update", "checkout-eu"), ("update", "checkout-us")]
    assert [w.name for w in result.unmanaged] == ["checkout-old"]
    assert (result.selected, result.universe) == (3, 6)


def test_a_targeted_plan_says_so_in_its_summary_and_notice():
    desired, current = shop()
    result = plan(desired, current, targets=["login", "checkout-eu"])
    assert result.summary() == (
        "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete. Targeted: only 2 of 6 "
        "widget(s) considered; other changes may be pending."
    )
    assert result.target_notice() == (
        "Targeted plan: only 2 of 6 widget(s) considered (--target 'login', 'checkout-eu'); "
        "other changes may be pending."
    )


def test_a_targeted_plan_without_changes_does_not_claim_the_account_matches():
    desired = spec(managed("login"), managed("signup", mode="invisible"))
    result = plan(desired, [live("login", "0xL"), live("signup", "0xS")], targets=["login"])
    assert not result.has_changes
    assert result.summary().startswith("No changes. The targeted widgets match the spec.")


def test_a_whole_account_plan_is_not_targeted():
    desired, current = shop()
    result = plan(desired, current)
    assert result.targets is None and result.target_notice() is None
    assert "Targeted" not in result.summary()


def test_a_sitekey_target_selects_exactly_that_widget_and_is_not_a_glob():
    desired, current = shop()
    assert summary(plan(desired, current, targets=["0xUS"])) == [("update", "checkout-us")]
    with pytest.raises(PlanError) as caught:
        plan(desired, current, targets=["0xU*"])
    assert "--target '0xU*' matches no widget in the spec or the account" in str(caught.value)


def test_a_target_matches_names_as_protection_does_case_folded():
    desired, current = shop()
    assert summary(plan(desired, current, targets=["LOGIN"])) == [("update", "login")]


def test_a_target_selects_a_pinned_rename_by_its_live_name():
    desired = spec(managed("new name", sitekey="0xA"), managed("other", mode="invisible"))
    current = [live("old name", "0xA"), live("other", "0xB")]
    result = plan(desired, current, targets=["old name"])
    assert summary(result) == [("update", "new name")]


def test_a_target_can_select_a_widget_the_spec_creates():
    desired, current = shop()
    assert summary(plan(desired, current, targets=["signup"])) == [("create", "signup")]


def test_every_target_that_matches_nothing_is_named_at_once():
    desired, current = shop()
    with pytest.raises(PlanError) as caught:
        plan(desired, current, targets=["login", "logn", "chekout-*"])
    message = str(caught.value)
    assert "--target 'logn' matches no widget" in message
    assert "--target 'chekout-*' matches no widget" in message
    assert (
        "--target 'logn' matches no widget in the spec or the account; did you mean 'login'?"
        in (message)
    )
    assert "--target 'login'" not in message  # the one that matched is not a problem


def test_a_target_matching_only_ignored_widgets_is_an_error():
    desired = spec(managed("login"), ignore=["legacy-*"])
    with pytest.raises(PlanError) as caught:
        plan(desired, [live("legacy-1", "0xL1")], targets=["legacy-1"])
    assert "matches only live widgets ignored" in str(caught.value)


def test_a_hostile_target_is_quoted_in_errors_and_notices():
    desired, current = shop()
    hostile = "x\n::error::forged\x1b[31m"
    with pytest.raises(PlanError) as caught:
        plan(desired, current, targets=[hostile])
    assert "\n::error::" not in str(caught.value)
    assert "\x1b" not in str(caught.value)


def test_repeated_targets_count_once():
    desired, current = shop()
    result = plan(desired, current, targets=["login", "login"])
    assert result.targets == ("login",)


def test_prune_in_a_targeted_plan_deletes_only_targeted_unmanaged_widgets():
    desired, current = shop()
    pruning = desired.model_copy(update={"prune": True})
    result = plan(pruning, current, targets=["checkout-*"])
    assert ("delete", "checkout-old") in summary(result)
    assert ("delete", "stray") not in summary(result)
    assert plan(pruning, current, targets=["0xSTRAY"]).actions[0].name == "stray"


def test_max_deletes_still_refuses_a_targeted_plan():
    desired, current = shop()
    strict = desired.model_copy(update={"prune": True, "max_deletes": 0})
    with pytest.raises(GuardError) as caught:
        plan(strict, current, targets=["checkout-old"])
    assert [r.rule for r in caught.value.reasons] == ["max_deletes"]


def test_protection_still_refuses_a_targeted_prune():
    desired, current = shop()
    guarded = desired.model_copy(update={"prune": True, "protected": ("stray",)})
    with pytest.raises(GuardError) as caught:
        plan(guarded, current, targets=["stray"], force=True)
    assert [r.rule for r in caught.value.reasons] == ["protected"]


def test_replace_plans_a_replacement_of_an_unchanged_widget():
    desired = spec(managed("login"))
    current = live("login", "0xL")
    result = plan(desired, [current], replace=["login"])
    (action,) = result.actions
    assert action.kind is ActionKind.REPLACE
    assert action.reason == REPLACE_REQUESTED_REASON
    assert action.sitekey == "0xL" and action.changes == ()
    assert action.body is not None
    settings = {**current.settings(), "domains": list(current.domains)}
    assert action.body.to_json() == {"name": "login", **settings}
    assert action.is_destructive
    assert result.unchanged == ()
    assert result.replace == ("login",)


def test_replace_by_sitekey_keeps_the_field_changes():
    desired = spec(managed("login", mode="invisible"))
    (action,) = plan(desired, [live("login", "0xL")], replace=["0xL"]).actions
    assert action.kind is ActionKind.REPLACE
    assert [c.field for c in action.changes] == ["mode"]
    assert action.body is not None and action.body.mode == "invisible"


def test_replace_of_a_region_change_keeps_the_region_reason():
    desired = spec(managed("login", region="china"))
    (action,) = plan(desired, [live("login", "0xL")], replace=["login"]).actions
    assert action.reason == REGION_IMMUTABLE_REASON


def test_max_deletes_counts_requested_replacements():
    desired = spec(managed("a"), managed("b"), max_deletes=1)
    current = [live("a", "0xA"), live("b", "0xB")]
    with pytest.raises(GuardError) as caught:
        plan(desired, current, replace=["a", "b"])
    assert [r.rule for r in caught.value.reasons] == ["max_deletes"]
    assert len(plan(desired, current, replace=["a", "b"], force=True).actions) == 2


def test_replace_of_a_protected_widget_is_refused_even_with_force():
    desired = spec(managed("login", protect=True))
    with pytest.raises(GuardError) as caught:
        plan(desired, [live("login", "0xL")], replace=["login"], force=True)
    assert [r.rule for r in caught.value.reasons] == ["protected"]


def test_every_unusable_replace_is_named_at_once():
    desired = spec(managed("login"), managed("signup"), managed("pinned", sitekey="0xP"))
    current = [live("login", "0xL"), live("pinned", "0xP"), live("stray", "0xS")]
    with pytest.raises(PlanError) as caught:
        plan(desired, current, replace=["signup", "stray", "ghost", "pinned"])
    message = str(caught.value)
    assert "--replace 'signup': the spec's widget is not in the account yet" in message
    assert "--replace 'stray' names no live widget the spec manages" in message
    assert "--replace 'ghost' names no live widget the spec manages" in message
    assert "--replace 'pinned': the entry 'pinned' is pinned to sitekey 0xP" in message


def test_replace_outside_the_targets_is_refused_rather_than_widening():
    desired, current = shop()
    with pytest.raises(PlanError) as caught:
        plan(desired, current, targets=["login"], replace=["checkout-eu"])
    assert "--replace 'checkout-eu' is outside the --target selection" in str(caught.value)


def test_replace_inside_the_targets_is_planned():
    desired, current = shop()
    result = plan(desired, current, targets=["checkout-*"], replace=["checkout-eu"])
    assert summary(result) == [("replace", "checkout-eu"), ("update", "checkout-us")]
