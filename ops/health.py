"""/healthz: the process answers. /readyz: PostgreSQL and Redis answer and migrations are
current, for a load balancer deciding whether to send traffic here."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from store import migrations


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _database(request: Request) -> str:
    async with asyncio.timeout(2), request.state.inventory.pool.acquire() as conn:
        pending = await migrations.pending(conn)
    return "ok" if not pending else f"migrations pending: {', '.join(pending)}"


async def _redis(request: Request) -> str:
    redis: Any = request.state.redis
    if redis is None:
        return "not configured (in-process feed)"
    async with asyncio.timeout(2):
        await redis.ping()
    return "ok"


async def readyz(request: Request) -> Response:
    checks: dict[str, str] = {}
    for name, probe in (("database", _database), ("redis", _redis)):
        try:
            checks[name] = await probe(request)
        except Exception as exc:  # any failure means: do not send traffic here
            checks[name] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" or v.startswith("not configured") for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", **checks},
                        status_code=200 if ready else 503)
