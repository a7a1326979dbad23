"""An account larger than the API's page size cap: export, then plan and apply change nothing.

A client that stopped at the first short page would see 5 of 12 widgets and plan 7 duplicate
creates; these tests run in-process and against `emulator serve --per-page-cap`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ACCOUNT
from tests.e2e.conftest import EmulatorTarget, live_widgets
from tests.processes import served_emulator
from turnstile_sync import emulator as emulator_package
from turnstile_sync.emulator import ENTERPRISE, Backend, EmulatorOptions, Faults

CAP = 5
WIDGETS = 12


@pytest.fixture(params=["in-process", "served"])
def capped(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorTarget]:
    """The e2e target with the emulator serving at most CAP widgets a page."""
    db = tmp_path / "emulator.sqlite3"
    if request.param == "in-process":
        options = EmulatorOptions(faults=Faults(per_page_cap=CAP))
        monkeypatch.setattr(
            emulator_package,
            "emulator_transport",
            functools.partial(emulator_package.emulator_transport, options=options),
        )
        yield EmulatorTarget(db, ["--emulator", "--emulator-db", str(db)], {})
        return
    with served_emulator(db, "--per-page-cap", str(CAP)) as base_url:
        env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "e2e-token"}
        yield EmulatorTarget(db, [], env)


def seed_many(db: Path, count: int) -> None:
    backend = Backend(db, account_plan=ENTERPRISE)  # past Free's 20-widget limit if need be
    try:
        for i in range(count):
            backend.create(
                ACCOUNT, {"name": f"widget {i}", "mode": "managed", "domains": [f"w{i}.example"]}
            )
    finally:
        backend.close()


def test_export_then_plan_is_empty_under_a_page_cap(capped, tmp_path):
    seed_many(capped.db, WIDGETS)
    spec = tmp_path / "exported.yaml"
    exported = capped.run(["export", "--account-id", ACCOUNT, "--out", str(spec)])
    assert exported.exit_code == 0, exported.stderr
    assert spec.read_text().count("- name:") == WIDGETS

    planned = capped.run(["plan", str(spec), "--detailed-exitcode"])
    assert planned.exit_code == 0, planned.stdout + planned.stderr

    applied = capped.run(["apply", str(spec), "--auto-approve"])
    assert applied.exit_code == 0, applied.stderr
    assert len(live_widgets(capped.db)) == WIDGETS  # no duplicate was created


def test_a_spec_with_one_new_widget_creates_only_that_one_under_a_page_cap(capped, tmp_path):
    seed_many(capped.db, WIDGETS)
    entries = [(f"widget {i}", f"w{i}.example") for i in range(WIDGETS)]
    entries.append(("brand new", "new.example"))
    spec = tmp_path / "widgets.yaml"
    lines = [f"account_id: {ACCOUNT}", "widgets:"]
    for name, domain in entries:
        lines += [f"  - name: {name}", "    mode: managed", f"    domains: [{domain}]"]
    spec.write_text("\n".join(lines) + "\n")

    applied = capped.run(["apply", str(spec), "--auto-approve"])
    assert applied.exit_code == 0, applied.stderr
    names = sorted(widget["name"] for widget in live_widgets(capped.db))
    assert names == sorted(name for name, _ in entries)
