"""`make soak`: the fault properties again and again with fresh seeds, then a tally.

Each round runs the fault property with the "soak" Hypothesis profile and a new seed; every
example appends its counts to a report file, and the totals are printed at the end:
runs, faults injected, duplicates found and widgets lost (both must stay 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROPERTY = "tests/properties/test_faults.py::test_apply_survives_faults"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.minutes * 60
    report = Path(tempfile.mkdtemp(prefix="soak-")) / "report.jsonl"
    env = {**os.environ, "HYPOTHESIS_PROFILE": "soak", "SOAK_REPORT": str(report)}
    rounds = failures = 0
    while time.monotonic() < deadline:
        seed = random.SystemRandom().randrange(2**32)
        remaining = max(10.0, deadline - time.monotonic())
        try:
            completed = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:logging",
                    PROPERTY,
                    f"--hypothesis-seed={seed}",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=remaining + 60,
                check=False,
            )
        except subprocess.TimeoutExpired:
            break
        rounds += 1
        if completed.returncode != 0:
            failures += 1
            print(f"round {rounds} (seed {seed}) FAILED:\n{completed.stdout[-4000:]}", flush=True)
        else:
            print(f"round {rounds} (seed {seed}) passed", flush=True)
    totals = {"runs": 0, "faults": 0, "duplicates": 0, "lost": 0}
    if report.exists():
        for line in report.read_text().splitlines():
            for key, value in json.loads(line).items():
                totals[key] += value
    print(
        f"soak: {rounds} rounds, {totals['runs']} runs, {totals['faults']} faults injected, "
        f"{totals['duplicates']} duplicates found, {totals['lost']} widgets lost, "
        f"{failures} failed rounds"
    )
    return 1 if failures or totals["duplicates"] or totals["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
