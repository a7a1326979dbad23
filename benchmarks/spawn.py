"""A deliberately small process that starts every measured command.

Linux keeps a process's peak memory across fork and exec (the child inherits the forking
parent's high-water mark), so commands started by the harness itself would all report at
least the harness's own size. Started first, before the harness imports anything heavy, this
launcher keeps that floor to a few MB. Protocol: one JSON request per line on stdin, one JSON
answer per line on stdout.
"""

import json
import os
import subprocess
import sys
import tempfile
import time


def run(request: dict) -> dict:  # type: ignore[type-arg]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            request["command"],
            stdout=out,
            stderr=err,
            env=request.get("env"),
            cwd=request.get("cwd"),
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {
            "seconds": seconds,
            "peak_mb": usage.ru_maxrss / 1024,
            "code": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
