"""`make bench`: what plan and apply cost, against the alternatives a user would otherwise use.

Everything runs against one served emulator on loopback, in the same run, and every number is
reported as a ratio to turnstile-sync's. Request counts come from the emulator's own stats
endpoint, so they count what each client actually sent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    scenario: str
    tool: str
    requests: int
    seconds: float
    peak_mb: float
    note: str = ""


@dataclass
class Process:
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str
    code: int


class Launcher:
    """Runs measured commands through benchmarks/spawn.py (see there for why)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-u", str(ROOT / "benchmarks" / "spawn.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, command: list[str], env: dict[str, str] | None = None) -> Process:
        assert self._process.stdin is not None and self._process.stdout is not None
        request = {"command": command, "env": env or dict(os.environ), "cwd": str(ROOT)}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        return Process(
            answer["seconds"], answer["peak_mb"], answer["stdout"], answer["stderr"], answer["code"]
        )

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)


LAUNCHER: Launcher | None = None


def measured(command: list[str], env: dict[str, str] | None = None) -> Process:
    """Wall time and peak resident memory of one command."""
    assert LAUNCHER is not None
    return LAUNCHER.run(command, env)


def tool(*args: str) -> list[str]:
    return [sys.executable, "-m", "turnstile_sync", *args]


def baseline(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.baselines", *args]


class Emulator:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stats_url = base_url.removesuffix("/client/v4") + "/__emulator/stats"

    def reset(self) -> None:
        httpx.delete(self.stats_url)

    def stats(self) -> dict:
        return httpx.get(self.stats_url).json()

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
        return {
            **env,
            "CLOUDFLARE_BASE_URL": self.base_url,
            "CLOUDFLARE_API_TOKEN": "bench",
            **extra,
        }


@contextmanager
def served(db: Path, *options: str) -> Iterator[Emulator]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = tool(
        "emulator", "serve", "--port", str(port), "--db", str(db), "--plan", "enterprise", *options
    )
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    emulator = Emulator(f"http://127.0.0.1:{port}/client/v4")
    try:
        for _ in range(200):
            try:
                emulator.reset()
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield emulator
    finally:
        server.terminate()
        server.wait(timeout=10)


def seed(db: Path, count: int) -> list[str]:
    from turnstile_sync.emulator import ENTERPRISE, Backend

    backend = Backend(db, account_plan=ENTERPRISE)
    try:
        return [
            backend.create(
                ACCOUNT,
                {"name": f"widget {i}", "mode": "managed", "domains": [f"w{i}.example.com"]},
            )["sitekey"]
            for i in range(count)
        ]
    finally:
        backend.close()


def write_spec(path: Path, count: int, mode: str = "managed", changed: int = 0) -> Path:
    lines = [f"account_id: {ACCOUNT}", "max_deletes: 0", "widgets:"]
    for i in range(count):
        lines += [
            f"  - name: widget {i}",
            f"    mode: {'invisible' if i < changed else mode}",
            f"    domains: [w{i}.example.com]",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def requests_of(emulator: Emulator) -> int:
    return int(emulator.stats()["total"])


def plan_rows(work: Path, count: int) -> list[Row]:
    db = work / f"plan-{count}.sqlite3"
    sitekeys = seed(db, count)
    spec = write_spec(work / f"plan-{count}.yaml", count)
    state = work / f"state-{count}.txt"
    state.write_text("\n".join(sitekeys))
    rows = []
    scenario = f"plan, {count:,} widgets (no changes)"
    with served(db, "--rate-limit", "off") as emulator:
        runs = [
            ("turnstile-sync", tool("plan", str(spec), "--detailed-exitcode")),
            (
                "Python SDK script",
                baseline("sdk-plan", "--base-url", emulator.base_url, "--spec", str(spec)),
            ),
            (
                "Terraform-style refresh",
                baseline(
                    "terraform-refresh", "--base-url", emulator.base_url, "--sitekeys", str(state)
                ),
            ),
        ]
        for name, command in runs:
            emulator.reset()
            result = measured(command, emulator.env())
            if result.code not in (0,):
                raise SystemExit(
                    f"{name} failed ({result.code}):\n{result.stdout}\n{result.stderr}"
                )
            rows.append(Row(scenario, name, requests_of(emulator), result.seconds, result.peak_mb))
    return rows


def _time_listing(emulator: Emulator) -> float:
    """Seconds for the client's list_widgets alone, in this process: the part latency acts on,
    without process start and spec loading (which dominate, and vary, on a busy machine)."""
    import asyncio

    from pydantic import SecretStr

    from turnstile_sync.client import Credentials, TurnstileClient

    async def listing() -> float:
        credentials = Credentials(token=SecretStr("bench"))
        async with TurnstileClient(
            ACCOUNT, credentials, base_url=emulator.base_url, rate_limit=None
        ) as client:
            started = time.perf_counter()
            await client.list_widgets()
            return time.perf_counter() - started

    return asyncio.run(listing())


def latency_rows(work: Path, count: int, latency_ms: int, runs: int, cap: int | None) -> list[Row]:
    """Plan time against round-trip latency: the listing's first page tells the total, the
    rest go out together, so latency should cost two round trips whatever the account's size.

    Two emulators are served side by side (0 ms and ``latency_ms``, each on its own copy of
    the same account) and the plans alternate between them, so both see the same load on a
    shared machine; each reports its best of ``runs``.
    """
    source = work / f"latency-{count}.sqlite3"
    seed(source, count)
    spec = write_spec(work / f"latency-{count}.yaml", count)
    capped = ("--per-page-cap", str(cap)) if cap is not None else ()
    latencies = (0, latency_ms)
    best: dict[int, Process] = {}
    sent: dict[int, int] = {}
    with contextlib.ExitStack() as stack:
        emulators = {}
        for latency in latencies:
            db = work / f"latency-{count}-{latency}.sqlite3"
            shutil.copyfile(source, db)
            options = ("--rate-limit", "off", "--latency-ms", str(latency), *capped)
            emulators[latency] = stack.enter_context(served(db, *options))
        for _ in range(runs):
            for latency, emulator in emulators.items():
                emulator.reset()
                result = measured(tool("plan", str(spec), "--detailed-exitcode"), emulator.env())
                if result.code != 0:
                    raise SystemExit(f"plan failed ({result.code}):\n{result.stderr[-2000:]}")
                sent[latency] = requests_of(emulator)
                if latency not in best or result.seconds < best[latency].seconds:
                    best[latency] = result
        listing = {latency: float("inf") for latency in latencies}
        for _ in range(runs):
            for latency, emulator in emulators.items():
                listing[latency] = min(listing[latency], _time_listing(emulator))
    rows = []
    where = f", page cap {cap}" if cap is not None else ""
    for latency in latencies:
        note = f"best of {runs}; listing alone {listing[latency]:.2f} s"
        if latency:
            extra = best[latency].seconds - best[0].seconds
            alone = listing[latency] - listing[0]
            note += (
                f"; latency cost {extra:.2f} s = {extra * 1000 / latency:.2f} round trips "
                f"over the 0 ms plan, listing alone {alone * 1000 / latency:.2f} (pages one "
                f"after another: {sent[latency]})"
            )
        scenario = f"plan, {count:,} widgets{where}, {latency} ms latency"
        row = Row(
            scenario,
            "turnstile-sync",
            sent[latency],
            best[latency].seconds,
            best[latency].peak_mb,
            note,
        )
        rows.append(row)
    return rows


def apply_rows(
    work: Path, count: int, latency_ms: int, parallelism: int, with_sdk: bool
) -> list[Row]:
    rows = []
    scenario = f"apply, {count:,} updates, {latency_ms} ms latency"
    bound = count * latency_ms / 1000 / parallelism
    runs = [
        (
            "turnstile-sync",
            lambda spec, emulator: tool(
                "apply",
                str(spec),
                "--auto-approve",
                "--parallelism",
                str(parallelism),
                "--rate-limit",
                "off",
            ),
        )
    ]
    if with_sdk:
        runs.append(
            (
                "Python SDK script",
                lambda spec, emulator: baseline(
                    "sdk-apply", "--base-url", emulator.base_url, "--spec", str(spec)
                ),
            )
        )
    for name, make in runs:
        db = work / f"apply-{name[:3]}-{count}.sqlite3"
        seed(db, count)
        spec = write_spec(work / f"apply-{count}.yaml", count, changed=count)
        with served(db, "--rate-limit", "off", "--latency-ms", str(latency_ms)) as emulator:
            planning = measured(tool("plan", str(spec), "--rate-limit", "off"), emulator.env())
            emulator.reset()
            result = measured(make(spec, emulator), emulator.env())
            if result.code != 0:
                raise SystemExit(
                    f"{name} apply failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
                )
            note = "sequential"
            if name == "turnstile-sync":
                phase = result.seconds - planning.seconds
                note = (
                    f"apply phase (wall minus a plan's {planning.seconds:.2f} s) {phase:.2f} s "
                    f"= {phase / bound:.2f}x the bound N x latency / parallelism = {bound:.2f} s"
                )
            rows.append(
                Row(scenario, name, requests_of(emulator), result.seconds, result.peak_mb, note)
            )
    return rows


def rate_limited_rows(work: Path, count: int, requests: int, window: float) -> list[Row]:
    db = work / "limited.sqlite3"
    seed(db, count)
    spec = write_spec(work / "limited.yaml", count, changed=count)
    limit = f"{requests}/{window:g}"
    with served(db, "--rate-limit", limit) as emulator:
        emulator.reset()
        result = measured(
            tool("apply", str(spec), "--auto-approve", "--rate-limit", limit), emulator.env()
        )
        stats = emulator.stats()
    if result.code != 0:
        raise SystemExit(
            f"rate-limited apply failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    sent = int(stats["total"])
    floor = sent / (requests / window)
    note = f"N/rate = {floor:.1f} s; 429s received: {stats['faults']['rate_limited']}"
    return [
        Row(
            f"apply, {count} updates, emulator limit {limit}",
            "turnstile-sync",
            sent,
            result.seconds,
            result.peak_mb,
            note,
        )
    ]


def startup_rows() -> list[Row]:
    rows = []
    for label, command in (
        ("--help", tool("--help")),
        ("validate example", tool("validate", "examples/widgets.yaml")),
    ):
        best = min((measured(command) for _ in range(5)), key=lambda p: p.seconds)
        rows.append(
            Row(f"start-up: {label}", "turnstile-sync", 0, best.seconds, best.peak_mb, "best of 5")
        )
    return rows


COLUMNS = (
    "scenario",
    "tool",
    "requests",
    "wall s",
    "peak MB",
    "requests ratio",
    "wall ratio",
    "memory ratio",
    "note",
)


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "-"


def table(rows: list[Row]) -> str:
    """Markdown; every ratio is to turnstile-sync's row of the same scenario."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    ours = {row.scenario: row for row in rows if row.tool == "turnstile-sync"}
    for row in rows:
        mine = ours[row.scenario]
        cells = [
            row.scenario,
            row.tool,
            f"{row.requests:,}",
            f"{row.seconds:.2f}",
            f"{row.peak_mb:.0f}",
            _ratio(row.requests, mine.requests),
            _ratio(row.seconds, mine.seconds),
            _ratio(row.peak_mb, mine.peak_mb),
            row.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    global LAUNCHER  # noqa: PLW0603 - started once, before anything heavy is imported
    LAUNCHER = Launcher()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--json", action="store_true", help="print rows as JSON lines too")
    args = parser.parse_args()
    sizes = (5, 12) if args.smoke else (100, 1_000, 10_000)
    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        work = Path(directory)
        rows: list[Row] = []
        for count in sizes:
            rows += plan_rows(work, count)
        if args.smoke:
            rows += latency_rows(work, 12, latency_ms=5, runs=1, cap=5)
            rows += apply_rows(work, 10, latency_ms=5, parallelism=8, with_sdk=True)
            rows += rate_limited_rows(work, 10, requests=5, window=1)
        else:
            rows += latency_rows(work, 10_000, latency_ms=200, runs=7, cap=None)
            rows += apply_rows(work, 1_000, latency_ms=50, parallelism=8, with_sdk=True)
            rows += rate_limited_rows(work, 300, requests=100, window=10)
        rows += startup_rows()
    LAUNCHER.close()
    print(
        f"turnstile-sync benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}: "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(table(rows))
    if args.json:
        for row in rows:
            print(json.dumps(row.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
