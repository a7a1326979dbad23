"""The benchmark harness at tiny sizes, so it cannot rot. Counts are checked; times are not."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_bench_smoke_runs_and_counts_requests():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {
        (cells[1].strip(), cells[2].strip()): cells
        for line in result.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| scenario")
        for cells in [line.split("|")]
    }
    requests = {key: int(cells[3].replace(",", "")) for key, cells in rows.items()}
    assert requests[("plan, 12 widgets (no changes)", "turnstile-sync")] == 1
    assert (
        requests[("plan, 12 widgets (no changes)", "Python SDK script")] == 2
    )  # 25 a page, then an empty page
    assert requests[("plan, 12 widgets (no changes)", "Terraform-style refresh")] == 12
    assert (
        requests[("apply, 10 updates, 5 ms latency", "turnstile-sync")] == 12
    )  # one list, ten PUTs, one list to verify the end state
    limited = rows[("apply, 10 updates, emulator limit 5/1", "turnstile-sync")]
    assert "429s received: 0" in limited[9]
