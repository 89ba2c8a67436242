"""What an idle relayed subscriber costs the server (web/websocket.py, feed/audience.py):
500 graphql-transport-ws sockets, each with one stockEvents subscription, opened by another
process against a real uvicorn configured as `serve` runs it. Traced growth per socket was
36.5 KB with a task and generator pipeline per subscription; relayed it is ~22 KB."""

from __future__ import annotations

from tests.conftest import RunningServer
from tests.integration.test_socket_memory import idle_sockets, settings

__all__ = ["settings"]  # the fixture: no per-address cap or rate for the one client process

SOCKETS = 500
MAX_KB_PER_SOCKET = 28


async def test_an_idle_relayed_subscriber_costs_the_server_under_28_kb(
    server: RunningServer,
) -> None:
    async with idle_sockets(server, SOCKETS) as per_socket:
        feed = server.server.lifespan.state["services"].feed
        audiences = [len(a.members) for c in feed.streams.values() for a in c.audiences.values()]
    assert sorted(audiences) == [SOCKETS // 2, SOCKETS // 2]  # two SKUs, one document
    assert per_socket < MAX_KB_PER_SOCKET, f"{per_socket:.1f} KB per idle subscriber"
    print(f"{per_socket:.1f} KB per idle subscriber")
