"""Shared fixtures: the CLI run in-process, specs written to temporary files, emulator clients."""

from __future__ import annotations

import os
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings

from tests.conformance import check_log
from turnstile_sync.cli import main
from turnstile_sync.client import TurnstileClient
from turnstile_sync.emulator import IN_PROCESS_BASE_URL, emulator_transport
from turnstile_sync.emulator.middleware import REQUEST_LOG_ENV

# Property tests: 200 derandomized examples each in CI (reproducible), many more in `make soak`.
settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None)
settings.register_profile("soak", max_examples=2_000, derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
OTHER_ACCOUNT = "11111111111111111111111111111111"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(
    args: list[str], *, env: dict[str, str | None] | None = None, input: str | None = None
) -> CliResult:
    """Run the real entry point (``main``), exit-code mapping and error handling included."""
    base_env: dict[str, str | None] = {
        "CLOUDFLARE_API_TOKEN": None,
        "CLOUDFLARE_EMAIL": None,
        "CLOUDFLARE_API_KEY": None,
        "CLOUDFLARE_ACCOUNT_ID": None,
        "CLOUDFLARE_BASE_URL": None,
        "TURNSTILE_SYNC_DEBUG": None,
    }
    base_env.update(env or {})
    runner = CliRunner()
    with runner.isolation(input=input, env=base_env) as (stdout, stderr, _):
        try:
            main(args)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        else:
            code = 0
        return CliResult(code, stdout.getvalue().decode(), stderr.getvalue().decode())


CONFORMANCE_CHECKED = [0]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"schema conformance: {CONFORMANCE_CHECKED[0]} emulator exchanges checked against "
        "Cloudflare's OpenAPI schema"
    )


@pytest.fixture(autouse=True)
def schema_conformance(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every emulator exchange in every test is checked against Cloudflare's OpenAPI schema."""
    log = tmp_path_factory.mktemp("exchanges") / "exchanges.jsonl"
    monkeypatch.setenv(REQUEST_LOG_ENV, str(log))
    yield
    checked, problems = check_log(log)
    CONFORMANCE_CHECKED[0] += checked
    assert not problems, "emulator exchanges break Cloudflare's schema:\n" + "\n".join(problems)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "widgets.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def emulator_db(tmp_path: Path) -> Path:
    return tmp_path / "emulator.sqlite3"


@pytest.fixture
async def emulator_client(emulator_db: Path) -> AsyncIterator[TurnstileClient]:
    """A client of the in-process emulator, sharing its state file with CLI runs in the test."""
    async with TurnstileClient(
        ACCOUNT, base_url=IN_PROCESS_BASE_URL, transport=emulator_transport(emulator_db)
    ) as client:
        yield client
