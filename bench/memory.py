"""Where an idle subscriber's memory goes: `python -m bench.memory [N]` (default 1,000).

Serves the app in this process, as `serve` configures uvicorn (no permessage-deflate,
web/ws_protocol.py, or BENCH_MEMORY_WS=websockets-sansio|wsproto: uvicorn's own), against a
fresh `bench_memory` database of 500 SKUs; opens 100 warm-up and then N graphql-transport-ws
subscribers (bench/ws.py) from a child process; and prints the tracemalloc growth per
subscriber, grouped by the innermost frame in a known package (ours, Strawberry, uvicorn,
websockets, graphql-core, ...) and by allocating line, plus the tasks per subscriber.
tracemalloc roughly doubles RSS; the bench's RSS figure is the one to compare.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import sys
import tracemalloc

import asyncpg
import uvicorn

from bench.pg import LOCATION, SEED, with_database
from server import create_app
from settings import Settings
from store import migrations
from web.ws_protocol import LeanWebSocketProtocol

ADMIN_URL = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
PACKAGES = ("/feed/", "/resolvers/", "/web/", "/schema/", "/service/", "/strawberry/",
            "/uvicorn/", "/websockets/", "/graphql/", "/aiodataloader/", "/starlette/",
            "/broadcaster/")
CLIENT = """
import asyncio, sys
from bench.ws import Hub, subscribe_many
async def main(port, n, start):
    hub = Hub()
    await subscribe_many(port, [f"B{(i % 500) + 1:05d}" for i in range(start, start + n)],
                         hub, deflate=True)
    print(f"ready {hub.ready} failed {hub.failed} {hub.errors[:1]}", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
"""


def _where(trace: tracemalloc.StatisticDiff) -> str:
    for frame in reversed(list(trace.traceback)):
        for package in PACKAGES:
            if package in frame.filename:
                return package.strip("/")
    return "asyncio, stdlib and other"


async def _database() -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute("DROP DATABASE IF EXISTS bench_memory WITH (FORCE)")
        await admin.execute("CREATE DATABASE bench_memory")
    finally:
        await admin.close()
    url = with_database(ADMIN_URL, "bench_memory")
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn)
        await conn.execute(SEED, "B", 500, 1000, LOCATION)
    finally:
        await conn.close()
    return url


async def main(n: int) -> None:
    url = await _database()
    settings = Settings(database_url=url, redis_url=REDIS_URL, feed_prefix="bench-memory",
                        max_connections_per_key=1_000_000, rate_limit_anonymous=0,
                        max_anonymous_feeds_per_address=1_000_000)
    # BENCH_MEMORY_WS: `serve`'s protocol (lean, the default) or one of uvicorn's by name
    # ("websockets-sansio", "wsproto" if installed), to compare them
    ws = os.environ.get("BENCH_MEMORY_WS") or "lean"
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning",
                            ws_per_message_deflate=False,
                            ws=LeanWebSocketProtocol if ws == "lean" else ws)  # type: ignore[arg-type]
    print("WebSocket protocol:", ws)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    children = []

    async def subscribers(count: int, start: int) -> None:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, str(port), str(count), str(start),
            stdout=asyncio.subprocess.PIPE)
        children.append(child)
        assert child.stdout is not None
        print("subscribers:", (await child.stdout.readline()).decode().strip())

    try:
        await subscribers(100, 0)
        await asyncio.sleep(1)
        gc.collect()
        tracemalloc.start(40)
        before = tracemalloc.take_snapshot()
        tasks_before = len(asyncio.all_tasks())
        await subscribers(n, 100)
        await asyncio.sleep(2)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tasks = collections.Counter(
            getattr(t.get_coro(), "__qualname__", "?") for t in asyncio.all_tasks())
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        diffs = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "traceback")
        total = sum(d.size_diff for d in diffs)
        print(f"\ntraced growth per subscriber: {total / n / 1024:.1f} KB; "
              f"tasks per subscriber: {(len(asyncio.all_tasks()) - tasks_before) / n:.2f} "
              f"({', '.join(f'{k} {v}' for k, v in tasks.most_common(3))})\n")
        groups: collections.Counter[str] = collections.Counter()
        for d in diffs:
            groups[_where(d)] += d.size_diff
        print("by package (innermost frame in it):")
        for name, size in groups.most_common():
            print(f"  {size / n:8.0f} B  {name}")
        print("\nby allocating line:")
        lines = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
        for d in lines[:25]:
            frame = d.traceback[0]
            where = frame.filename.split("site-packages/")[-1].split("/work/main/")[-1]
            print(f"  {d.size_diff / n:8.0f} B  {d.count_diff / n:5.1f} objects  "
                  f"{where}:{frame.lineno}")
    finally:
        tracemalloc.stop()
        for child in children:
            child.kill()
        server.should_exit = True
        await serving


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
