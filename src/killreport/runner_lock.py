"""One runner per SQLite file: an exclusive flock on `<db file>.lock`, naming its holder inside.

Why flock: the kernel drops it when the holder's process dies however it dies (SIGKILL, OOM, a
power cut), so nothing stale ever has to be cleaned up or guessed at from a pid. The file's text
only says who holds it, for the error message and `status`; whether it is held is asked of the
kernel each time. (flock is per machine: a file on a network share is not protected across hosts.)

Asking "is it held?" means trying a shared lock for an instant, which could make a runner starting
at that very instant fail; `acquire` therefore tries a few times over ~0.1 s before giving up.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

_TRIES: Final = 5
_PAUSE_S: Final = 0.02


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds the runner lock (from its file; '?' where the file does not say)."""

    pid: int
    hostname: str
    command: str
    started_at: str  # ISO 8601, UTC


class RunnerLockHeld(RuntimeError):
    """Another process runs on this file; the message is one line saying who and what to do."""

    def __init__(self, db_path: Path, who: Holder) -> None:
        super().__init__(
            f"{db_path} is held by `{who.command}` (pid {who.pid} on {who.hostname}, since "
            f"{who.started_at}); stop it first, or use PostgreSQL + RabbitMQ to run many workers")
        self.holder = who


def lock_path(db_path: Path) -> Path:
    """The lock file beside the database file."""
    return db_path.with_name(db_path.name + ".lock")


def _read(fd: int) -> Holder:
    """The holder the lock file names; '?' fields when it is empty (a holder mid-write) or garbled."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        raw = json.loads(os.read(fd, 4096) or b"{}")
        return Holder(int(raw["pid"]), str(raw["hostname"]), str(raw["command"]), str(raw["started_at"]))
    except (ValueError, KeyError, TypeError):
        return Holder(0, "?", "?", "?")


def _try(fd: int, how: int) -> bool:
    """Take the lock without waiting; False when someone else holds it."""
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class RunnerLock:
    """The held lock; `release` (or the process's death) frees it."""

    def __init__(self, fd: int, path: Path, who: Holder) -> None:
        self._fd: int | None = fd
        self.path = path
        self.holder = who

    @classmethod
    def acquire(cls, db_path: Path, command: str) -> RunnerLock:
        """Take the lock for `command` or raise RunnerLockHeld naming the current holder."""
        path = lock_path(Path(db_path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        for attempt in range(_TRIES):
            if _try(fd, fcntl.LOCK_EX):
                break
            if attempt == _TRIES - 1:
                who = _read(fd)
                os.close(fd)
                raise RunnerLockHeld(Path(db_path), who)
            time.sleep(_PAUSE_S)  # perhaps only `holder()` probing for an instant
        who = Holder(os.getpid(), socket.gethostname(), command,
                     dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(who)).encode(), 0)
        return cls(fd, path, who)

    def release(self) -> None:
        """Free the lock (idempotent); the file stays, empty, for the next runner."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunnerLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def holder(db_path: Path) -> Holder | None:
    """Who holds the lock on `db_path` now; None if nobody does (or there has never been a runner)."""
    try:
        fd = os.open(lock_path(Path(db_path)), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if _try(fd, fcntl.LOCK_SH):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        for _ in range(_TRIES):
            who = _read(fd)
            if who.pid:
                return who
            time.sleep(_PAUSE_S)  # the holder has the lock but is still writing its name
        return who
    finally:
        os.close(fd)
