"""In CI (CI set, no terminal) apply and rotate-secret say exactly what to add to the command
line, instead of the generic "no terminal" refusal; with a terminal they still ask."""

from __future__ import annotations

from tests.conftest import run_cli
from tests.e2e.conftest import live_widgets, seed
from tests.e2e.test_safety import entry, spec_text
from tests.processes import run_in_terminal

APPLY_REMEDY = (
    "refusing to apply: there is no terminal to ask for confirmation on, and CI is set: add "
    "--auto-approve, or apply a reviewed plan with --plan FILE (see `plan --out`)."
)


def test_apply_in_ci_says_what_to_add(write_spec, target):
    path = str(write_spec(spec_text(entry("login"))))
    for ci in ("true", "1", "yes"):  # any non-empty value, as CI services set it
        refused = target.run(["apply", path], env={"CI": ci})
        assert refused.exit_code == 1
        assert APPLY_REMEDY in refused.stderr
        assert "+ create 'login'" in refused.stdout  # the plan is shown first, as before
    assert live_widgets(target.db) == []


def test_without_ci_the_refusal_is_the_generic_one(write_spec, target):
    path = str(write_spec(spec_text(entry("login"))))
    for env in ({"CI": ""}, {"CI": None}):
        refused = target.run(["apply", path], env=env)
        assert refused.exit_code == 1
        assert "refusing to apply: there is no terminal to ask for confirmation on." in (
            refused.stderr
        )
        assert "CI is set" not in refused.stderr
    assert live_widgets(target.db) == []


def test_what_the_message_says_to_add_works_in_ci(write_spec, target, tmp_path):
    path = str(write_spec(spec_text(entry("login"))))
    plan_file = tmp_path / "plan.json"
    assert target.run(["plan", path, "--out", str(plan_file)], env={"CI": "true"}).exit_code == 0
    reviewed = target.run(["apply", path, "--plan", str(plan_file)], env={"CI": "true"})
    assert reviewed.exit_code == 0, reviewed.stderr
    assert [w["name"] for w in live_widgets(target.db)] == ["login"]

    changed = str(write_spec(spec_text(entry("login", mode="invisible"))))
    approved = target.run(["apply", changed, "--auto-approve"], env={"CI": "true"})
    assert approved.exit_code == 0, approved.stderr
    assert [w["mode"] for w in live_widgets(target.db)] == ["invisible"]


def test_rotate_secret_in_ci_says_to_add_auto_approve(write_spec, emulator_db):
    seed(emulator_db, name="login")
    path = str(write_spec(spec_text(entry("login"))))
    emulator = ["--emulator", "--emulator-db", str(emulator_db)]
    refused = run_cli(["rotate-secret", "login", "--spec", path, *emulator], env={"CI": "true"})
    assert refused.exit_code == 1
    assert (
        "refusing to rotate the secret: there is no terminal to ask for confirmation on, and "
        "CI is set: add --auto-approve (after reviewing what it will do)." in refused.stderr
    )


def test_ci_with_a_terminal_still_asks(write_spec, emulator_db, tmp_path):
    path = str(write_spec(spec_text(entry("login"))))
    emulator = ["--emulator", "--emulator-db", str(emulator_db)]
    code, output = run_in_terminal(["apply", path, *emulator], "yes", tmp_path, {"CI": "true"})
    assert code == 0, output
    assert "Only 'yes' will be accepted" in output
    assert "CI is set" not in output
    assert [w["name"] for w in live_widgets(emulator_db)] == ["login"]
