"""A saved targeted plan, rendered by `show`, must say it is targeted, as `plan` did: README
("A targeted plan says so in every format"; `show` "renders a saved plan exactly as `plan`
printed it"). Otherwise a reviewer reading the pipeline's artifact takes a partial plan for
the whole account, and drift outside the selection goes unseen."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import seed
from tests.e2e.test_safety import entry, spec_text
from tests.e2e.test_show_saved_plan import in_process, show


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_show_of_a_targeted_plan_says_it_is_targeted(
    write_spec, emulator_db, tmp_path, output_format
):
    seed(emulator_db, name="checkout", mode="invisible")
    seed(emulator_db, name="login", mode="invisible")
    spec = write_spec(spec_text(entry("checkout"), entry("login")))
    plan_file = tmp_path / "plan.json"
    planned = in_process(
        emulator_db,
        "plan",
        str(spec),
        "--target",
        "checkout",
        "--out",
        str(plan_file),
        "--format",
        output_format,
    )
    assert planned.exit_code == 0, planned.stderr
    assert "checkout" in planned.stdout
    targeted_marker = "targets" if output_format == "json" else "Targeted"
    assert targeted_marker in planned.stdout

    shown = show(str(plan_file), "--format", output_format)

    assert shown.exit_code == 0, shown.stderr
    assert targeted_marker in shown.stdout, shown.stdout
    assert shown.stdout == planned.stdout


def test_show_of_a_plan_made_with_replace_lists_the_replace_flags_in_json(
    write_spec, emulator_db, tmp_path
):
    """`plan --format json` records `"replace": ["checkout"]`; `show --format json` of the same
    saved plan must not turn it into `[]`."""
    seed(emulator_db, name="checkout")
    spec = write_spec(spec_text(entry("checkout")))
    plan_file = tmp_path / "plan.json"
    planned = in_process(
        emulator_db,
        "plan",
        str(spec),
        "--replace",
        "checkout",
        "--out",
        str(plan_file),
        "--format",
        "json",
    )
    assert planned.exit_code == 0, planned.stderr
    assert json.loads(planned.stdout)["replace"] == ["checkout"]

    shown = show(str(plan_file), "--format", "json")

    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["replace"] == ["checkout"]
