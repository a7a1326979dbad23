"""A user name, password or token put in CLOUDFLARE_BASE_URL never leaves the process.

Cloudflare's API takes neither userinfo nor a query string on the base URL, and with httpx
both break every request (userinfo replaces the API token with HTTP Basic auth; a query
swallows the API path), so such a URL is refused before any request, without repeating it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.processes import free_port, served_emulator

SECRETS = ("PASSWORD", "SECRET", "FRAGMENT")


def spec(tmp_path: Path) -> Path:
    path = tmp_path / "widgets.yaml"
    path.write_text(
        f"account_id: {ACCOUNT}\nwidgets:\n  - name: a\n    mode: managed\n"
        "    domains: [example.com]\n"
    )
    return path


def with_credentials(base_url: str, form: str) -> str:
    scheme, rest = base_url.split("://", 1)
    if form == "userinfo":
        return f"{scheme}://user:PASSWORD@{rest}"
    if form == "query":
        return f"{base_url}?token=SECRET"
    if form == "fragment":
        return f"{base_url}#FRAGMENT"
    return f"{scheme}://user:PASSWORD@{rest}?token=SECRET#FRAGMENT"


def commands(tmp_path: Path, spec_path: Path) -> list[list[str]]:
    out = tmp_path / "plan.json"
    return [
        ["plan", str(spec_path), "--out", str(out), "--format", "json"],
        ["-v", "plan", str(spec_path), "--format", "markdown"],
        ["apply", str(spec_path), "--auto-approve", "--format", "json", "--max-retry-time", "1"],
        ["apply", "--plan", str(out), "--max-retry-time", "1"],
    ]


def assert_refused_without_leaking(base_url: str, tmp_path: Path) -> None:
    spec_path = spec(tmp_path)
    env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "t"}
    for args in commands(tmp_path, spec_path):
        result = run_cli(args, env=env)
        output = result.stdout + result.stderr
        assert result.exit_code == 1, output
        assert "CLOUDFLARE_BASE_URL" in result.stderr, output
        for secret in SECRETS:
            assert secret not in output, (args, output)
        assert "Internal error" not in output
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize("form", ["userinfo", "query", "fragment", "all"])
def test_credentials_in_the_base_url_of_a_served_emulator_are_refused_unrepeated(tmp_path, form):
    with served_emulator(tmp_path / "emulator.sqlite3") as base_url:
        assert_refused_without_leaking(with_credentials(base_url, form), tmp_path)


def test_credentials_in_the_base_url_of_a_refused_port_are_refused_unrepeated(tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}/client/v4"
    assert_refused_without_leaking(with_credentials(base_url, "all"), tmp_path)


def test_the_refusal_says_what_to_do(tmp_path):
    env = {
        "CLOUDFLARE_BASE_URL": "https://user:PASSWORD@api.cloudflare.com/client/v4",
        "CLOUDFLARE_API_TOKEN": "t",
    }
    result = run_cli(["plan", str(spec(tmp_path))], env=env)
    assert result.exit_code == 1
    assert "Cloudflare's API does not take credentials in the URL" in result.stderr
    assert "set CLOUDFLARE_API_TOKEN instead" in result.stderr


def test_an_unreachable_api_is_named_by_its_public_url(tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}/client/v4"
    env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "t"}
    result = run_cli(["plan", str(spec(tmp_path)), "--max-retry-time", "0"], env=env)
    assert result.exit_code == 1
    assert f"cannot reach {base_url}" in result.stderr
    assert "Internal error" not in result.stderr
