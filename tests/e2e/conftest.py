"""The emulator target every end-to-end test runs against, twice: in-process and served."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT, CliResult, run_cli
from tests.processes import served_emulator
from turnstile_sync.emulator import Backend


@dataclass(frozen=True)
class EmulatorTarget:
    """How the CLI reaches the emulator: in-process (--emulator) or served on a socket."""

    db: Path
    args: list[str]
    env: dict[str, str]

    def run(
        self, args: list[str], *, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> CliResult:
        return run_cli([*args, *self.args], env={**self.env, **(env or {})}, input=input)


@pytest.fixture(params=["in-process", "served"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmulatorTarget]:
    """Every end-to-end test runs against the in-process emulator and a served one."""
    db = tmp_path / "emulator.sqlite3"
    if request.param == "in-process":
        yield EmulatorTarget(db, ["--emulator", "--emulator-db", str(db)], {})
        return
    with served_emulator(db, "--china-network") as base_url:
        env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "e2e-token"}
        yield EmulatorTarget(db, [], env)


def live_widgets(db: Path) -> list[dict[str, Any]]:
    backend = Backend(db)
    try:
        return backend.list_widgets(ACCOUNT, page=1, per_page=1000)[0]
    finally:
        backend.close()


def seed(db: Path, **fields: Any) -> dict[str, Any]:
    backend = Backend(db)
    try:
        return backend.create(ACCOUNT, {"mode": "managed", "domains": ["example.com"], **fields})
    finally:
        backend.close()
