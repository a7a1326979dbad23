"""plan() as a pure function: each action kind, set semantics, field ownership, identity."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.factories import widget_json
from turnstile_sync.actions import REGION_IMMUTABLE_REASON, ActionKind, FieldChange
from turnstile_sync.errors import PlanError
from turnstile_sync.models import LiveWidget, Spec
from turnstile_sync.planner import plan

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
FORGED_NAME = "d\n::warning::forged"


def live(name: str, sitekey: str, **fields: Any) -> LiveWidget:
    return LiveWidget.model_validate(widget_json(sitekey, name, **fields))


def spec(*widgets: dict[str, Any], **top: Any) -> Spec:
    return Spec.model_validate({"account_id": ACCOUNT, "widgets": list(widgets), **top})


def managed(name: str = "login", **fields: Any) -> dict[str, Any]:
    return {"name": name, "mode": "managed", "domains": ["example.com"], **fields}


def test_create_when_absent_sends_only_managed_fields():
    result = plan(spec(managed(region="china")), [])
    (action,) = result.actions
    assert action.kind is ActionKind.CREATE
    assert action.sitekey is None
    assert action.body is not None
    assert action.body.to_json() == {
        "name": "login",
        "mode": "managed",
        "domains": ["example.com"],
        "region": "china",
    }
    assert FieldChange("region", None, "china") in action.changes


def test_create_applies_defaults():
    result = plan(spec(managed(), defaults={"clearance_level": "interactive"}), [])
    assert result.actions[0].body is not None
    assert result.actions[0].body.clearance_level == "interactive"


def test_create_without_mode_or_domains_is_a_plan_error():
    with pytest.raises(PlanError) as caught:
        plan(spec({"name": "login"}), [])
    assert "'login' does not exist yet" in str(caught.value)
    assert "mode and domains" in str(caught.value)


def test_identical_widget_is_a_no_op():
    result = plan(spec(managed()), [live("login", "0xA")])
    assert result.actions == ()
    assert result.unchanged == ("login",)
    assert not result.has_changes
    assert result.summary() == "No changes. The account matches the spec."


def test_domains_compare_as_a_set():
    desired = spec(managed(domains=["B.example.com", "a.example.com", "b.example.com"]))
    current = live("login", "0xA", domains=["b.example.com", "a.example.com"])
    assert plan(desired, [current]).actions == ()


def test_update_lists_changed_fields_before_and_after():
    desired = spec(managed(mode="invisible", domains=["example.com", "new.example.com"]))
    result = plan(desired, [live("login", "0xA")])
    (action,) = result.actions
    assert action.kind is ActionKind.UPDATE
    assert action.sitekey == "0xA"
    assert action.changes == (
        FieldChange("mode", "managed", "invisible"),
        FieldChange("domains", ("example.com",), ("example.com", "new.example.com")),
    )


def test_update_body_keeps_live_values_of_unmanaged_fields():
    current = live("login", "0xA", clearance_level="interactive", offlabel=True, region="china")
    result = plan(spec(managed(mode="invisible")), [current])
    body = result.actions[0].body
    assert body is not None
    assert body.to_json() == {
        "name": "login",
        "mode": "invisible",
        "domains": ["example.com"],
        "region": "china",
        "clearance_level": "interactive",
        "bot_fight_mode": False,
        "ephemeral_id": False,
        "offlabel": True,
    }


def test_unmanaged_field_drift_is_not_a_change():
    current = live("login", "0xA", clearance_level="interactive")
    assert plan(spec(managed()), [current]).actions == ()


def test_region_change_is_a_replacement_that_keeps_other_settings():
    current = live("login", "0xA", clearance_level="managed")
    result = plan(spec(managed(region="china", mode="invisible")), [current])
    (action,) = result.actions
    assert action.kind is ActionKind.REPLACE
    assert action.reason == REGION_IMMUTABLE_REASON
    assert action.sitekey == "0xA"
    assert action.is_destructive
    assert FieldChange("region", "world", "china") in action.changes
    assert FieldChange("mode", "managed", "invisible") in action.changes
    assert action.body is not None
    assert action.body.region == "china"
    assert action.body.clearance_level == "managed"


def test_unmanaged_widgets_are_reported_not_deleted():
    result = plan(spec(managed()), [live("login", "0xA"), live("other", "0xB")])
    assert result.actions == ()
    assert [w.sitekey for w in result.unmanaged] == ["0xB"]
    assert result.summary().endswith("1 unmanaged (left alone).")


def test_prune_deletes_unmanaged_widgets():
    result = plan(spec(managed(), prune=True), [live("login", "0xA"), live("other", "0xB")])
    (action,) = result.actions
    assert action.kind is ActionKind.DELETE
    assert (action.name, action.sitekey) == ("other", "0xB")
    assert result.unmanaged == ()


def test_ignored_widgets_are_never_touched_even_with_prune():
    result = plan(
        spec(managed(), prune=True, ignore=["legacy-*"]),
        [live("login", "0xA"), live("legacy-form", "0xB")],
    )
    assert result.actions == ()
    assert [w.sitekey for w in result.ignored] == ["0xB"]
    assert result.unmanaged == ()


def test_ambiguous_live_name_is_an_error_listing_sitekeys():
    with pytest.raises(PlanError) as caught:
        plan(spec(managed()), [live("login", "0xB"), live("login", "0xA")])
    message = str(caught.value)
    assert "'login' matches 2 live widgets (0xA, 0xB)" in message
    assert "sitekey:" in message


def test_pin_resolves_ambiguity_and_leaves_the_twin_unmanaged():
    result = plan(
        spec(managed(sitekey="0xB", mode="invisible")),
        [live("login", "0xA"), live("login", "0xB")],
    )
    (action,) = result.actions
    assert (action.kind, action.sitekey) == (ActionKind.UPDATE, "0xB")
    assert [w.sitekey for w in result.unmanaged] == ["0xA"]


def test_pin_renames_in_place():
    result = plan(spec(managed("new name", sitekey="0xA")), [live("old name", "0xA")])
    (action,) = result.actions
    assert action.kind is ActionKind.UPDATE
    assert action.changes == (FieldChange("name", "old name", "new name"),)


def test_pin_to_missing_sitekey_is_an_error_not_a_create():
    with pytest.raises(PlanError) as caught:
        plan(spec(managed(sitekey="0xGONE")), [live("login", "0xA")])
    assert "pins sitekey 0xGONE, which does not exist" in str(caught.value)


def test_all_problems_are_reported_together():
    with pytest.raises(PlanError) as caught:
        plan(
            spec(managed(sitekey="0xGONE"), {"name": "new"}, managed("twin")),
            [live("twin", "0x1"), live("twin", "0x2")],
        )
    assert len(caught.value.problems) == 3


def test_actions_are_ordered_creates_replacements_updates_deletes():
    result = plan(
        spec(
            managed("u", mode="invisible"),
            managed("r", region="china"),
            managed("c"),
            prune=True,
        ),
        [live("u", "0xU"), live("r", "0xR"), live("d", "0xD")],
    )
    assert [a.kind for a in result.actions] == [
        ActionKind.CREATE,
        ActionKind.REPLACE,
        ActionKind.UPDATE,
        ActionKind.DELETE,
    ]
    assert result.summary() == "Plan: 1 to create, 1 to update, 1 to replace, 1 to delete."


def test_plan_is_deterministic_and_does_not_mutate_input():
    desired = spec(managed("a", mode="invisible"), managed("b"), prune=True)
    current = [live("z", "0xZ"), live("a", "0xA"), live("y", "0xY")]
    snapshot = list(current)
    assert plan(desired, current) == plan(desired, current)
    assert current == snapshot
    assert [a.name for a in plan(desired, current).actions] == ["b", "a", "y", "z"]


def test_account_id_comes_from_argument_or_spec():
    assert plan(spec(), []).account_id == ACCOUNT
    assert plan(spec(), [], account_id="f" * 32).account_id == "f" * 32


# Interrupted replacements: a replacement killed between its create and its delete


EARLIER = "2026-01-01T00:00:00.000000Z"
LATER = "2026-01-02T00:00:00.000000Z"


def halves(
    old: dict[str, Any] | None = None, new: dict[str, Any] | None = None
) -> list[LiveWidget]:
    """The old (world) and new (china) halves of replacing 'checkout', as the account holds
    them after the delete never ran."""
    later = {"region": "china", "created_on": LATER, "modified_on": LATER}
    return [
        live("checkout", "0xOLD", **{"region": "world", **(old or {})}),
        live("checkout", "0xNEW", **{**later, **(new or {})}),
    ]


def test_an_interrupted_replacement_is_finished_by_deleting_the_old_half():
    result = plan(spec(managed("checkout", region="china")), halves())
    (action,) = result.actions
    assert (action.kind, action.sitekey) == (ActionKind.DELETE, "0xOLD")
    assert action.reason == (
        "left over from an interrupted replacement of 'checkout' "
        "(region world -> china; the new widget is 0xNEW)"
    )
    assert action.live is not None and action.live.sitekey == "0xOLD"
    assert result.unchanged == ("checkout",)
    assert result.unmanaged == ()


def test_finishing_a_replacement_also_applies_what_else_the_spec_changed():
    desired = spec(managed("checkout", mode="invisible"), defaults={"region": "china"})
    result = plan(desired, halves())
    assert [(a.kind, a.sitekey) for a in result.actions] == [
        (ActionKind.UPDATE, "0xNEW"),
        (ActionKind.DELETE, "0xOLD"),
    ]


def test_every_old_half_of_a_twice_interrupted_replacement_is_deleted():
    current = [live("checkout", "0xOLDER", region="world"), *halves()]
    result = plan(spec(managed("checkout", region="china"), max_deletes=2), current)
    assert [a.sitekey for a in result.actions] == ["0xOLDER", "0xOLD"]


@pytest.mark.parametrize(
    ("desired", "current"),
    [
        # The spec does not say which region it wants.
        (managed("checkout"), halves()),
        # Not exactly one widget in the wanted region.
        (managed("checkout", region="china"), halves(old={"region": "china"})),
        (managed("checkout", region="china"), halves(new={"region": "world"})),
        # The other widget differs in more than its region: not a copy made by a replacement.
        (managed("checkout", region="china"), halves(old={"domains": ["other.example"]})),
        (managed("checkout", region="china"), halves(old={"mode": "invisible"})),
        (managed("checkout", region="china"), halves(old={"clearance_level": "managed"})),
        # Made after the widget in the wanted region, so it cannot be what that replaced.
        (managed("checkout", region="china"), halves(old={"created_on": "2026-01-03T00:00:00Z"})),
        # Changed after the replacement started: someone still uses it.
        (managed("checkout", region="china"), halves(old={"modified_on": "2026-01-03T00:00:00Z"})),
        # Timestamps that cannot be read prove nothing.
        (managed("checkout", region="china"), halves(old={"created_on": ""})),
        (managed("checkout", region="china"), halves(new={"created_on": "yesterday"})),
    ],
    ids=[
        "no-region",
        "two-in-region",
        "none-in-region",
        "other-domains",
        "other-mode",
        "other-clearance",
        "old-is-newer",
        "old-touched-since",
        "no-created-on",
        "unreadable-created-on",
    ],
)
def test_same_named_widgets_that_are_not_an_interrupted_replacement_stay_ambiguous(
    desired, current
):
    with pytest.raises(PlanError) as caught:
        plan(spec(desired), current)
    assert "'checkout' matches 2 live widgets (0xNEW, 0xOLD)" in str(caught.value)


def test_a_pinned_entry_never_finishes_a_replacement():
    desired = spec(managed("checkout", region="china", sitekey="0xNEW"))
    result = plan(desired, halves())
    assert result.actions == ()
    assert [w.sitekey for w in result.unmanaged] == ["0xOLD"]


# Look-alike names


def test_a_look_alike_of_a_spec_name_is_a_warning_not_a_silent_create():
    result = plan(spec(managed("checkout")), [live("Checkout", "0xC")])
    assert [a.kind for a in result.actions] == [ActionKind.CREATE]
    assert result.warnings == (
        "live widget 'Checkout' (0xC) and spec entry 'checkout' differ only by case or Unicode "
        "normalisation, so they are different widgets to this plan: it creates 'checkout' and "
        "leaves 'Checkout' alone. If they are one widget, pin it with 'sitekey: 0xC' on the "
        "entry (a rename in place), or make the names identical in the spec or the dashboard.",
    )


def test_look_alike_warnings_say_what_the_plan_does_with_each():
    desired = spec(managed("checkout"), managed("cafe\u0301"), prune=True, max_deletes=5)
    current = [
        live("checkout", "0xA"),
        live("CHECKOUT", "0xB"),
        live("café", "0xC"),
        live("x", "0xX"),
    ]
    warnings = plan(desired, current).warnings
    assert len(warnings) == 2
    assert "it manages 'checkout' as 0xA and deletes 'CHECKOUT'" in warnings[0]
    assert "it creates 'cafe\u0301' and deletes 'caf\u00e9'" in warnings[1]


def test_exact_and_unrelated_names_give_no_warning():
    result = plan(spec(managed("login")), [live("login", "0xA"), live("logins", "0xB")])
    assert result.warnings == ()


def test_names_cannot_start_a_new_line_in_plan_errors():
    """A spec name cannot hold a newline at all (control characters are refused), so plan
    errors, which quote spec names, never see one."""
    with pytest.raises(ValidationError, match="cannot contain control characters"):
        spec(managed(FORGED_NAME))


def test_ipv6_written_out_in_full_is_not_drift():
    current = live("login", "0xA", domains=["2001:0DB8:0000::1"])
    assert plan(spec(managed(domains=["2001:db8::1"])), [current]).actions == ()
