"""What a webhook delivery costs the server and PostgreSQL in CPU, for bench/capacity.py: the
server (`serve`, one worker) queues deliveries for one endpoint while it is disabled; the CPU
window runs from enabling it to every delivery DELIVERED (claim, sign, POST to a receiver
process answering 204 at once, settle), less the server's idle CPU over as long."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import asyncpg

from bench.capacity_costs import Sample, per_op
from bench.harness import Harness
from bench.http import GraphQLClient
from bench.pg import LOCATION, connection, sku_code
from bench.serverproc import free_port
from bench.webhooks import wait_for_port

SENDERS = 10
ADJUST = f"""mutation Adjust($sku: String!, $ref: String!) {{
  adjustStock(input: {{sku: $sku, location: "{LOCATION}", delta: 1, reason: RESTOCK,
                       reference: $ref}}) {{ userErrors {{ code }} }} }}"""


async def _stable_count(conn: asyncpg.Connection, at_least: int, timeout: float = 60.0) -> int:
    """The number of queued deliveries once it has stopped growing for half a second."""
    last, since = -1, time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            now = int(await conn.fetchval("SELECT count(*) FROM webhook_deliveries"))
            if now != last:
                last, since = now, time.monotonic()
            elif now >= at_least and time.monotonic() - since >= 0.5:
                return now
            await asyncio.sleep(0.1)


async def deliveries(h: Harness, template: str, skus: int, changes: int,
                     repeats: int) -> list[Sample]:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "bench.webhooks", "--receive", str(port)])
    found: list[Sample] = []
    try:
        await wait_for_port(port)
        url = await h.dbs.fresh("cap_webhooks", template)
        async with connection(url) as conn:
            await conn.execute("""INSERT INTO webhook_endpoints (url, secret, enabled)
                                  VALUES ($1, $2, false)""",
                               f"http://127.0.0.1:{port}/hook", "whsec_" + "A" * 32)
            env = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"}
            async with h.server(url, "caphooks", env=env, workers=1) as server:
                clients = [GraphQLClient(server.port, h.config.admin_key)
                           for _ in range(SENDERS)]
                idle = h.measured(server)
                idle.start()
                await asyncio.sleep(2.0)
                idle_cpu = await idle.stop()
                idle_rate = idle_cpu["server_cpu_s"] / idle_cpu["wall_s"]
                for round_ in range(repeats):
                    await conn.execute("UPDATE webhook_endpoints SET enabled = false")
                    before = int(await conn.fetchval("SELECT count(*) FROM webhook_deliveries"))

                    async def change(index: int, round_: int = round_) -> None:
                        client = clients[index]
                        for n in range(index, changes, SENDERS):
                            await client.post(client.encode(ADJUST, {
                                "sku": sku_code(n % skus + 1), "ref": f"hook-{round_}-{n}"}))

                    await asyncio.gather(*(change(i) for i in range(SENDERS)))
                    queued = await _stable_count(conn, before + changes) - before
                    h.log(f"capacity: {queued} webhook deliveries queued; delivering")
                    measured = h.measured(server)
                    measured.start()
                    await conn.execute("UPDATE webhook_endpoints SET enabled = true")
                    async with asyncio.timeout(120):
                        while await conn.fetchval("SELECT count(*) FROM webhook_deliveries "
                                                  "WHERE status <> 'DELIVERED'"):
                            await asyncio.sleep(0.02)
                    measured.end()
                    cpu = dict(await measured.stop())
                    cpu["server_cpu_s"] = max(0.0, cpu["server_cpu_s"]
                                              - idle_rate * cpu["wall_s"])
                    sample = per_op(cpu, queued)
                    sample["idle_server_cores"] = idle_rate
                    found.append(sample)
                for client in clients:
                    client.close()
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    return found
