"""A partner system (an ERP, a marketplace) talking to the inventory server: it registers a
webhook endpoint served by a receiver it runs itself, reserves stock, commits the reservation,
and waits for the webhook telling it so, whose Standard Webhooks signature it verifies.

    python examples/partner.py --url http://127.0.0.1:8000/graphql --sku TEE-BLK-M \\
        [--api-key inv_...] [--listen 127.0.0.1]

Needs `gql[aiohttp]`, `aiohttp` and `standardwebhooks` (all in requirements.lock), an API key
with the `admin` scope (webhook endpoints are admin's; under `make run` none is needed), and a
server that may call the receiver: on one machine, WEBHOOK_ALLOW_PRIVATE_NETWORKS=true.
Prints one line per step; exits 1 if a step fails or the webhook does not come in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import uuid
from typing import Any

from aiohttp import web
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from standardwebhooks import Webhook, WebhookVerificationError

REGISTER = gql("""
mutation Register($url: String!, $sku: String!) {
  createWebhookEndpoint(input: {url: $url, skus: [$sku],
                                eventTypes: ["inventory.stock.committed"]}) {
    endpoint { id url }
    secret
    userErrors { code field message }
  }
}""")
RESERVE = gql("""
mutation Reserve($sku: String!, $key: String!) {
  reserve(input: {sku: $sku, quantity: 1, reference: "partner-example", idempotencyKey: $key}) {
    reservation { id status location { code } }
    userErrors { code field message }
  }
}""")
COMMIT = gql("""
mutation Commit($id: ID!) {
  commitReservation(input: {reservationId: $id}) {
    reservation { id status }
    userErrors { code field message }
  }
}""")
UNREGISTER = gql("""
mutation Unregister($id: ID!) { deleteWebhookEndpoint(id: $id) { userErrors { code } } }""")


class Receiver:
    """The partner's webhook endpoint: every request is verified with the endpoint's secret
    (401 if it does not verify); verified events are queued for the partner to read."""

    def __init__(self) -> None:
        self.secret = ""
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.refused = 0

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.refused += 1
            return web.Response(status=401)
        await self.events.put({"headers": dict(request.headers), "event": event})
        return web.Response(status=204)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def failed(step: str, errors: list[dict[str, Any]]) -> None:
    print(f"{step} refused: {json.dumps(errors)}")
    raise SystemExit(1)


async def run(url: str, api_key: str | None, sku: str, listen: str, wait: float) -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/inventory-webhook", receiver.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port(listen)
    await web.TCPSite(runner, listen, port).start()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    transport = AIOHTTPTransport(url=url, headers=headers)
    endpoint_id = None
    try:
        async with Client(transport=transport) as session:
            hook = f"http://{listen}:{port}/inventory-webhook"
            made = (await session.execute(REGISTER, variable_values={"url": hook, "sku": sku})
                    )["createWebhookEndpoint"]
            if made["userErrors"]:
                failed("createWebhookEndpoint", made["userErrors"])
            endpoint_id, receiver.secret = made["endpoint"]["id"], made["secret"]
            print(f"registered webhook endpoint {endpoint_id}: {hook}")
            try:
                key = f"partner-{uuid.uuid4()}"
                held = (await session.execute(RESERVE, variable_values={"sku": sku, "key": key})
                        )["reserve"]
                if held["userErrors"]:
                    failed("reserve", held["userErrors"])
                hold = held["reservation"]
                print(f"reserved 1 x {sku} at {hold['location']['code']}: "
                      f"reservation {hold['id']} {hold['status']}")
                done = (await session.execute(COMMIT, variable_values={"id": hold["id"]})
                        )["commitReservation"]
                if done["userErrors"]:
                    failed("commitReservation", done["userErrors"])
                print(f"committed reservation {hold['id']}: {done['reservation']['status']}")
                await verified_webhook(receiver, hold["id"], wait)
            finally:
                await session.execute(UNREGISTER, variable_values={"id": endpoint_id})
                print(f"deleted webhook endpoint {endpoint_id}")
    finally:
        await runner.cleanup()


async def verified_webhook(receiver: Receiver, reservation: str, wait: float) -> None:
    """The committed event of `reservation`, within `wait` seconds (others are skipped)."""
    try:
        async with asyncio.timeout(wait):
            while True:
                got = await receiver.events.get()
                event, data = got["event"], got["event"]["data"]
                if event["type"] == "inventory.stock.committed" \
                        and data["reservationId"] == reservation:
                    break
    except TimeoutError:
        print(f"no verified webhook for {reservation} within {wait:g} s "
              f"({receiver.refused} refused)")
        raise SystemExit(1) from None
    print(f"webhook {event['type']} {event['id']} verified (webhook-id "
          f"{got['headers']['webhook-id']}): {data['sku']} onHand {data['onHandDelta']:+d}, "
          f"available {data['available']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/graphql")
    parser.add_argument("--api-key", help="a key with the admin scope (omit under make run)")
    parser.add_argument("--sku", default="TEE-BLK-M")
    parser.add_argument("--listen", default="127.0.0.1", help="the receiver's address")
    parser.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the webhook")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.api_key, args.sku, args.listen, args.wait))


if __name__ == "__main__":
    sys.exit(main())
