"""The operator's HTTP endpoints: /healthz, /readyz (PostgreSQL, migrations, Redis, the read
replica) and /metrics (METRICS_ALLOW, METRICS_TOKEN); bootstrap/app.py routes them."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ops import health, metrics
from service import incoming, overdue_holds, views
from settings.version import version
from web.refusals import Refusal
from web.state import services

METRICS_FORBIDDEN = Refusal(
    403, "FORBIDDEN", "/metrics is open to METRICS_ALLOW's networks or a bearer METRICS_TOKEN"
)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": version()})


async def readyz(request: Request) -> Response:
    ready, checks = await readiness(request)
    return JSONResponse({"status": "ready" if ready else "unavailable", **checks},
                        status_code=200 if ready else 503)


async def readiness(request: Request) -> tuple[bool, dict[str, str]]:
    """/readyz's verdict and checks, also set as inventory_ready{check} for the alert rules."""
    found = services(request)

    async def database() -> str:
        pending = await views.pending_migrations(found.inventory.pool)
        return "ok" if not pending else f"migrations pending: {', '.join(pending)}"

    async def redis() -> str:
        return await health.redis_status(found.redis)

    ready, checks = await health.readiness({"database": database, "redis": redis})
    for name, answer in checks.items():
        metrics.READY.labels(name).set(1 if health.passes(answer) else 0)
    if found.reads is not None:  # told, never a reason to refuse traffic: reads fall back
        checks["readReplica"] = ("in use" if found.reads.in_use
                                 else "out of use: reads on the primary")
    return ready, checks


def metrics_access(
    allow: Sequence[str], token: str | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """/metrics for a client address in `allow` (networks: "10.0.0.0/8", "::1/128"; empty:
    nobody by address) or with `Authorization: Bearer <token>`; 403 FORBIDDEN otherwise."""
    networks = [ipaddress.ip_network(n, strict=False) for n in allow]

    def allowed(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.strip().partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
        try:
            address = ipaddress.ip_address(request.client.host if request.client else "")
        except ValueError:
            return False
        return any(address in network for network in networks)

    async def endpoint(request: Request) -> Response:
        if not allowed(request):
            return METRICS_FORBIDDEN.feed_response()
        return await metrics_endpoint(request)

    return endpoint


async def metrics_endpoint(request: Request) -> Response:
    """The samples, unguarded: metrics_access decides who may read them."""
    pool = services(request).inventory.pool
    metrics.observe_pool(pool.get_size(), pool.get_idle_size(), pool.get_max_size())
    await incoming.observe_overdue(pool)
    await overdue_holds.observe(pool)
    await readiness(request)
    body, media_type = metrics.exposition()
    return Response(body, media_type=media_type)
