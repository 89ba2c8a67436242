"""The Kubernetes rollout as the pods live it, on a real PostgreSQL and Redis: a pod with the
ConfigMap's settings (MIGRATE_ON_START=false) on an empty database is alive but not ready
until the migration Job's command has run, then ready; SIGTERM ends it within GRACE_SECONDS
(deploy/k8s/, issue 15, item 5)."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from store import migrations
from tests.conftest import _admin, _with_database, database_name, free_port
from tests.deploy_checks import ROOT, config, container


@pytest.fixture
async def empty_database(pg_url: str) -> AsyncIterator[str]:
    name = f"inv_deploy_{uuid.uuid4().hex[:12]}"
    await _admin(pg_url, f"CREATE DATABASE {name}")
    yield _with_database(pg_url, name)
    await _admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def until(url: str, status: int, seconds: float) -> dict[str, Any]:
    """The body of `url` once it answers `status` (polled: readiness is asked, never pushed)."""
    async with asyncio.timeout(seconds):
        while True:
            try:
                found, body = await get(url)
                if found == status:
                    return body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


def job(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, *container("Job")["args"][1:]], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_pods_wait_for_the_job_then_serve_and_stop_within_the_grace(
    empty_database: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    pod_env = {**config(), "HOST": "127.0.0.1", "PORT": str(port), "PATH": "/usr/bin:/bin",
               "DATABASE_URL": empty_database, "REDIS_URL": redis_url,
               "FEED_CHANNEL_PREFIX": database_name(empty_database)}
    assert pod_env["MIGRATE_ON_START"] == "false"
    args = container("Deployment")["args"]
    assert args[0] == "python"
    log = tmp_path / "pod.log"
    pod = subprocess.Popen([sys.executable, *args[1:]], cwd=ROOT, env=pod_env,
                           stdout=subprocess.DEVNULL, stderr=log.open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        await until(f"{base}/healthz", 200, 30)  # alive: liveness passes
        status, body = await get(f"{base}/readyz")
        assert status == 503 and "migrations pending: 0001_core" in body["database"]

        job_env = {**config(), "PATH": "/usr/bin:/bin", "DATABASE_URL": empty_database}
        count = len(migrations.migration_files())
        assert job(job_env).startswith(f"applied {count} migration(s)")
        assert await until(f"{base}/readyz", 200, 10) == {
            "status": "ready", "database": "ok", "redis": "ok"}
        assert job(job_env).startswith("applied 0 migration(s)")  # a rerun changes nothing

        grace = int(config()["GRACE_SECONDS"])
        began = time.monotonic()
        pod.send_signal(signal.SIGTERM)
        # the server shuts down, then exits with 128 + SIGTERM, as a shell reports the signal
        assert pod.wait(timeout=grace + 5) == 128 + signal.SIGTERM
        assert time.monotonic() - began < grace
        lines = log.read_text()
        assert "Application shutdown complete." in lines
        # while it waited for the Job, each background loop said so once, without a traceback
        assert "Traceback" not in lines
        waiting = re.findall(r'"msg":"([^"]*not migrated yet[^"]*)"', lines)  # JSON lines
        assert waiting and len(waiting) == len(set(waiting)), waiting
    finally:
        if pod.poll() is None:
            pod.kill()
            pod.wait(timeout=5)
