"""The CLI as a user meets it: wrong input and unreachable services give one line and the right exit code."""

from __future__ import annotations

import pytest

from tests.cluster import cli_here, env_for, migrated

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def env(fresh_pg_url: str, fresh_rabbit_url: str) -> dict[str, str]:
    await migrated(fresh_pg_url)
    return env_for(fresh_pg_url, fresh_rabbit_url, "http://127.0.0.1:9")


@pytest.mark.parametrize("args", [
    ["queue", "ship", "1"],
    ["queue", "alliance", "abc"],
    ["queue", "alliance", "-5"],
    ["queue", "alliance", "0"],
    ["queue", "alliance", str(2**63)],
    ["queue", "character", "3000001"],
    ["queue", "alliance"],
    ["queue"],
    ["sync-all", "--bogus"],
    ["worker"],
    ["worker", "ships"],
    ["worker", "all", "--concurrency", "0"],
    ["worker", "all", "--shutdown-timeout", "0"],
    ["dlq", "list", "--limit", "0"],
    ["changes", "--since", "yesterday"],
    ["changes", "--since", "99999999999d"],
    ["changes", "--limit", "0"],
    ["changes", "--kind", "ship"],
    ["status", "--watch", "--json"],
    ["nonsense"],
])
async def test_bad_arguments_exit_2_with_one_line_and_queue_nothing(
        env: dict[str, str], args: list[str]) -> None:
    done = await cli_here(env, *args)
    assert done.code == 2, done
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("killreport: "), done.err
    assert "Traceback" not in done.err
    status = await cli_here(env, "status", "--json")
    assert status.code == 0, status
    assert '"ready": 0' in status.out and '"ready": 1' not in status.out


@pytest.mark.parametrize("override,needle", [
    ({"DATABASE_URL": "postgresql://root:s3cret@127.0.0.1:1/nope"}, "PostgreSQL unreachable"),
    ({"RABBITMQ_URL": "amqp://guest:s3cret@127.0.0.1:1/"}, "127.0.0.1"),
])
async def test_unreachable_services_fail_fast_with_masked_secrets(
        env: dict[str, str], override: dict[str, str], needle: str) -> None:
    for args in (["status"], ["queue", "alliance", "99000001"], ["sync-corporations"]):
        done = await cli_here({**env, **override}, *args, timeout_s=60)
        assert done.code == 1, done
        assert done.err.count("\n") == 1 and needle in done.err, done.err
        assert "s3cret" not in done.err and "s3cret" not in done.out


async def test_real_esi_without_contact_is_refused(env: dict[str, str]) -> None:
    done = await cli_here({**env, "ESI_BASE_URL": "https://esi.evetech.net", "ESI_CONTACT": ""},
                     "sync-alliances")
    assert done.code == 1 and "ESI_CONTACT" in done.err, done


async def test_bad_setting_is_named(env: dict[str, str]) -> None:
    done = await cli_here({**env, "ESI_ERROR_FLOOR": "lots"}, "status")
    assert done.code == 1 and "ESI_ERROR_FLOOR" in done.err, done


async def test_queue_then_purge_then_status(env: dict[str, str]) -> None:
    done = await cli_here(env, "queue", "corporation", "98000001", "98000002")
    assert done.code == 0 and "queued 2" in done.out, done
    again = await cli_here(env, "queue", "corporation", "98000001")
    assert again.code == 0 and "queued 0" in again.out, again
    refused = await cli_here(env, "purge")
    assert refused.code == 2 and "--yes" in refused.err, refused
    purged = await cli_here(env, "purge", "--yes")
    assert purged.code == 0 and "corporation_sync_queue: 2 messages purged" in purged.out, purged


async def test_an_unforeseen_failure_is_still_one_line(fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    import asyncio

    from killreport.store import migrate

    await asyncio.to_thread(migrate.upgrade, fresh_pg_url, "0001")  # the budget tables are missing
    done = await cli_here(env_for(fresh_pg_url, fresh_rabbit_url, "http://127.0.0.1:9"), "status")
    assert done.code == 1 and done.err.startswith("killreport: unexpected error: "), done
    assert done.err.count("\n") == 1 and "Traceback" not in done.err
