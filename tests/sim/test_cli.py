"""`killreport sim` as a process: prints its URL when ready, serves, stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import email.utils
import signal
import subprocess
import sys
from collections.abc import Mapping

import aiohttp
import pytest

CODE = "import sys; from killreport.cli.main import main; main(sys.argv[1:])"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serves_and_stops_on_signal(sig: signal.Signals) -> None:
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any awaiting
        [
            sys.executable,
            "-c",
            CODE,
            "sim",
            "--port",
            "0",
            "--alliances",
            "10",
            "--error-budget",
            "7",
            "--bucket",
            "s:/status=600/15m",
            "--daily-downtime-s",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url, feed = [w for w in line.split() if w.startswith("http://")]
        assert feed.endswith("/r2z2") and feed.split(":")[2] != url.split(":")[2]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{feed}/ephemeral/sequence.json") as resp:
                assert resp.status == 200 and "sequence" in await resp.json()
            async with http.get(f"{url}/alliances") as resp:
                assert resp.status == 200 and len(await resp.json()) == 10
                assert resp.headers["X-ESI-Error-Limit-Remain"] == "7"
            async with http.get(f"{url}/status") as resp:
                assert resp.headers["X-Ratelimit-Group"] == "s"
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_route_scale_for_no_route_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CODE, "sim", "--cache-scale-route", "charactr=0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "bad route scale 'charactr=0.1'" in done.stdout


def test_bad_option_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CODE, "sim", "--bucket", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "bad bucket" in done.stdout


async def test_cache_scale_flag_shortens_expires() -> None:
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any awaiting
        [sys.executable, "-c", CODE, "sim", "--port", "0", "--alliances", "5", "--cache-scale", "0.01",
         "--cache-scale-route", "character=0.001", "--daily-downtime-s", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = next(w for w in proc.stdout.readline().split() if w.startswith("http://"))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/alliances") as resp:
                ids = await resp.json()
                lifetimes = [_lifetime(resp.headers)]
            async with http.get(f"{url}/alliances/{ids[0]}") as resp:
                creator = (await resp.json())["creator_id"]
            async with http.post(f"{url}/characters/affiliation", json=[creator]) as resp:
                lifetimes.append(_lifetime(resp.headers))
            async with http.get(f"{url}/alliances/{ids[0]}/corporations") as resp:
                corporation = (await resp.json())[0]
            async with http.get(f"{url}/corporations/{corporation}") as resp:
                ceo = (await resp.json())["ceo_id"]
            async with http.get(f"{url}/characters/{ceo}") as resp:
                assert resp.status == 200
                character = _lifetime(resp.headers)
        assert all(35 <= s <= 38 for s in lifetimes), lifetimes  # 3600 s x 0.01
        assert 85 <= character <= 89, character  # 86400 s x 0.001, the route's own scale
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _lifetime(headers: Mapping[str, str]) -> float:
    expires = email.utils.parsedate_to_datetime(headers["Expires"])
    return (expires - email.utils.parsedate_to_datetime(headers["Date"])).total_seconds()


def test_a_daily_downtime_that_cannot_be_exits_2() -> None:
    for flags, said in ((["--daily-downtime-at", "25:00"], "bad time of day"),
                        (["--daily-downtime-s", "-5"], "daily_downtime_s")):
        done = subprocess.run([sys.executable, "-c", CODE, "sim", *flags], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and said in done.stdout, done.stdout


def test_a_population_with_too_many_corporations_exits_2() -> None:
    done = subprocess.run([sys.executable, "-c", CODE, "sim", "--population-characters", "100",
                           "--population-corporations", "80"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "CEO" in done.stdout


async def test_population_flags_serve_lazy_entities() -> None:
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any awaiting
        [sys.executable, "-c", CODE, "sim", "--port", "0", "--alliances", "5", "--daily-downtime-s", "0",
         "--population-characters", "1000", "--population-corporations", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = next(w for w in proc.stdout.readline().split() if w.startswith("http://"))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/corporations/1900000049") as resp:
                assert resp.status == 200
                ceo = (await resp.json())["ceo_id"]
            async with http.get(f"{url}/characters/{ceo}") as resp:
                assert resp.status == 200 and (await resp.json())["corporation_id"] == 1900000049
            async with http.get(f"{url}/corporations/1900000050") as resp:
                assert resp.status == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
