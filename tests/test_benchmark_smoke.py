"""The benchmark harness at tiny sizes, so it cannot rot.

Only what is exact by construction is checked: the rows it reports and the requests each tool
sends. Times are not, and neither is how many 429s a rate-limited run meets: under a real-time
limit that depends on scheduling (on a busy machine a request can reach the emulator late and
land in the same window as a later one), so the harness reports it and the test only checks
that every 429 was answered by exactly one retry.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

PLAN = "plan, 12 widgets (no changes)"
APPLY = "apply, 10 updates, 5 ms latency"
LIMITED = "apply, 10 updates, emulator limit 5/1"
CAPPED = "plan, 12 widgets, page cap 5, {} ms latency"


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
    assert set(rows) == {
        ("plan, 5 widgets (no changes)", "turnstile-sync"),
        ("plan, 5 widgets (no changes)", "Python SDK script"),
        ("plan, 5 widgets (no changes)", "Terraform-style refresh"),
        (PLAN, "turnstile-sync"),
        (PLAN, "Python SDK script"),
        (PLAN, "Terraform-style refresh"),
        (CAPPED.format(0), "turnstile-sync"),
        (CAPPED.format(5), "turnstile-sync"),
        (APPLY, "turnstile-sync"),
        (APPLY, "Python SDK script"),
        (LIMITED, "turnstile-sync"),
        ("start-up: --help", "turnstile-sync"),
        ("start-up: validate example", "turnstile-sync"),
    }
    for cells in rows.values():
        float(cells[4])  # wall seconds and peak MB are reported as numbers, never checked
        float(cells[5])
    requests = {key: int(cells[3].replace(",", "")) for key, cells in rows.items()}
    # Without a rate limit or faults, each count follows from the tool's design alone.
    assert requests[(PLAN, "turnstile-sync")] == 1
    assert requests[(PLAN, "Python SDK script")] == 2  # 25 a page, then an empty page
    assert requests[(PLAN, "Terraform-style refresh")] == 12
    assert requests[(APPLY, "turnstile-sync")] == 12  # one list, ten PUTs, one verifying list
    # 12 widgets at 5 a page: three pages, the last two fetched together, none repeated
    assert requests[(CAPPED.format(0), "turnstile-sync")] == 3
    assert requests[(CAPPED.format(5), "turnstile-sync")] == 3
    # Under the 5/1 limit: the same twelve, plus one retry for each 429 met (a 429 changes
    # nothing), however many scheduling caused.
    refused = re.search(r"429s received: (\d+)", rows[(LIMITED, "turnstile-sync")][9])
    assert refused is not None, rows[(LIMITED, "turnstile-sync")]
    assert requests[(LIMITED, "turnstile-sync")] == 12 + int(refused.group(1))
