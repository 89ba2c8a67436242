"""examples/partner.py against a real server: it registers its own receiver, reserves, commits,
and verifies the webhook it is sent with `standardwebhooks`; a forged webhook is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import re
import sys
from datetime import UTC, datetime
from types import ModuleType

import aiohttp
import pytest
from standardwebhooks import Webhook

from settings import Settings
from tests.client import GraphQLClient
from tests.conftest import ADMIN_KEY, RunningServer
from tests.processes import ROOT
from tests.webhook_receiver import new_secret

EXAMPLE = ROOT / "examples" / "partner.py"
LEVEL = '{ sku(code: "SKU-1") { levels(location: "WH-A") { onHand reserved } } }'


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # the example's receiver listens on 127.0.0.1
    return dataclasses.replace(settings, partners=dataclasses.replace(
        settings.partners, webhook_allow_private_networks=True))


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("partner_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_partner_reserves_commits_and_verifies_its_webhook(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    before = (await catalogue.data(LEVEL))["sku"]["levels"][0]
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), "--url", server.graphql_url, "--api-key", ADMIN_KEY,
        "--sku", "SKU-1", "--wait", "20", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    lines = out.decode().splitlines()
    assert process.returncode == 0, (lines, err.decode()[-2000:])
    assert re.fullmatch(r"registered webhook endpoint \d+: http://127\.0\.0\.1:\d+/inventory-webhook", lines[0])
    held = re.fullmatch(r"reserved 1 x SKU-1 at (WH-A|ST-B): reservation ([0-9a-f-]{36}) ACTIVE", lines[1])
    assert held, lines
    assert lines[2] == f"committed reservation {held[2]}: COMMITTED"
    assert re.fullmatch(r"webhook inventory\.stock\.committed SKU-1/\d+ verified \(webhook-id "
                        r"SKU-1/\d+\): SKU-1 onHand -1, available 13", lines[3]), lines
    assert re.fullmatch(r"deleted webhook endpoint \d+", lines[4])
    assert len(lines) == 5
    after = (await catalogue.data(LEVEL))["sku"]["levels"][0]
    if held[1] == "WH-A":
        assert after == {"onHand": before["onHand"] - 1, "reserved": before["reserved"]}
    assert (await catalogue.data("{ webhookEndpoints { id } }"))["webhookEndpoints"] == []


async def test_the_examples_receiver_refuses_a_webhook_signed_with_another_secret() -> None:
    partner = example()
    receiver = partner.Receiver()
    receiver.secret = new_secret()
    app = aiohttp.web.Application()
    app.router.add_post("/hook", receiver.receive)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = partner.free_port("127.0.0.1")
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    body = '{"type": "inventory.stock.committed", "data": {}}'
    try:
        async with aiohttp.ClientSession() as session:
            for secret, status in ((new_secret(), 401), (receiver.secret, 204)):
                now = datetime.now(UTC)
                headers = {"webhook-id": "SKU-1/1", "content-type": "application/json",
                           "webhook-timestamp": str(int(now.timestamp())),
                           "webhook-signature": Webhook(secret).sign("SKU-1/1", now, body)}
                async with session.post(f"http://127.0.0.1:{port}/hook", data=body,
                                        headers=headers) as response:
                    assert response.status == status
    finally:
        await runner.cleanup()
    assert receiver.refused == 1 and receiver.events.qsize() == 1
