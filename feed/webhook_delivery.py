"""The webhook delivery loop of one instance: claims due queue heads, POSTs them, settles each
attempt (retry, DEAD, disable), prunes old deliveries; bootstrap/partners.py runs it.

While tracing is on, each attempt is a "webhook deliver" span linked to the mutation that
committed its event (the traceparent stored with the delivery)."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime

import aiohttp
import asyncpg
import orjson

from feed import webhook_http
from feed.webhook_fanout import SINK
from ops import trace_links, tracing
from ops.metrics import PARTNER_EVENTS, PARTNER_LATENCY, PARTNER_OLDEST_PENDING, PARTNER_PENDING
from settings.partners import PartnerSettings
from store import webhook_attempts as attempts
from store import webhook_deliveries as store
from store.errors import log_failure

log = logging.getLogger(__name__)
PRUNE_BATCH = 1000
CHAIN = 20  # deliveries of one queue in a row in one slot
GONE_REASON = "HTTP 410 Gone from the endpoint"


class DeliveryLoop:
    """Per (endpoint, SKU) one attempt at a time, in sequence order; at most `concurrency`
    attempts in flight on this instance and `endpoint_concurrency` per endpoint, so a hanging
    endpoint holds only its own slots. A claim is committed before its POST (a lease of the
    timeout plus a margin: a crashed instance's claims come due again once it runs out); no
    transaction is open during HTTP. Woken by the fan-out, by an attempt ending and by a
    retry coming due; polls for other instances' work every `webhook_poll_interval`."""

    def __init__(self, pool: asyncpg.Pool, settings: PartnerSettings, *,
                 gauge_interval: float = 5.0, retention_interval: float = 3600.0) -> None:
        self.pool = pool
        self.settings = settings
        self.gauge_interval = gauge_interval
        self.retention_interval = retention_interval
        self.lease = settings.webhook_timeout + max(2.0, settings.webhook_timeout)
        self._wake = asyncio.Event()
        self._busy: dict[int, int] = {}  # attempts in flight per endpoint
        self._attempts: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Delivers until cancelled; attempts in flight then are abandoned to their leases."""
        settings = self.settings
        session = webhook_http.session(settings.webhook_concurrency,
                                       settings.webhook_allow_private_networks)
        upkeep = asyncio.create_task(self._upkeep())
        failing = False
        try:
            while True:
                self._wake.clear()
                try:
                    await self._claim(session)
                    if failing:
                        failing = False
                        log.info("webhook delivery: claiming works again")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not failing:  # one line per outage, not one per poll
                        failing = True
                        log_failure(log, exc, "webhook delivery: claiming")
                try:
                    async with asyncio.timeout(settings.webhook_poll_interval):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            for task in [upkeep, *self._attempts]:
                task.cancel()
            await asyncio.gather(upkeep, *self._attempts, return_exceptions=True)
            await session.close()

    async def _claim(self, session: aiohttp.ClientSession) -> None:
        free = self.settings.webhook_concurrency - len(self._attempts)
        if free <= 0:
            return
        async with self.pool.acquire() as conn:
            claimed = await attempts.claim(conn, free, self.lease, self._busy,
                                        self.settings.webhook_endpoint_concurrency)
        for attempt in claimed:
            self._busy[attempt.endpoint_id] = self._busy.get(attempt.endpoint_id, 0) + 1
            task = asyncio.create_task(self._attempt(session, attempt))
            self._attempts.add(task)
            task.add_done_callback(functools.partial(self._ended, attempt))

    def _ended(self, attempt: attempts.Attempt, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        left = self._busy.get(attempt.endpoint_id, 1) - 1
        if left > 0:
            self._busy[attempt.endpoint_id] = left
        else:
            self._busy.pop(attempt.endpoint_id, None)
        self._wake.set()  # its queue's next delivery, or a free slot

    async def _attempt(self, session: aiohttp.ClientSession, first: attempts.Attempt) -> None:
        """Attempts `first`, then, in the same slot, the next deliveries of its queue while
        they are delivered and due (at most CHAIN: then the slot goes back to the oldest due)."""
        attempt = first
        for n in range(1, CHAIN + 1):
            if tracing.on():
                with trace_links.span("webhook deliver",
                                      [trace_links.parse(attempt.traceparent)]) as span:
                    following = await self._once(session, attempt, n)
                    if span is not None:
                        span.set_attribute("inventory.webhook.attempt", attempt.attempts)
            else:
                following = await self._once(session, attempt, n)
            if following is None:
                return
            attempt = following

    async def _once(self, session: aiohttp.ClientSession, attempt: attempts.Attempt,
                    n: int) -> attempts.Attempt | None:
        """One attempt, settled; the next delivery of its queue if it is to follow in the slot."""
        settings = self.settings
        answer = await webhook_http.post(
            session, attempt, timeout=settings.webhook_timeout,
            allow_private=settings.webhook_allow_private_networks)
        log.debug("webhook delivery %d (%s) to endpoint %d, attempt %d: %s", attempt.id,
                  attempt.event_id, attempt.endpoint_id, attempt.attempts,
                  answer.error or answer.status)
        try:
            async with self.pool.acquire() as conn:
                await self._settle(conn, attempt, answer)
                return await attempts.claim_next(conn, attempt, self.lease) if (
                    answer.delivered and n < CHAIN) else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # its lease runs out: attempted again
            log_failure(log, exc, "webhook delivery %d: settling", attempt.id)
            return None

    async def _settle(self, conn: asyncpg.Connection, attempt: attempts.Attempt,
                      answer: webhook_http.Answer) -> None:
        settings = self.settings
        if answer.delivered:
            assert answer.status is not None
            recovered = await attempts.delivered(conn, attempt, answer.status)
            PARTNER_EVENTS.labels(SINK, "delivered").inc()
            PARTNER_LATENCY.labels(SINK).observe(_since_commit(attempt.body))
            if recovered:
                log.info("webhook endpoint %d (%s) recovered", attempt.endpoint_id, attempt.url)
            return
        assert answer.error is not None
        PARTNER_EVENTS.labels(SINK, "failed").inc()
        if answer.gone:
            if await attempts.gone(conn, attempt, 410, answer.error, GONE_REASON):
                log.warning("webhook endpoint %d (%s) disabled: %s", attempt.endpoint_id,
                            attempt.url, GONE_REASON)
            return
        schedule = settings.webhook_retry_schedule
        step = attempt.round_attempts - 1
        retry_in = schedule[step] if step < len(schedule) else None
        reason = (f"every attempt failed for {spoken(settings.webhook_disable_after)} "
                  f"(the last: {answer.error})")
        failure = await attempts.failed(
            conn, attempt, response_status=answer.status, error=answer.error,
            retry_in=retry_in, disable_after=settings.webhook_disable_after, reason=reason)
        if failure is None:
            return
        if retry_in is None:
            PARTNER_EVENTS.labels(SINK, "dead").inc()
            log.debug("webhook delivery %d (%s) is DEAD after %d attempts", attempt.id,
                      attempt.event_id, attempt.round_attempts)
        else:
            asyncio.get_running_loop().call_later(retry_in, self._wake.set)
        if failure.first:
            log.warning("webhook endpoint %d (%s) is failing: %s; retrying on the schedule",
                        attempt.endpoint_id, attempt.url, answer.error)
        if failure.disabled:
            log.warning("webhook endpoint %d (%s) disabled: %s", attempt.endpoint_id,
                        attempt.url, reason)

    async def _upkeep(self) -> None:
        """The pending gauges every gauge_interval; retention every retention_interval."""
        loop = asyncio.get_running_loop()
        prune_due = 0.0
        while True:
            try:
                async with self.pool.acquire() as conn:
                    count, oldest = await store.pending(conn)
                PARTNER_PENDING.labels(SINK).set(count)
                age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
                PARTNER_OLDEST_PENDING.labels(SINK).set(max(0.0, age))
                if loop.time() >= prune_due:
                    prune_due = loop.time() + self.retention_interval
                    pruned = await self.prune()
                    if pruned:
                        log.info("webhook deliveries: %d older than %d days deleted", pruned,
                                 self.settings.webhook_retention_days)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, exc, "webhook delivery: upkeep")
            await asyncio.sleep(self.gauge_interval)

    async def prune(self) -> int:
        """Deletes DELIVERED and DEAD deliveries older than the retention, in batches."""
        total = 0
        while True:
            async with self.pool.acquire() as conn:
                deleted = await store.prune(conn, self.settings.webhook_retention_days,
                                            PRUNE_BATCH)
            total += deleted
            if deleted < PRUNE_BATCH:
                return total


def spoken(seconds: float) -> str:
    """A duration as the settings write it: `24h`, `10m`, `0.5s`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _since_commit(body: bytes) -> float:
    """Seconds from the event's commit (the CloudEvent's time) until now."""
    try:
        committed = datetime.fromisoformat(orjson.loads(body)["time"])
    except (ValueError, KeyError, TypeError):
        return 0.0
    return max(0.0, (datetime.now(UTC) - committed).total_seconds())
