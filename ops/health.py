"""Readiness as data: named probes that answer "ok", "not configured ..." or fail; the /readyz
route (web/ops_routes.py) runs them and a load balancer reads the verdict."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

Probe = Callable[[], Awaitable[str]]
DEADLINE = 2.0  # seconds per probe


async def readiness(probes: Mapping[str, Probe]) -> tuple[bool, dict[str, str]]:
    """Each probe's answer, in order, and whether they all allow traffic here."""
    checks: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            async with asyncio.timeout(DEADLINE):
                checks[name] = await probe()
        except Exception as exc:  # any failure means: do not send traffic here
            checks[name] = f"down: {type(exc).__name__}"
    return all(passes(v) for v in checks.values()), checks


def passes(answer: str) -> bool:
    """Whether a probe's answer allows traffic here."""
    return answer == "ok" or answer.startswith("not configured")


async def redis_status(redis: Redis | RedisCluster | None) -> str:
    if redis is None:
        return "not configured (in-process feed)"
    if isinstance(redis, RedisCluster):  # every master: each serves a part of the feed
        await redis.ping(target_nodes=RedisCluster.PRIMARIES)
        return "ok"
    await redis.ping()
    return "ok"
