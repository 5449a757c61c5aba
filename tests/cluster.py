"""Running killreport as real processes against a database, a vhost and a simulator, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from killreport.cli.main import run as run_command
from killreport.store import migrate
from tests import services

# A closed port: an embedded process that tried RabbitMQ would fail at once, which the tests would see.
NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"
NO_FEED = "http://127.0.0.1:1/r2z2"  # the same for R2Z2


def env_for(pg_url: str, rabbit_url: str, esi_url: str, **extra: str) -> dict[str, str]:
    """The environment a killreport process needs to talk to these services."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ESI_", "DATABASE_", "RABBITMQ_", "R2Z2_", "KILLMAIL_"))}
    env.update(DATABASE_URL=pg_url, RABBITMQ_URL=rabbit_url, ESI_BASE_URL=esi_url,
               ESI_CONTACT="tests@killreport.invalid", RETRY_DELAYS_S="[1, 2, 3]", LOG_LEVEL="WARNING",
               # The tests' simulators keep no daily downtime unless a test asks (running_sim): a run
               # that spans 11:00 UTC must not wait for one.
               ESI_DAILY_DOWNTIME="false",
               # `run` follows no kill feed unless a test asks (with its simulator's R2Z2_URL); were
               # one turned on by mistake, it would find nothing listening here, not the real feed.
               KILLMAIL_FEED="false", R2Z2_URL=NO_FEED)
    env.update(extra)
    return env




def embedded_env(db_url: str, esi_url: str, **extra: str) -> dict[str, str]:
    """The environment of an embedded killreport: a SQLite file, no broker."""
    return env_for(db_url, NO_BROKER, esi_url, **extra)


@dataclass
class Done:
    """A finished command."""

    code: int
    out: str
    err: str


# One command at a time per test process: the environment and the standard streams are the process's.
_IN_PROCESS = threading.Lock()


def _run_here(env: Mapping[str, str], args: tuple[str, ...]) -> Done:
    """`killreport ARGS` through the console entry's own `run`, with `env` as the whole environment."""
    out, err = io.StringIO(), io.StringIO()
    with _IN_PROCESS:
        saved_env, saved_policy = dict(os.environ), asyncio.get_event_loop_policy()
        os.environ.clear()
        os.environ.update(env)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run_command(list(args))
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            asyncio.set_event_loop_policy(saved_policy)  # run() installs uvloop's for its own loops
    return Done(code=code, out=out.getvalue(), err=err.getvalue())


async def cli_here(env: Mapping[str, str], *args: str, timeout_s: float = 120.0) -> Done:
    """Run `killreport ARGS` in this process, on a thread of its own (the command runs its own event
    loop), where only what it prints and returns is checked: ~1 s less than a process per command.

    Not for what only a process shows: signals, being killed, a lock held by a process, a command
    that runs until stopped.
    """
    return await asyncio.wait_for(asyncio.to_thread(_run_here, env, args), timeout_s)


async def cli(env: Mapping[str, str], *args: str, timeout_s: float = 120.0,
              stdin: bytes | None = None) -> Done:
    """Run `killreport ARGS` to completion, as a process of its own."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "killreport", *args, env=dict(env), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
    return Done(code=proc.returncode or 0, out=out.decode(), err=err.decode())


@dataclass
class Worker:
    """A worker process whose stderr goes to a file, never to a pipe nobody drains.

    A pipe fills at 64 KiB; a chatty worker then blocks on its next log line with a job in hand,
    which was the suspected cause of a rare `sync-all --wait` hang. `log` holds the whole stderr
    once the worker has stopped; `read_log()` reads it while it runs.
    """

    proc: asyncio.subprocess.Process
    log_path: Path
    log: str = ""

    @property
    def returncode(self) -> int | None:
        """The exit code, None while running."""
        return self.proc.returncode

    def read_log(self) -> str:
        """Everything the worker wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    async def until_logged(self, *needles: str, times: int = 1, within_s: float = 60.0) -> str:
        """The log once any of `needles` appears in it `times` times; fails if the process ends first.

        Waiting for the line itself, not a fixed sleep: on a loaded machine starting the process
        alone can take seconds (a fixed 4 s wait failed with two busy cores).
        """
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            log = self.read_log()
            if any(log.count(needle) >= times for needle in needles):
                return log
            assert self.returncode is None, f"exited {self.returncode} first: {log[-2000:]}"
            assert asyncio.get_running_loop().time() < deadline, f"not logged {needles}: {log[-2000:]}"
            await asyncio.sleep(0.1)


@asynccontextmanager
async def workers(env: Mapping[str, str], count: int = 1, *args: str) -> AsyncIterator[list[Worker]]:
    """`count` worker processes (default: all kinds), stopped with SIGTERM at the end."""
    with tempfile.TemporaryDirectory(prefix="kr-workers-") as folder:
        started = [await _spawn(env, Path(folder) / f"worker-{n}.log", args) for n in range(count)]
        try:
            yield started
        finally:
            await _stop([w.proc for w in started])
            for w in started:
                w.log = w.read_log()


@asynccontextmanager
async def command(env: Mapping[str, str], *args: str) -> AsyncIterator[Worker]:
    """`killreport ARGS` as a long-running process (`run`, `scheduler`), stopped with SIGTERM at the end."""
    with tempfile.TemporaryDirectory(prefix="kr-command-") as folder:
        started = await spawn(env, Path(folder) / "command.log", *args)
        try:
            yield started
        finally:
            await _stop([started.proc])
            started.log = started.read_log()


async def _spawn(env: Mapping[str, str], log_path: Path, args: tuple[str, ...]) -> Worker:
    return await spawn(env, log_path, "worker", *(args or ("all",)))


async def spawn(env: Mapping[str, str], log_path: Path, *args: str) -> Worker:
    """Start `killreport ARGS` with its stderr going to `log_path`."""
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "killreport", *args, env=dict(env),
            stdout=asyncio.subprocess.DEVNULL, stderr=log)
    return Worker(proc, log_path)


async def _stop(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        if p.returncode is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            await asyncio.wait_for(p.wait(), 40)
        except TimeoutError:
            p.kill()
            await p.wait()


async def migrated(pg_url: str) -> str:
    """Give a new, empty database the whole schema and return its URL.

    On the shared server it becomes a copy of the migrated template (~0.1 s, not ~1 s of migrations);
    a test's private server is migrated."""
    if services.on_shared_server(pg_url):
        await services.replace_with_migrated(pg_url)
    else:
        await asyncio.to_thread(migrate.upgrade, pg_url)
    return pg_url


@asynccontextmanager
async def web_process(env: Mapping[str, str]) -> AsyncIterator[str]:
    """`killreport web --port 0` as a process: its base URL once it serves; SIGTERM must exit it 0."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "killreport", "web", "--port", "0", env=dict(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = re.fullmatch(r"killreport web: serving on (http://127\.0\.0\.1:\d+/)\n", line)
        assert url, line
        yield url[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
