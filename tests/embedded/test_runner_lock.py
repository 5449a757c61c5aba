"""One runner per SQLite file: real processes contend for the flock on `<db>.lock`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from killreport.runner_lock import Holder, RunnerLock, RunnerLockHeld, holder, lock_path

ROOT = Path(__file__).resolve().parents[2]


def child(db: Path, command: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.embedded.lock_child", str(db), command, *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def holding(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A child process holding the lock of tmp_path/killreport.db as `killreport run`."""
    db = tmp_path / "killreport.db"
    proc = child(db, "killreport run", "hold")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held", proc.stderr.read() if proc.stderr else ""
    yield db, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_process_fails_with_one_line_naming_the_holder_and_what_to_do(
        holding: tuple[Path, subprocess.Popen[str]]) -> None:
    db, holder_proc = holding
    second = child(db, "killreport run")
    out, err = second.communicate(timeout=30)
    assert second.returncode == 1 and out == ""
    line = err.strip()
    assert "\n" not in line
    who = f"(pid {holder_proc.pid} on {socket.gethostname()}, since "
    assert line.startswith(f"{db} is held by `killreport run` {who}")
    assert line.endswith("); stop it first, or use PostgreSQL + RabbitMQ to run many workers")


def test_holder_names_the_process_from_another_process(holding: tuple[Path, subprocess.Popen[str]]) -> None:
    db, holder_proc = holding
    who = holder(db)
    assert who is not None
    assert (who.pid, who.hostname, who.command) == (holder_proc.pid, socket.gethostname(), "killreport run")
    assert who.started_at.endswith("+00:00")


def test_after_sigkill_the_next_acquire_succeeds_at_once(holding: tuple[Path, subprocess.Popen[str]]) -> None:
    db, holder_proc = holding
    os.kill(holder_proc.pid, signal.SIGKILL)
    holder_proc.wait()
    assert lock_path(db).read_text() != "", "the killed holder's note stays; only the kernel's lock went"
    assert holder(db) is None
    started = time.monotonic()
    with RunnerLock.acquire(db, "killreport run") as lock:
        assert time.monotonic() - started < 0.5
        assert lock.holder.pid == os.getpid()
        assert holder(db) == lock.holder
    assert holder(db) is None


def test_acquire_release_and_holder_in_one_process(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "k.db"
    assert holder(db) is None  # never a runner: no lock file at all
    lock = RunnerLock.acquire(db, "killreport run")
    assert lock_path(db) == tmp_path / "sub" / "k.db.lock"
    with pytest.raises(RunnerLockHeld, match=r"k\.db is held by `killreport run` \(pid \d+"):
        RunnerLock.acquire(db, "killreport run")  # a second open file conflicts, even in-process
    lock.release()
    lock.release()  # idempotent
    assert holder(db) is None
    again = child(db, "killreport sync-all --wait")
    assert again.communicate(timeout=30)[0].strip() == "acquired" and again.returncode == 0


def test_a_garbled_note_still_names_a_holder(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    with RunnerLock.acquire(db, "killreport run"):
        lock_path(db).write_text("not json")
        assert holder(db) == Holder(0, "?", "?", "?")
        with pytest.raises(RunnerLockHeld, match=r"held by `\?` \(pid 0 on \?"):
            RunnerLock.acquire(db, "killreport run")


PROBE = """
import sys, time
from pathlib import Path
from killreport.runner_lock import holder
db, end = Path(sys.argv[1]), time.monotonic() + float(sys.argv[2])
print("probing", flush=True)
while time.monotonic() < end:
    holder(db)
"""


def test_status_probing_meanwhile_never_makes_a_starting_runner_fail(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(db), "3"], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    assert probe.stdout is not None and probe.stdout.readline().strip() == "probing"
    started = 0
    while probe.poll() is None:  # acquire/release as fast as possible while the other process probes
        with RunnerLock.acquire(db, "killreport run"):
            started += 1
    assert probe.wait() == 0 and started > 100
