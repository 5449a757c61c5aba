"""A child process for the runner-lock tests: `python -m tests.embedded.lock_child DB COMMAND [hold]`.

Takes the lock for COMMAND; with `hold`, prints "held" and sleeps until killed, otherwise prints
"acquired" and exits. A conflict prints the error's one line on stderr and exits 1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from killreport.runner_lock import RunnerLock, RunnerLockHeld


def main() -> int:
    """Take the lock as told; 1 on a conflict."""
    db, command, *rest = sys.argv[1:]
    try:
        lock = RunnerLock.acquire(Path(db), command)
    except RunnerLockHeld as exc:
        print(exc, file=sys.stderr)
        return 1
    print("held" if rest == ["hold"] else "acquired", flush=True)
    while rest == ["hold"]:
        time.sleep(60)
    lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
