"""The secret-store recipes in docs/secret-stores.md, run exactly as `--secrets-exec` runs them.

Every ```sh block in the doc is run with `sh -c RECIPE`, the TURNSTILE_* variables set (with a
hostile TURNSTILE_WIDGET_NAME), the secret on standard input with no trailing newline, and a PATH
that holds nothing but recorded commands: the stand-ins ("shims") in
tests/data/secret-store-shims/shim.py for gh, wrangler, vault, aws, kubectl and op, and
recording wrappers around the real utilities a recipe may call (tr, jq, the real `keyring`
client, ...). Each recipe runs twice, as a create and then a rotation, and must leave exactly the
latest secret in the store, byte for byte, with the secret in no process's argv or environment,
names taken from TURNSTILE_WIDGET_KEY, and nothing executed from the widget name.

What this proves and what it does not: the shims imitate each client's documented argument
parsing and stdin handling (sources cited in the doc), so these tests prove the recipes' shell
quoting and argv/stdin usage. They prove nothing about the remote services, permissions or client
versions. Two recipes go further: the `keyring` recipe runs the real `keyring` command-line client
with keyrings.alt's file backend, and where `kubectl` or `aws` is installed, the real client runs
its half (kubectl's client-side manifest; aws against a local HTTP stand-in for SSM).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from turnstile_sync.widget_keys import widget_key

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "secret-stores.md"
SHIMS = ROOT / "tests" / "data" / "secret-store-shims"
SHIMMED = ("gh", "wrangler", "vault", "aws", "kubectl", "op")
# Real utilities a recipe may call; each is wrapped so that its argv is recorded too.
# touch and rm are there so that a recipe which evaluates the hostile name really does harm.
UTILITIES = (
    "tr",
    "jq",
    "cat",
    "sed",
    "awk",
    "base64",
    "head",
    "tail",
    "printf",
    "echo",
    "env",
    "touch",
    "rm",
)

# Balanced quotes on purpose: a recipe that evaluates the name would run all of it.
HOSTILE_NAME = 'Checkout page (EU) $(touch pwned) "; rm -rf x; echo "`touch pwned2`'
KEY = widget_key(HOSTILE_NAME)
SITEKEY = "0x4AAAAAAAsitekey000000"
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
# Shell metacharacters inside the secret prove it is never evaluated; no trailing whitespace, as
# Cloudflare's secrets have none (gh, wrangler and keyring trim trailing newlines/whitespace).
FIRST_SECRET = "0x4AAAAAAA-first_$(touch pwned3)'\"\\ `id` ;|&"
ROTATED_SECRET = "0x4AAAAAAA-rotated_0123456789abcdefABCDEF"

STORES = {
    "`gh secret set`": "gh",
    "`wrangler secret put`": "wrangler",
    "`vault kv put`": "vault",
    "`aws ssm put-parameter`": "aws",
    "`kubectl create secret generic`": "kubectl",
    "`op item create`": "op",
    "Python `keyring`": "keyring",
}


def recipes() -> dict[str, str]:
    """Store -> the one ```sh block under its heading in docs/secret-stores.md."""
    found: dict[str, str] = {}
    for section in re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        heading = section.splitlines()[0]
        blocks = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
        store = next(name for marker, name in STORES.items() if marker in heading)
        assert len(blocks) == 1, f"{heading!r} must hold exactly one sh block"
        found[store] = blocks[0].strip()
    return found


RECIPES = recipes()


@dataclass
class Sandbox:
    root: Path
    bin: Path
    work: Path
    log: Path
    state: Path
    env: dict[str, str]

    def run(self, recipe: str, secret: str, event: str) -> subprocess.CompletedProcess[bytes]:
        env = {**self.env, "TURNSTILE_SECRET_EVENT": event}
        return subprocess.run(
            ["/bin/sh", "-c", recipe],
            input=secret.encode(),
            env=env,
            cwd=self.work,
            capture_output=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stored(self, tool: str) -> dict[str, Any]:
        path = self.state / f"{tool}.json"
        return json.loads(path.read_text()) if path.exists() else {}


def recorded(path: Path, target: str) -> None:
    """An executable that records its call, then acts as the shim `target` or runs the real
    program at the absolute path `target`."""
    path.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(SHIMS)!r})\n"
        f"from shim import main\nmain({target!r})\n"
    )
    path.chmod(0o755)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    original_path = os.environ.get("PATH", "")
    for tool in SHIMMED:
        recorded(bin_dir / tool, tool)
    for utility in UTILITIES:
        real = shutil.which(utility, path=original_path)
        if real:
            recorded(bin_dir / utility, real)
    keyring = Path(sys.executable).parent / "keyring"
    if keyring.exists():
        recorded(bin_dir / "keyring", str(keyring))
    work = tmp_path / "work"
    (work / "x").mkdir(parents=True)
    (work / "x" / "keep").write_text("rm -rf x must not have run\n")
    home = tmp_path / "home"
    home.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    env = {
        "PATH": str(bin_dir),  # nothing runs unrecorded
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "SHIM_LOG": str(tmp_path / "calls.jsonl"),
        "SHIM_STATE": str(state),
        "TURNSTILE_WIDGET_NAME": HOSTILE_NAME,
        "TURNSTILE_WIDGET_KEY": KEY,
        "TURNSTILE_SITEKEY": SITEKEY,
        "TURNSTILE_ACCOUNT_ID": ACCOUNT,
        # Each store client's own credentials, as a user would export them for turnstile-sync.
        "GH_TOKEN": "gh-token-for-tests",
        "GITHUB_REPOSITORY": "acme/shop",
        "WORKER_SECRETS_API_TOKEN": "workers-token-for-tests",
        "VAULT_ADDR": "http://127.0.0.1:8200",
        "VAULT_TOKEN": "vault-token-for-tests",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "OP_SERVICE_ACCOUNT_TOKEN": "ops-token-for-tests",
        "OP_VAULT": "Private",
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }
    return Sandbox(tmp_path, bin_dir, work, tmp_path / "calls.jsonl", state, env)


def keyring_value(sandbox: Sandbox, service: str, username: str) -> str | None:
    got = subprocess.run(
        [str(sandbox.bin / "keyring"), "get", service, username],
        env=sandbox.env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return got.stdout.decode().removesuffix("\n") if got.returncode == 0 else None


def kube_name(key: str) -> str:
    return "turnstile-" + key.lower().replace("_", "-")


def stored_secret(store: str, sandbox: Sandbox, runs: int) -> str | None:
    """What the store holds for the widget now, read where the recipe's names say it is."""
    name = f"TURNSTILE_SECRET_{KEY}"
    if store == "gh":
        return sandbox.stored("gh").get(f"acme/shop/repo/{name}")
    if store == "wrangler":
        return sandbox.stored("wrangler").get(f"{ACCOUNT}/my-worker/{name}")
    if store == "vault":
        versions = sandbox.stored("vault").get(f"secret/data/turnstile/{KEY}") or []
        assert len(versions) == runs, f"{len(versions)} versions at secret/data/turnstile/{KEY}"
        latest = versions[-1]
        assert set(latest) == {"secret", "sitekey"} and latest["sitekey"] == SITEKEY
        return latest["secret"]
    if store == "aws":
        parameter = sandbox.stored("aws").get(f"/turnstile/{KEY}/secret") or {}
        assert parameter.get("Type") == "SecureString"
        return parameter.get("Value")
    if store == "kubectl":
        secret = sandbox.stored("kubectl").get(f"default/{kube_name(KEY)}") or {}
        assert not secret.get("annotations"), "the secret was copied into an annotation"
        data = secret.get("data") or {}
        assert set(data) == {"secret"}
        return data["secret"]
    if store == "op":
        items = sandbox.stored("op")
        assert list(items) == [f"Private/turnstile {KEY}"], "exactly one item, edited in place"
        item = items[f"Private/turnstile {KEY}"]
        assert item["category"] == "PASSWORD"
        # The free-text name arrives as data, verbatim, never as shell code.
        assert HOSTILE_NAME in item["fields"]["notesPlain"]
        return item["fields"]["password"]
    if store == "keyring":
        return keyring_value(sandbox, "turnstile-sync", KEY)
    raise AssertionError(store)


def deliver_twice(store: str, recipe: str, sandbox: Sandbox) -> list[str]:
    """Run the recipe as a create and then a rotation; every problem found, in words."""
    problems: list[str] = []
    for runs, (event, secret) in enumerate(
        [("create", FIRST_SECRET), ("rotate", ROTATED_SECRET)], start=1
    ):
        result = sandbox.run(recipe, secret, event)
        if result.returncode != 0:
            problems.append(f"{event}: exit {result.returncode}: {result.stderr.decode()[-800:]}")
            break
        if secret.encode() in result.stdout + result.stderr:
            problems.append(f"{event}: the secret was printed")
        for call in sandbox.calls():
            argv, env = call["argv"], call["env"]
            if any(secret in arg for arg in argv):
                problems.append(f"{event}: the secret is in the argv of {call['tool']}: {argv}")
            if any(secret in value for value in env.values()):
                problems.append(f"{event}: the secret is in the environment of {call['tool']}")
            if any(HOSTILE_NAME in arg for arg in argv):
                problems.append(f"{event}: the free-text widget name is in argv of {call['tool']}")
        try:
            got = stored_secret(store, sandbox, runs)
        except AssertionError as error:
            problems.append(f"{event}: {error}")
            break
        if got != secret:
            problems.append(f"{event}: the store holds {got!r}, not the secret")
    pwned = sorted(path.name for path in sandbox.work.iterdir() if path.name.startswith("pwned"))
    if pwned or not (sandbox.work / "x" / "keep").exists():
        problems.append(f"something ran from the widget name or the secret: {pwned}")
    return problems


def test_every_store_the_issue_names_has_one_recipe():
    assert set(RECIPES) == set(STORES.values())
    for recipe in RECIPES.values():
        assert "\n" not in recipe, "a recipe is one command line, pasted as --secrets-exec"
        assert "$TURNSTILE_WIDGET_KEY" in recipe or "$ENV.TURNSTILE_WIDGET_KEY" in recipe
        # The free-text name is only ever read as data by jq, never expanded by the shell.
        assert "$TURNSTILE_WIDGET_NAME" not in recipe


@pytest.mark.parametrize("store", sorted(STORES.values()))
def test_recipe_delivers_the_secret_through_stdin_only(store, sandbox):
    if store == "op" and not (sandbox.bin / "jq").exists():
        pytest.skip("the 1Password recipe needs jq, which is not installed here")
    if store == "keyring" and not (sandbox.bin / "keyring").exists():
        pytest.skip("the keyring CLI is not installed in this environment (pip install keyring)")
    assert deliver_twice(store, RECIPES[store], sandbox) == []


def test_kubectl_recipe_with_the_real_client_printing_the_manifest(sandbox):
    real = shutil.which("kubectl", path=os.environ.get("PATH", ""))
    if real is None:
        pytest.skip("kubectl is not installed here")
    sandbox.env["SHIM_REAL_KUBECTL"] = real
    assert deliver_twice("kubectl", RECIPES["kubectl"], sandbox) == []
    assert any(call.get("delegated") for call in sandbox.calls())


def test_keyring_cli_strips_one_trailing_newline_from_a_pipe(sandbox):
    """Why the tool must send the secret without a newline: `keyring set` reading a pipe drops
    one trailing "\\n" and keeps everything else (the recipe test proves the exact bytes)."""
    if not (sandbox.bin / "keyring").exists():
        pytest.skip("the keyring CLI is not installed in this environment")
    secret = "0x4AAAAAAA-ends-in-space-and-newline \n"
    assert sandbox.run(RECIPES["keyring"], secret, "push").returncode == 0
    assert keyring_value(sandbox, "turnstile-sync", KEY) == secret.removesuffix("\n")
    store_file = Path(sandbox.env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
    assert store_file.exists(), "the file backend chosen through the environment was used"


class _SsmEndpoint(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, object]]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        type(self).requests.append({"target": self.headers["X-Amz-Target"], "body": body})
        reply = json.dumps({"Version": len(type(self).requests), "Tier": "Standard"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def ssm_endpoint() -> Iterator[tuple[str, list[dict[str, object]]]]:
    requests: list[dict[str, object]] = []
    handler = type("Handler", (_SsmEndpoint,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_aws_recipe_with_the_real_client_against_a_local_endpoint(sandbox, ssm_endpoint):
    real = shutil.which("aws", path=os.environ.get("PATH", ""))
    if real is None:
        pytest.skip("the AWS CLI is not installed here")
    url, requests = ssm_endpoint
    recorded(sandbox.bin / "aws", real)
    sandbox.env.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-a-real-key",
        AWS_CONFIG_FILE=str(sandbox.root / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(sandbox.root / "aws-credentials"),
        # The installed CLI's launcher needs its own interpreter and the usual system paths.
        PATH=f"{sandbox.bin}:{Path(real).parent}:/usr/bin:/bin",
    )
    result = sandbox.run(RECIPES["aws"], FIRST_SECRET, "create")
    assert result.returncode == 0, result.stderr.decode()
    assert [request["target"] for request in requests] == ["AmazonSSM.PutParameter"]
    assert requests[0]["body"] == {
        "Name": f"/turnstile/{KEY}/secret",
        "Value": FIRST_SECRET,
        "Type": "SecureString",
        "Overwrite": True,
    }
    for call in sandbox.calls():
        assert not any(FIRST_SECRET in arg for arg in call["argv"])


# The harness must be able to fail: recipes with the classic mistakes are caught.
WRONG_RECIPES = [
    pytest.param(
        "gh",
        'gh secret set "TURNSTILE_SECRET_$TURNSTILE_WIDGET_KEY" --repo "$GITHUB_REPOSITORY" '
        '--body "$(cat)"',
        "the secret is in the argv of gh",
        id="gh-secret-in-argv",
    ),
    pytest.param(
        "gh",
        'gh secret set "TURNSTILE_SECRET_$TURNSTILE_WIDGET_KEY" --repo "$GITHUB_REPOSITORY" && '
        'eval "echo \\"delivered $TURNSTILE_WIDGET_NAME\\""',
        "something ran from the widget name",
        id="gh-name-evaluated",
    ),
    pytest.param(
        "wrangler",
        'wrangler secret put "TURNSTILE_SECRET_$TURNSTILE_WIDGET_KEY" --name my-worker',
        "CLOUDFLARE_API_TOKEN",
        id="wrangler-without-its-own-token",
    ),
    pytest.param(
        "vault",
        'vault kv put "secret/turnstile/$TURNSTILE_WIDGET_KEY" secret=- '
        'sitekey="$TURNSTILE_SITEKEY" -mount=secret',
        "versions at secret/data/turnstile/",
        id="vault-flag-after-path",
    ),
    pytest.param(
        "aws",
        'aws ssm put-parameter --name "/turnstile/$TURNSTILE_WIDGET_KEY/secret" '
        "--type SecureString --value file:///dev/stdin",
        "ParameterAlreadyExists",
        id="aws-rotation-without-overwrite",
    ),
    pytest.param(
        "kubectl",
        'kubectl create secret generic "turnstile-$TURNSTILE_WIDGET_KEY" '
        "--from-file=secret=/dev/stdin --dry-run=client -o yaml | kubectl apply -f -",
        "RFC 1123",
        id="kubectl-upper-case-name",
    ),
    pytest.param(
        "kubectl",
        'kubectl create secret generic "turnstile-$(printf %s "$TURNSTILE_WIDGET_KEY" | '
        "tr 'A-Z_' 'a-z-')\" --from-file=secret=/dev/stdin --dry-run=client -o yaml | "
        "kubectl apply -f -",
        "annotation",
        id="kubectl-client-side-apply-copies-the-secret",
    ),
    pytest.param(
        "op",
        'op item create --vault "$OP_VAULT" --category password '
        '--title "turnstile $TURNSTILE_WIDGET_KEY" "password=$(cat)"',
        "the secret is in the argv of op",
        id="op-assignment-statement",
    ),
    pytest.param(
        "keyring",
        "keyring set turnstile-sync $TURNSTILE_WIDGET_NAME",
        "exit",
        id="keyring-unquoted-free-text-name",
    ),
]


@pytest.mark.parametrize(("store", "recipe", "problem"), WRONG_RECIPES)
def test_a_wrong_recipe_is_caught(store, recipe, problem, sandbox):
    if store == "keyring" and not (sandbox.bin / "keyring").exists():
        pytest.skip("the keyring CLI is not installed in this environment")
    problems = deliver_twice(store, recipe, sandbox)
    assert any(problem in found for found in problems), problems
