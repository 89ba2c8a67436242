"""The operator's HTTP endpoints: /healthz, /readyz (PostgreSQL, migrations, Redis) and
/metrics; bootstrap/app.py routes them, over the probes and registry in ops/."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ops import health, metrics
from service import views
from web.state import services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    found = services(request)

    async def database() -> str:
        pending = await views.pending_migrations(found.inventory.pool)
        return "ok" if not pending else f"migrations pending: {', '.join(pending)}"

    async def redis() -> str:
        return await health.redis_status(found.redis)

    ready, checks = await health.readiness({"database": database, "redis": redis})
    return JSONResponse({"status": "ready" if ready else "unavailable", **checks},
                        status_code=200 if ready else 503)


async def metrics_endpoint(request: Request) -> Response:
    pool = services(request).inventory.pool
    metrics.observe_pool(pool.get_size(), pool.get_idle_size(), pool.get_max_size())
    body, media_type = metrics.exposition()
    return Response(body, media_type=media_type)
