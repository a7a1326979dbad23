"""What an application's test suite sees when a secret is rotated: the widget comes from a spec
(`apply`), its secret from `--secrets-out`, tokens from the served emulator, and verdicts from
its siteverify, exactly as the README walks through it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import ACCOUNT, run_cli
from tests.processes import served_emulator

SPEC = f"""
account_id: {ACCOUNT}
widgets:
  - name: login
    mode: managed
    domains: [example.com]
"""


def _secret(path: Path) -> tuple[str, str]:
    entry = json.loads(path.read_text())["login"]
    return entry["sitekey"], entry["secret"]


@pytest.mark.parametrize("immediately", [False, True], ids=["grace", "invalidate-immediately"])
def test_rotate_secret_keeps_the_old_secret_valid_only_in_grace(write_spec, tmp_path, immediately):
    spec = str(write_spec(SPEC))
    secrets_file = tmp_path / "secrets.json"
    with served_emulator(tmp_path / "app.sqlite3") as base_url:
        root = base_url.removesuffix("/client/v4")
        env = {"CLOUDFLARE_BASE_URL": base_url, "CLOUDFLARE_API_TOKEN": "t"}
        applied = run_cli(
            ["apply", spec, "--auto-approve", "--secrets-out", str(secrets_file)], env=env
        )
        assert applied.exit_code == 0, applied.stderr
        sitekey, old = _secret(secrets_file)

        def verify(secret: str) -> dict[str, object]:
            token = httpx.post(
                root + "/__emulator/tokens",
                json={"sitekey": sitekey, "hostname": "example.com", "action": "login"},
            ).json()["result"]["token"]
            answer: dict[str, object] = httpx.post(
                root + "/turnstile/v0/siteverify", data={"secret": secret, "response": token}
            ).json()
            return answer

        assert verify(old)["success"] is True
        rotate = ["rotate-secret", "login", "--spec", spec, "--auto-approve"]
        rotate += ["--secrets-out", str(secrets_file)]
        rotated = run_cli(rotate + (["--invalidate-immediately"] if immediately else []), env=env)
        assert rotated.exit_code == 0, rotated.stderr
        _, new = _secret(secrets_file)
        assert new != old
        old_answer, new_answer = verify(old), verify(new)
    assert new_answer["success"] is True
    if immediately:
        assert old_answer == {"success": False, "error-codes": ["invalid-input-secret"]}
    else:
        assert old_answer["success"] is True
