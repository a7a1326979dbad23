"""Stand-ins for secret-store command-line clients, used by tests/e2e/test_secret_store_recipes.py.

Each shim imitates one real client's documented argument parsing for the one subcommand the
recipes in docs/secret-stores.md use, strictly enough to fail a wrong recipe: unknown flags and
missing arguments are errors, standard input is read (and trimmed) the way the real client reads
it, and state persists between runs so that "create, then rotate" needs a recipe that really
overwrites. Every call is appended to $SHIM_LOG (argv, environment, what it read); what the store
would now hold is kept in $SHIM_STATE/<tool>.json.

A shim proves how a recipe uses the shell, argv and stdin; it proves nothing about the service.
Sources for each client's behaviour are cited in docs/secret-stores.md.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import yaml


def fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"{message}\n")
    sys.exit(code)


def log(tool: str, **fields: Any) -> None:
    entry = {"tool": tool, "argv": sys.argv[1:], "env": dict(os.environ), **fields}
    with Path(os.environ["SHIM_LOG"]).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def state(tool: str) -> dict[str, Any]:
    path = Path(os.environ["SHIM_STATE"]) / f"{tool}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(tool: str, data: dict[str, Any]) -> None:
    (Path(os.environ["SHIM_STATE"]) / f"{tool}.json").write_text(json.dumps(data))


def read_stdin(tool: str) -> bytes:
    if sys.stdin.isatty():
        fail(f"{tool}: would prompt on a terminal; the recipe must pipe the value")
    data = sys.stdin.buffer.read()
    log(tool, stdin=data.decode("latin-1"))
    return data


def parse(
    args: list[str],
    *,
    values: dict[str, str],
    switches: dict[str, str],
    interspersed: bool = True,
    prefix: str = "--",
) -> tuple[dict[str, list[str]], list[str]]:
    """Flag parsing in the style of cobra/yargs (interspersed) or Go's flag package (not).

    `values` and `switches` map every accepted spelling to a canonical name; anything else that
    looks like a flag is an error, as in the real clients.
    """
    options: dict[str, list[str]] = {}
    positionals: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            positionals += args[index:]
            break
        is_flag = arg.startswith("-") and arg != "-"
        if not is_flag or (positionals and not interspersed):
            positionals.append(arg)
            if not interspersed and positionals:
                positionals += args[index:]
                break
            continue
        name, has_value, value = arg.partition("=")
        if name in switches:
            if has_value and value not in ("true", "false"):
                fail(f"invalid argument {value!r} for {name!r}")
            options.setdefault(switches[name], []).append(value or "true")
        elif name in values:
            if not has_value:
                if index >= len(args):
                    fail(f"flag needs an argument: {name}")
                value = args[index]
                index += 1
            options.setdefault(values[name], []).append(value)
        else:
            fail(f"unknown flag: {name}")
    return options, positionals


def spellings(*names: str) -> dict[str, str]:
    """'--repo/-R' -> {'--repo': 'repo', '-R': 'repo'}."""
    table: dict[str, str] = {}
    for spec in names:
        forms = spec.split("/")
        canonical = forms[0].lstrip("-")
        for form in forms:
            table[form] = canonical
    return table


# gh secret set <name>  (cli/cli pkg/cmd/secret/set/set.go)


def gh(args: list[str]) -> None:
    if args[:2] != ["secret", "set"]:
        fail(f"gh shim: unsupported command {args[:2]}")
    options, names = parse(
        args[2:],
        values=spellings(
            "--repo/-R",
            "--org/-o",
            "--env/-e",
            "--visibility/-v",
            "--repos/-r",
            "--body/-b",
            "--env-file/-f",
            "--app/-a",
        ),
        switches=spellings("--user/-u", "--no-store"),
    )
    log("gh", options=options)
    if len(names) != 1:
        fail(
            "must pass name argument"
            if not names
            else f"accepts at most 1 arg(s), received {len(names)}"
        )
    name = names[0]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.upper().startswith("GITHUB_"):
        fail(f"HTTP 422: invalid secret name {name!r}")
    if sum(bool(options.get(key)) for key in ("org", "env", "user")) > 1:
        fail("specify only one of `--org`, `--env`, or `--user`")
    if "repo" in options and not re.fullmatch(r"[\w.-]+/[\w.-]+", options["repo"][-1]):
        fail(f'expected the "[HOST/]OWNER/REPO" format, got {options["repo"][-1]!r}')
    # Without --body, gh reads stdin whole and applies bytes.TrimRight(body, "\r\n").
    body = options["body"][-1].encode() if options.get("body") else read_stdin("gh").rstrip(b"\r\n")
    scope = f"env:{options['env'][-1]}" if options.get("env") else "repo"
    stored = state("gh")
    stored[f"{options.get('repo', ['<cwd>'])[-1]}/{scope}/{name}"] = body.decode("latin-1")
    save("gh", stored)


# wrangler secret put <key>  (workers-sdk packages/wrangler/src/secret/index.ts)


def wrangler(args: list[str]) -> None:
    if args[:2] != ["secret", "put"]:
        fail(f"wrangler shim: unsupported command {args[:2]}")
    options, keys = parse(
        args[2:],
        values=spellings("--name", "--env/-e", "--config/-c", "--cwd", "--env-file", "--profile"),
        switches=spellings("--legacy-env"),
    )
    log("wrangler", options=options)
    if len(keys) != 1:
        fail("Secret name is required" if not keys else f"Unknown arguments: {keys[1:]}")
    if not options.get("name") and not options.get("config"):
        fail(
            "Required Worker name missing. Please specify the Worker name in your wrangler.toml "
            "file, or pass it as an argument with `--name <worker-name>`"
        )
    if not os.environ.get("CLOUDFLARE_API_TOKEN"):
        fail(
            "In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN "
            "environment variable for wrangler to work."
        )
    if not os.environ.get("CLOUDFLARE_ACCOUNT_ID"):
        fail("More than one account available but unable to select one in non-interactive mode.")
    value = read_stdin("wrangler").decode().rstrip()  # trimTrailingWhitespace
    stored = state("wrangler")
    account = os.environ["CLOUDFLARE_ACCOUNT_ID"]
    stored[f"{account}/{options['name'][-1]}/{keys[0]}"] = value
    save("wrangler", stored)


# vault kv put [flags] PATH K=V...  (Go flag package: flags stop at the first argument)


def vault(args: list[str]) -> None:
    if args[:2] != ["kv", "put"]:
        fail(f"vault shim: unsupported command {args[:2]}")
    flags = {}
    for name in ("mount", "cas", "format", "field", "address", "namespace", "ns", "method"):
        flags[f"-{name}"] = flags[f"--{name}"] = name
    options, rest = parse(args[2:], values=flags, switches={}, interspersed=False)
    log("vault", options=options)
    if not (os.environ.get("VAULT_ADDR") or options.get("address")):
        fail("VAULT_ADDR is not set (the real client would default to https://127.0.0.1:8200)", 2)
    if len(rest) < 2:
        fail(f"Not enough arguments (expected >1, got {len(rest)})", 1)
    path, pairs = rest[0], rest[1:]
    data: dict[str, str] = {}
    stdin_used = False
    for pair in pairs:
        key, has_value, value = pair.partition("=")
        if not has_value or not key:
            fail(f"Failed to parse K=V data: invalid key/value pair {pair!r}")
        if value == "-":
            if stdin_used:
                fail("Failed to parse K=V data: can't read stdin twice")
            stdin_used = True
            value = read_stdin("vault").decode()  # io.Copy, no trimming
        elif value.startswith("@"):
            value = Path(value[1:]).read_text()
        data[key] = value
    mount = options.get("mount", [None])[-1]
    full = f"{mount}/data/{path}" if mount else path
    stored = state("vault")
    versions = stored.setdefault(full, [])
    versions.append(data)  # KV v2: every put is a new version holding exactly these fields
    save("vault", stored)


# aws ssm put-parameter  (AWS CLI: file:// loads the value from a file, unchanged)


def aws(args: list[str]) -> None:
    global_values = spellings("--region", "--profile", "--output", "--endpoint-url", "--query")
    global_switches = spellings("--no-cli-pager", "--debug", "--no-verify-ssl")
    head: list[str] = []
    while args and args[0].startswith("--"):
        head.append(args.pop(0))
        if head[-1] in global_values and "=" not in head[-1]:
            head.append(args.pop(0))
    if args[:2] != ["ssm", "put-parameter"]:
        fail(f"aws shim: unsupported command {args[:2]}", 252)
    values = {
        **global_values,
        **spellings(
            "--name",
            "--value",
            "--type",
            "--description",
            "--key-id",
            "--allowed-pattern",
            "--tags",
            "--tier",
            "--policies",
            "--data-type",
            "--cli-input-json",
        ),
    }
    switches = {**global_switches, **spellings("--overwrite", "--no-overwrite")}
    options, extra = parse(head + args[2:], values=values, switches=switches)
    log("aws", options=options)
    if extra:
        fail(f"Unknown options: {', '.join(extra)}", 252)
    for required in ("name", "value"):
        if not options.get(required):
            fail(f"the following arguments are required: --{required}", 252)
    if not (
        options.get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    ):
        fail("You must specify a region.", 253)
    name, value = options["name"][-1], options["value"][-1]
    if not re.fullmatch(r"[A-Za-z0-9_.\-/]{1,2048}", name) or ("/" in name and name[0] != "/"):
        fail(f"ValidationException: parameter name {name!r} is not valid", 254)
    kind = options.get("type", ["String"])[-1]
    if kind not in ("String", "StringList", "SecureString"):
        fail(f"ValidationException: invalid type {kind!r}", 254)
    if options.get("overwrite") and options.get("tags"):
        fail("ValidationException: tags and overwrite can't be used together", 254)
    if value.startswith("file://"):
        source = value[len("file://") :]
        value = (
            read_stdin("aws") if source == "/dev/stdin" else Path(source).read_bytes()
        ).decode()
    stored = state("aws")
    if name in stored and options.get("overwrite", ["false"])[-1] != "true":
        fail(
            "An error occurred (ParameterAlreadyExists) when calling the PutParameter "
            "operation: The parameter already exists. To overwrite this value, set the "
            "overwrite option in the request to true.",
            254,
        )
    stored[name] = {"Type": kind, "Value": value}
    save("aws", stored)


# kubectl create secret generic ... --dry-run=client -o yaml | kubectl apply -f -

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def kubectl(args: list[str]) -> None:
    if args[:3] == ["create", "secret", "generic"]:
        real = os.environ.get("SHIM_REAL_KUBECTL")
        if real:  # the real client prints the manifest client-side; no cluster is needed
            log("kubectl", delegated=True)
            completed = subprocess.run([real, *args], check=False)  # inherits stdin and stdout
            sys.exit(completed.returncode)
        kubectl_create(args[3:])
    elif args[:1] == ["apply"]:
        kubectl_apply(args[1:])
    else:
        fail(f"kubectl shim: unsupported command {args[:3]}")


def kubectl_create(args: list[str]) -> None:
    options, names = parse(
        args,
        values=spellings(
            "--from-file",
            "--from-literal",
            "--from-env-file",
            "--dry-run",
            "--output/-o",
            "--namespace/-n",
            "--type",
            "--field-manager",
        ),
        switches=spellings("--append-hash", "--save-config"),
    )
    log("kubectl", options=options)
    if len(names) != 1:
        fail(f"error: exactly one NAME is required, got {len(names)}")
    name = names[0]
    if len(name) > 253 or not DNS_SUBDOMAIN.fullmatch(name):
        fail(
            f'error: failed to create secret Secret "{name}" is invalid: metadata.name: '
            "Invalid value: a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.'"
        )
    if options.get("dry-run", [""])[-1] != "client" or options.get("output", [""])[-1] != "yaml":
        fail("kubectl shim: the recipe must print the manifest (--dry-run=client -o yaml)")
    data: dict[str, str] = {}
    for spec in options.get("from-file", []):
        key, _, path = spec.rpartition("=")
        key = key or Path(path).name
        if not re.fullmatch(r"[-._a-zA-Z0-9]+", key):
            fail(f"error: {key!r} is not a valid key name for a Secret")
        content = read_stdin("kubectl") if path == "/dev/stdin" else Path(path).read_bytes()
        data[key] = base64.b64encode(content).decode()
    for spec in options.get("from-literal", []):
        key, _, value = spec.partition("=")
        data[key] = base64.b64encode(value.encode()).decode()
    manifest = {
        "apiVersion": "v1",
        "data": data,
        "kind": "Secret",
        "metadata": {"creationTimestamp": None, "name": name},
    }
    if options.get("namespace"):
        manifest["metadata"]["namespace"] = options["namespace"][-1]
    sys.stdout.write(yaml.safe_dump(manifest))


def kubectl_apply(args: list[str]) -> None:
    options, extra = parse(
        args,
        values=spellings("--filename/-f", "--field-manager", "--namespace/-n"),
        switches=spellings("--server-side", "--force-conflicts"),
    )
    log("kubectl", options=options)
    if extra:
        fail(f"error: unexpected args: {extra}")
    if options.get("filename") != ["-"]:
        fail("error: must specify -f - to read the manifest from standard input")
    if options.get("force-conflicts") and not options.get("server-side"):
        fail("error: --force-conflicts only works with --server-side")
    manifest = yaml.safe_load(sys.stdin.read())
    if manifest.get("kind") != "Secret" or "name" not in manifest.get("metadata", {}):
        fail("error: no Secret in the manifest")
    stored = state("kubectl")
    namespace = manifest["metadata"].get("namespace") or options.get("namespace", ["default"])[-1]
    secret = {
        key: base64.b64decode(value).decode("latin-1")
        for key, value in (manifest.get("data") or {}).items()
    }
    annotations = manifest["metadata"].get("annotations") or {}
    if not options.get("server-side"):  # client-side apply copies the object into an annotation
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(manifest)
    stored[f"{namespace}/{manifest['metadata']['name']}"] = {
        "data": secret,
        "annotations": annotations,
    }
    save("kubectl", stored)


# op item get / create / edit  (1Password CLI 2: item JSON template on standard input)

OP_COMMON = ("--vault", "--format", "--account", "--reveal", "--dry-run", "--favorite")


def op(args: list[str]) -> None:
    if args[:1] != ["item"] or len(args) < 2:
        fail(f"op shim: unsupported command {args[:2]}")
    verb, rest = args[1], args[2:]
    values = spellings(
        "--vault",
        "--format",
        "--account",
        "--category",
        "--title",
        "--tags",
        "--url",
        "--template",
        "--generate-password",
        "--fields",
    )
    switches = spellings("--reveal", "--dry-run", "--favorite", "--include-archive")
    options, positionals = parse(rest, values=values, switches=switches)
    log("op", options=options, verb=verb)
    if os.environ.get("OP_SERVICE_ACCOUNT_TOKEN") is None:
        fail("[ERROR] no account found; set OP_SERVICE_ACCOUNT_TOKEN")
    if not options.get("vault"):
        fail("[ERROR] a vault must be specified with --vault when using a service account")
    vault_name = options["vault"][-1]
    items = state("op")
    if verb == "get":
        if len(positionals) != 1:
            fail("[ERROR] expected exactly one item")
        if f"{vault_name}/{positionals[0]}" not in items:
            fail(f'[ERROR] "{positionals[0]}" isn\'t an item in the "{vault_name}" vault')
        return
    if verb not in ("create", "edit"):
        fail(f"op shim: unsupported verb {verb}")
    piped = not sys.stdin.isatty()
    if verb == "create":
        from_stdin = positionals[:1] == ["-"]
        assignments = positionals[1:] if from_stdin else positionals
    else:
        if not positionals:
            fail("[ERROR] an item must be specified")
        from_stdin = piped
        assignments = positionals[1:]
    if from_stdin and options.get("template"):
        fail("[ERROR] cannot use both piped input and --template")
    item: dict[str, Any] = {}
    if from_stdin:
        raw = read_stdin("op")
        try:
            item = json.loads(raw)
        except ValueError:
            fail("[ERROR] invalid JSON in piped input")
    for assignment in assignments:  # argv values: the test fails a recipe that puts a secret here
        field, _, value = assignment.partition("=")
        item.setdefault("fields", []).append({"id": field, "value": value})
    fields = {
        field.get("id") or field.get("label"): field.get("value")
        for field in item.get("fields", [])
    }
    title = options.get("title", [item.get("title")])[-1]
    if verb == "create":
        if not title:
            fail("[ERROR] the shim needs a title to find the item again")
        key = f"{vault_name}/{title}"
        if key in items:
            fail(
                f"[ERROR] the shim refuses a duplicate item {title!r}: "
                "real op would create a second one"
            )
        items[key] = {
            "category": item.get("category") or options.get("category", [None])[-1],
            "fields": fields,
        }
    else:
        key = f"{vault_name}/{positionals[0]}"
        if key not in items:
            fail(f'[ERROR] "{positionals[0]}" isn\'t an item in the "{vault_name}" vault')
        items[key]["fields"] = fields  # a template replaces the item's fields
    save("op", items)


TOOLS = {"gh": gh, "wrangler": wrangler, "vault": vault, "aws": aws, "kubectl": kubectl, "op": op}


def passthrough(real: str) -> NoReturn:
    """Record a real utility's argv (tr, jq, ...) and run it in this process's place."""
    log(Path(real).name)
    os.execv(real, [real, *sys.argv[1:]])


def main(tool: str) -> None:
    if tool.startswith("/"):
        passthrough(tool)
    TOOLS[tool](sys.argv[1:])
