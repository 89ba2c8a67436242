"""Fan-out: N graphql-transport-ws subscribers across 500 SKUs while reserve mutations commit
through the server at a fixed rate; latency from the reserving client's send to its answer and
to each watcher's receipt of the RESERVED event (matched by reservation id), and from commit
(the event's occurredAt) to receipt, against raw Redis publish -> receive measured at the same
time; RSS per subscriber."""

from __future__ import annotations

import asyncio
import collections
import gc
import random
import time
from typing import cast

import orjson

from bench import redisprobe
from bench.harness import Harness, Row, cpu_share, rate_row
from bench.http import GraphQLClient
from bench.load import fixed_rate
from bench.measure import latency_ms
from bench.pg import sku_code
from bench.serverproc import Server
from bench.ws import Hub
from bench.ws_fleet import Fleet, open_files_to_hard_limit

RESERVE = """mutation Reserve($sku: String!) {
  reserve(input: {sku: $sku, quantity: 1}) { reservation { id } userErrors { code } } }"""
SENDERS = 20


def from_send(sent_at: dict[str, float], arrivals: list[tuple[str, float]]) -> list[float]:
    """Seconds from each reservation's send to each receipt of its event; receipts of
    reservations this run did not send (or whose answer never came) are left out."""
    return [t - sent_at[rid] for rid, t in arrivals if rid in sent_at]


async def _settle(server: Server, seconds: float = 2.0) -> int:
    await asyncio.sleep(seconds)
    return server.rss()


async def _changes(h: Harness, server: Server, fleet: Fleet,
                   watchers: collections.Counter[str], label: str,
                   rate: float, seconds: float) -> dict[str, object]:
    """Commit changes at `rate` for `seconds`; deliveries of changes committed in the window
    are counted until the backlog has drained."""
    c = h.config
    client_pool = [GraphQLClient(server.port, c.admin_key) for _ in range(SENDERS)]
    rng = random.Random(17)
    skus = sorted(watchers)
    committed: collections.Counter[str] = collections.Counter()
    sent_at: dict[str, float] = {}  # reservation id -> the client's send time

    async def send(index: int) -> str:
        sku = skus[rng.randrange(len(skus))]
        client = client_pool[index]
        payload = client.encode(RESERVE, {"sku": sku})
        started = time.time()
        status, body = await client.post(payload)
        if status == 200 and b'"userErrors":[]' in body:
            held = orjson.loads(body)["data"]["reserve"]["reservation"]
            sent_at[held["id"]] = started
            committed[sku] += 1
            return "ok"
        return "error"

    stop = asyncio.Event()
    measured = h.measured(server, label)
    hub = fleet.hub
    await fleet.record()
    measured.start()
    probe = asyncio.create_task(redisprobe.probe(
        c.redis_url, f"bench-{c.run_id}-probe", rate, stop))
    senders = asyncio.create_task(fixed_rate(rate, SENDERS, stop, send))
    await asyncio.sleep(seconds)
    stop.set()
    tally = await senders
    cpu = await measured.stop()
    in_window = await fleet.delivered()
    # Drain: events committed in the window that are still on their way (a backlog, not a
    # loss) are counted for completeness until nothing arrives for a second (at most 30 s).
    for _ in range(30):
        before = await fleet.delivered()
        await asyncio.sleep(1.0)
        if await fleet.delivered() == before:
            break
    await fleet.stop()
    raw = await probe
    for client in client_pool:
        client.close()
    expected = sum(n * watchers[sku] for sku, n in committed.items())
    send_to_client = from_send(sent_at, hub.arrivals)
    return {
        "committed_per_s": round(tally.outcomes["ok"] / tally.seconds, 1),
        "mutation_errors": tally.outcomes["error"] + sum(
            n for k, n in tally.outcomes.items() if k.startswith("error:")),
        "mutation_latency": latency_ms(tally.latencies),
        "delivered_per_s": round(in_window / tally.seconds, 1),
        "delivered_after_drain": hub.delivered,
        "expected_per_s": round(expected / tally.seconds, 1),
        "complete": round(hub.delivered / expected, 4) if expected else 0.0,
        "commit_to_client": latency_ms(hub.commit_to_client),
        "send_to_client": latency_ms(send_to_client),
        "send_to_client_matched": len(send_to_client),
        "send_to_client_unmatched": len(hub.arrivals) - len(send_to_client),
        "redis_publish_to_receive": latency_ms(raw),
        "cpu_s": cpu, "cores": cpu_share(cpu),
    }


