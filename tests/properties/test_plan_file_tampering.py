"""Property: however a reviewed plan file is edited, `apply --plan` either refuses it with the
account byte-for-byte unchanged, or leaves the account exactly as the unedited plan does.

One real plan is made once (updates, a create, a pruned delete within max_deletes, a
protected widget, an ignored one); every example edits a copy of it and applies it through
the real CLI entry point to a fresh copy of the emulator's state file.
"""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import ACCOUNT, OTHER_ACCOUNT, run_cli
from turnstile_sync.emulator import Backend
from turnstile_sync.models import LiveWidget
from turnstile_sync.planfile import fingerprint

SPEC = f"""\
account_id: {ACCOUNT}
prune: true
max_deletes: 1
protected: [checkout]
ignore: ["legacy-*"]
widgets:
  - name: login
    mode: invisible
    domains: [example.com]
  - name: checkout
    mode: managed
    domains: [shop.example.com]
  - name: new
    mode: managed
    domains: [example.com]
"""
SEEDED = ("login", "checkout", "old", "legacy-one")
ACCOUNTS = (ACCOUNT, OTHER_ACCOUNT, "f" * 32)


def every_widget(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every widget of every account the tampering could reach, secrets and timestamps too."""
    backend = Backend(db)
    try:
        return {
            account: backend.list_widgets(account, page=1, per_page=1000)[0] for account in ACCOUNTS
        }
    finally:
        backend.close()


def apply_plan(db: Path, plan_file: Path) -> tuple[int, str]:
    spec = plan_file.parent / "widgets.yaml"  # the reviewed spec, as a pipeline passes it
    result = run_cli(
        ["apply", str(spec), "--plan", str(plan_file), "--emulator", "--emulator-db", str(db)]
    )
    return result.exit_code, result.stdout + result.stderr


def end_state(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]):
    """The account as a comparable value: widgets that existed keep their sitekeys; a new
    widget's sitekey, secret and timestamps are its own, so only its content counts; a
    changed widget's modified_on is the time it was changed."""
    old = {w["sitekey"]: w for widgets in before.values() for w in widgets}
    state = {}
    for account, widgets in after.items():
        kept, created = [], []
        for widget in widgets:
            if widget["sitekey"] in old:
                same = widget == old[widget["sitekey"]]
                kept.append(widget if same else {**widget, "modified_on": "changed"})
            else:
                fresh = {"sitekey", "secret", "created_on", "modified_on"}
                created.append({k: v for k, v in widget.items() if k not in fresh})
        key = json.dumps
        state[account] = (sorted(kept, key=key), sorted(created, key=key))
    return state


@dataclass(frozen=True)
class Reviewed:
    base_db: Path
    document: dict[str, Any]
    before: dict[str, list[dict[str, Any]]]
    expected: Any
    fingerprints: list[dict[str, str]]
    sitekeys: list[str]
    workdir: Path


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    root = tmp_path_factory.mktemp("tampering")
    base_db = root / "base.sqlite3"
    backend = Backend(base_db)
    try:
        for name in SEEDED:
            backend.create(ACCOUNT, {"name": name, "mode": "managed", "domains": ["example.com"]})
    finally:
        backend.close()
    spec = root / "widgets.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    plan_file = root / "plan.json"
    made = run_cli(
        ["plan", str(spec), "--out", str(plan_file), "--emulator", "--emulator-db", str(base_db)]
    )
    assert made.exit_code == 0, made.stderr
    document = json.loads(plan_file.read_text())
    assert [(a["kind"], a["name"]) for a in document["actions"]] == [
        ("create", "new"),
        ("update", "login"),
        ("update", "checkout"),
        ("delete", "old"),
    ]
    before = every_widget(base_db)

    applied_db = root / "applied.sqlite3"
    shutil.copyfile(base_db, applied_db)
    code, output = apply_plan(applied_db, plan_file)
    assert code == 0, output
    expected = end_state(before, every_widget(applied_db))

    live = before[ACCOUNT]
    return Reviewed(
        base_db=base_db,
        document=document,
        before=before,
        expected=expected,
        fingerprints=[fingerprint(LiveWidget.model_validate(w)).model_dump() for w in live],
        sitekeys=[w["sitekey"] for w in live],
        workdir=root,
    )


# Mutations: each edits the document in place, drawing what it needs.

Draw = Callable[[st.SearchStrategy[Any]], Any]
KINDS = ["create", "update", "replace", "delete"]
NAMES = [*SEEDED, "new", "harmless", "Checkout", ""]
BODY_VALUES: dict[str, list[Any]] = {
    "mode": ["managed", "invisible", "non-interactive", "bogus"],
    "domains": [[], ["evil.example"], ["example.com"], ["shop.example.com", "example.com"]],
    "region": ["world", "china", None],
    "clearance_level": ["no_clearance", "jschallenge", "managed", "interactive", None],
    "bot_fight_mode": [True, False, None],
    "ephemeral_id": [True, False, None],
    "offlabel": [True, False, None],
    "name": NAMES,
}


def _index(draw: Draw, document: dict[str, Any]) -> int | None:
    actions = document["actions"]
    return draw(st.integers(0, len(actions) - 1)) if actions else None


def _sitekey(draw: Draw, r: Reviewed) -> str | None:
    return draw(st.sampled_from([*r.sitekeys, None, "0x4AAAAAAAnotawidget0000"]))


def _fingerprint(draw: Draw, r: Reviewed) -> Any:
    chosen = copy.deepcopy(draw(st.sampled_from([*r.fingerprints, None])))
    if chosen is not None and draw(st.booleans()):
        field = draw(st.sampled_from(["modified_on", "sha256", "sitekey"]))
        chosen[field] = draw(st.sampled_from(["", "2020-01-01T00:00:00Z", "0" * 64]))
    return chosen


def mutate_action(draw: Draw, document: dict[str, Any], r: Reviewed) -> None:
    i = _index(draw, document)
    if i is None:
        return
    action = document["actions"][i]
    field = draw(
        st.sampled_from(
            [
                *("kind", "sitekey", "name", "planned_against", "name_taken_by", "reason"),
                *("changes", "body", "body-field", "redirect"),
            ]
        )
    )
    if field == "kind":
        action["kind"] = draw(st.sampled_from(KINDS))
    elif field == "sitekey":
        action["sitekey"] = _sitekey(draw, r)
    elif field == "name":
        action["name"] = draw(st.sampled_from(NAMES))
    elif field == "planned_against":
        action["planned_against"] = _fingerprint(draw, r)
    elif field == "name_taken_by":
        action["name_taken_by"] = draw(st.lists(st.sampled_from(r.sitekeys), max_size=2))
    elif field == "reason":
        action["reason"] = draw(st.sampled_from(["", "managed fields differ from the spec"]))
    elif field == "changes":
        if action["changes"] and draw(st.booleans()):
            action["changes"].pop(draw(st.integers(0, len(action["changes"]) - 1)))
        else:
            action["changes"].append({"field": "mode", "before": "managed", "after": "invisible"})
    elif field == "body":
        other = document["actions"][draw(st.integers(0, len(document["actions"]) - 1))]
        action["body"] = copy.deepcopy(draw(st.sampled_from([None, other["body"]])))
    elif field == "body-field":
        if action["body"] is not None:
            name = draw(st.sampled_from(sorted(BODY_VALUES)))
            action["body"][name] = draw(st.sampled_from(BODY_VALUES[name]))
    else:  # aim the action at another widget, consistently
        planned = _fingerprint(draw, r)
        action["planned_against"] = planned
        action["sitekey"] = planned["sitekey"] if planned else None


def mutate_actions(draw: Draw, document: dict[str, Any], r: Reviewed) -> None:
    actions = document["actions"]
    how = draw(st.sampled_from(["duplicate", "drop", "add-delete", "add-create", "swap"]))
    i = _index(draw, document)
    if how == "duplicate" and i is not None:
        actions.insert(draw(st.integers(0, len(actions))), copy.deepcopy(actions[i]))
    elif how == "drop" and i is not None:
        actions.pop(i)
    elif how == "add-delete":
        planned = copy.deepcopy(draw(st.sampled_from(r.fingerprints)))
        name = next(w["name"] for w in r.before[ACCOUNT] if w["sitekey"] == planned["sitekey"])
        actions.append(
            {
                "kind": "delete",
                "name": draw(st.sampled_from([name, "harmless"])),
                "sitekey": planned["sitekey"],
                "reason": "not in the spec and prune is on",
                "changes": [],
                "body": None,
                "planned_against": planned,
                "name_taken_by": [],
            }
        )
    elif how == "add-create":
        name = draw(st.sampled_from(NAMES[:-1]))
        actions.insert(
            0,
            {
                "kind": "create",
                "name": name,
                "sitekey": None,
                "reason": "not in the account",
                "changes": [],
                "body": {"name": name, "mode": "managed", "domains": ["evil.example"]},
                "planned_against": None,
                "name_taken_by": draw(st.lists(st.sampled_from(r.sitekeys), max_size=2)),
            },
        )
    elif how == "swap" and len(actions) > 1:
        j = draw(st.integers(0, len(actions) - 1))
        actions[i], actions[j] = actions[j], actions[i]


def mutate_top(draw: Draw, document: dict[str, Any], r: Reviewed) -> None:
    field = draw(
        st.sampled_from(
            [
                *("account_id", "guards", "protection", "summary", "target", "spec"),
                *("version", "created_at", "created_by", "unmanaged", "ignored"),
            ]
        )
    )
    if field == "account_id":
        document["account_id"] = draw(st.sampled_from(ACCOUNTS[1:]))
    elif field == "guards":
        key = draw(st.sampled_from(["max_deletes", "forced"]))
        value = draw(st.integers(0, 5) if key == "max_deletes" else st.booleans())
        document["guards"][key] = value
    elif field == "protection":
        key = draw(st.sampled_from(["patterns", "entries"]))
        document["protection"][key] = draw(st.sampled_from([[], ["checkout"], ["*"], ["old"]]))
    elif field == "summary":
        kind = draw(st.sampled_from(KINDS))
        document["summary"][kind] = draw(st.integers(0, 4))
    elif field == "target":
        document["target"] = "https://api.cloudflare.com/client/v4"
    elif field == "spec":
        key = draw(st.sampled_from(["path", "sha256"]))
        document["spec"][key] = draw(st.sampled_from(["", str(r.workdir / "other.yaml")]))
    elif field == "version":
        document["version"] = draw(st.sampled_from([1, 3]))
    elif field in ("created_at", "created_by"):
        document[field] = "2001-01-01T00:00:00+00:00 by someone else"
    else:  # unmanaged / ignored: informational, may change
        document[field] = [{"name": "legacy-one", "sitekey": r.sitekeys[0]}]


def make_consistent(document: dict[str, Any]) -> None:
    """What a careful attacker does after editing: make each action pass the file's own
    consistency checks, so the edit reaches the comparison with the re-derived plan."""
    for action in document["actions"]:
        if action["kind"] == "delete":
            action["body"] = None
        elif action["body"] is None:
            action["body"] = {"name": action["name"], "mode": "managed", "domains": ["x.example"]}
        if action["body"] is not None:
            action["body"]["name"] = action["name"]
        if action["kind"] == "create":
            action["planned_against"] = None
            action["sitekey"] = None
        elif action["planned_against"] is not None:
            action["sitekey"] = action["planned_against"]["sitekey"]


MUTATIONS = [mutate_action, mutate_action, mutate_actions, mutate_top]
examples = itertools.count()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_edited_plan_is_refused_or_applies_exactly_the_reviewed_plan(
    reviewed: Reviewed, data: st.DataObject
) -> None:
    document = copy.deepcopy(reviewed.document)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        data.draw(st.sampled_from(MUTATIONS), label="mutation")(data.draw, document, reviewed)
    if data.draw(st.booleans(), label="made consistent"):
        make_consistent(document)

    number = next(examples)
    db = reviewed.workdir / f"example-{number}.sqlite3"
    plan_file = reviewed.workdir / f"example-{number}.json"
    shutil.copyfile(reviewed.base_db, db)
    plan_file.write_text(json.dumps(document), encoding="utf-8")
    try:
        code, output = apply_plan(db, plan_file)
        assert code in (0, 1), output
        assert "Internal error" not in output and "Traceback" not in output, output
        after = every_widget(db)
    finally:
        db.unlink()
        plan_file.unlink()
    event(_outcome(code, output))
    if code == 1:
        assert after == reviewed.before, f"refused, yet the account changed:\n{output}"
    else:
        assert end_state(reviewed.before, after) == reviewed.expected, output


def _outcome(code: int, output: str) -> str:
    """How an example ended, for --hypothesis-show-statistics: refused how, or applied."""
    if code == 0:
        return "applied"
    for reason in ("is damaged", "is stale", "does not match", "is a plan for account"):
        if reason in output:
            return f"refused: {reason}"
    return "refused: other"
