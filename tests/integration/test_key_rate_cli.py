"""`keys create --rate-limit`, `keys set-rate-limit` and `keys list` through the real command
line on this test's database (issue 11, item 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "server.py", "keys", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_a_key_gets_its_own_rate_and_the_listing_shows_it(
    database_url: str, pool: asyncpg.Pool
) -> None:
    made = cli(database_url, "create", "--name", "pos", "--scope", "inventory:read",
               "--rate-limit", "7")
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.split()[2]
    plain = cli(database_url, "create", "--name", "erp", "--scope", "inventory:read")
    assert plain.returncode == 0, plain.stderr
    listing = cli(database_url, "list").stdout.splitlines()
    assert "rate 7/s" in listing[0] and "rate default" in listing[1], listing
    assert cli(database_url, "set-rate-limit", key_id, "0").returncode == 0
    assert "rate unlimited" in cli(database_url, "list").stdout.splitlines()[0]
    assert await pool.fetchval("SELECT rate_limit FROM api_keys WHERE id = $1", int(key_id)) == 0
    assert cli(database_url, "set-rate-limit", key_id, "default").returncode == 0
    assert await pool.fetchval("SELECT rate_limit FROM api_keys WHERE id = $1", int(key_id)) is None


async def test_a_bad_rate_is_refused_and_changes_nothing(database_url: str, pool: asyncpg.Pool) -> None:
    for bad in ("-1", "fast", "1.5"):
        refused = cli(database_url, "create", "--name", "pos", "--scope", "inventory:read",
                      "--rate-limit", bad)
        assert refused.returncode == 2 and "rate limit" in refused.stderr
    assert await pool.fetchval("SELECT count(*) FROM api_keys") == 0
    assert cli(database_url, "set-rate-limit", "999", "5").returncode == 1