async def _one_server(h: Harness, template: str, variant: str, sizes: tuple[int, ...],
                      extra_args: tuple[str, ...]) -> None:
    c = h.config
    url = await h.dbs.fresh(f"fanout{variant.replace('-', '_')}", template)
    skus = [sku_code(n) for n in range(1, c.fanout_skus + 1)]
    # as admin: the RESERVED events then carry the reservation id to match sends by
    fleet = Fleet(Hub(), c.ws_deflate, c.admin_key, c.ws_per_process)
    subscribed = 0
    watchers: collections.Counter[str] = collections.Counter()
    async with h.server(url, f"fanout{variant}", extra_args) as server:
        warm = GraphQLClient(server.port, c.admin_key)
        for n in range(20):
            await warm.post(warm.encode(RESERVE, {"sku": skus[n]}))
        warm.close()
        rss0 = await _settle(server)
        for size in sizes:
            wanted = [skus[i % len(skus)] for i in range(subscribed, size)]
            h.log(f"fan-out{variant}: connecting {len(wanted)} more subscribers (to {size})")
            t0 = time.perf_counter()
            await fleet.subscribe(server.port, wanted)
            connect_s = time.perf_counter() - t0
            subscribed = size
            watchers.update(wanted)
            if fleet.failed:
                raise RuntimeError(f"{fleet.failed} subscribers failed: {fleet.errors[:5]}")
            gc.collect()
            rss = await _settle(server)
            per_kb = (rss - rss0) / size / 1024
            h.log(f"fan-out{variant}: {size} subscribers, {c.changes_per_second} changes/s")
            label = f"fanout{variant}-{size}" if size == c.main_subscribers else ""
            found = await _changes(h, server, fleet, watchers, label, c.changes_per_second,
                                   c.seconds)
            found.update(subscribers=size, generator_processes=fleet.processes,
                         connect_s=round(connect_s, 1),
                         subscribers_per_s=round(len(wanted) / connect_s, 1),
                         rss_idle_mb=round(rss / 2**20, 1), rss_base_mb=round(rss0 / 2**20, 1),
                         rss_per_subscriber_kb=round(per_kb, 1))
            h.details[f"fanout{variant}_{size}"] = found
            _rows(h, variant, size, found, per_kb)
            if size == c.main_subscribers and not variant and c.low_rate:
                # The same pipeline below saturation: what a commit costs to reach clients
                # when the server is not queueing mutations.
                h.log(f"fan-out: {size} subscribers, {c.low_rate} changes/s")
                low = await _changes(h, server, fleet, watchers, "", c.low_rate,
                                     max(5.0, c.seconds / 2))
                h.details[f"fanout_{size}_at_{c.low_rate}_per_s"] = low
                _latency_row(h, f"fan-out at {c.low_rate:g} changes/s", size, low, False)
        await fleet.close()


def _latency_row(h: Harness, label: str, size: int, found: dict[str, object],
                 main: bool) -> None:
    c2c = found["commit_to_client"]
    probe = found["redis_publish_to_receive"]
    s2c = found["send_to_client"]
    cpu = found["cpu_s"]
    assert isinstance(c2c, dict) and isinstance(probe, dict) and isinstance(s2c, dict)
    assert isinstance(cpu, dict)
    p99, ceiling = float(c2c["p99_ms"]), float(probe["p99_ms"])
    h.add(Row(label, f"p99 commit->client ms, {size} subs", p99, " ms", ceiling,
              "Redis pub->sub p99, same time", round(ceiling / p99, 3) if p99 else None,
              "<= 50 ms" if main else "", (p99 <= 50) if main else None, cpu,
              f"p50 {c2c['p50_ms']} ms (Redis p50 {probe['p50_ms']} ms); send->subscriber "
              f"p50 {s2c['p50_ms']} p99 {s2c['p99_ms']} ms; {found['committed_per_s']} "
              f"reserves/s, send->answer p50 {found['mutation_latency']['p50_ms']} ms"))  # type: ignore[index]


# What a shopper and a product page see (issue 16), from the client's send: (figure key,
# row name, percentile, target in ms).
FROM_SEND = (("mutation_latency", "send->reserve answer", "p50", 4.0),
             ("mutation_latency", "send->reserve answer", "p99", 20.0),
             ("send_to_client", "send->subscriber", "p50", 5.0),
             ("send_to_client", "send->subscriber", "p99", 20.0))


def _from_send_rows(h: Harness, label: str, size: int, found: dict[str, object]) -> None:
    probe = found["redis_publish_to_receive"]
    assert isinstance(probe, dict)
    for key, name, q, target in FROM_SEND:
        figures = found[key]
        assert isinstance(figures, dict)
        value, ceiling = float(figures[f"{q}_ms"]), float(probe[f"{q}_ms"])
        h.add(Row(label, f"{q} {name} ms, {size} subs", value, " ms", ceiling,
                  f"Redis pub->sub {q}, same time", round(ceiling / value, 3) if value else None,
                  f"<= {target:g} ms", value <= target, note=(
                      f"{found['send_to_client_matched']} deliveries matched by reservation id"
                      if key == "send_to_client" else "")))


def _rows(h: Harness, variant: str, size: int, found: dict[str, object], per_kb: float) -> None:
    main = size == h.config.main_subscribers
    label = f"fan-out{variant}"
    cpu = found["cpu_s"]
    assert isinstance(cpu, dict)
    h.add(rate_row(label, f"events delivered/s, {size} subs",
                   float(cast(float, found["delivered_per_s"])),
                   float(cast(float, found["expected_per_s"])), "committed x watchers",
                   None, cpu, f"{found['committed_per_s']} reserves/s "
                   f"(asked {h.config.changes_per_second}/s); after draining the backlog "
                   f"{found['complete']:.2%} of expected deliveries arrived"))
    _latency_row(h, label, size, found, main)
    if main:
        _from_send_rows(h, label, size, found)
    h.add(Row(label, f"server RSS per idle subscriber, {size} subs", round(per_kb, 1), " KB",
              target="<= 30 KB" if main else "", met=(per_kb <= 30) if main else None,
              note=f"{found['subscribers_per_s']} subscribes/s"))


async def run(h: Harness) -> None:
    c = h.config
    open_files_to_hard_limit()
    template = await h.dbs.template("fanout", c.fanout_skus, 1_000_000)
    await _one_server(h, template, "", c.fanout_subscribers, ())
    if c.deflate_off_variant and c.ws_deflate:
        # the smallest size is enough to show the memory and CPU that compression costs
        await _one_server(h, template, "-nodeflate", c.fanout_subscribers[:1],
                          ("--ws-per-message-deflate", "false"))
