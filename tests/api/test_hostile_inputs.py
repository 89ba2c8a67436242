"""Issue 11's bad inputs, one table: non-object bodies, NUL, lone surrogates and over-long
strings in every argument, non-canonical reservation ids, oversized carts and levels, SSE resume
points out of range. Each gets its clean error; afterwards the ledger is unchanged and the
server still serves."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from settings import Settings
from tests.api.test_access import ledger
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from tests.ledger_checks import assert_consistent

NUL, LONE, LONG = "a\x00b", "a\ud800b", "A" * 10_240
ANY = "__ANY__"  # replaced by a real reservation id (in braces, after urn:uuid:, ...)
HEX = "__HEX__"  # replaced by the same id without its hyphens

SKU = "query($c: String!) { sku(code: $c) { code } }"
SEARCH = "query($s: String) { skus(filter: {search: $s}) { edges { cursor } } }"
AT = "query($l: String) { skus(filter: {location: $l}) { edges { cursor } } }"
AFTER = "query($a: String) { skus(after: $a) { edges { cursor } } }"
CODES = "query($c: [String!]!) { skusByCode(codes: $c) { code } }"
LOCATION = "query($c: String!) { location(code: $c) { code } }"
EVENTS = "query($s: String!) { stockEvents(sku: $s) { sequence } }"
RESERVATION = "query($id: ID!) { reservation(id: $id) { id } }"


def mutation(field: str, kind: str) -> str:
    return (f"mutation($i: {kind}!) {{ {field}(input: $i) {{ userErrors {{ code field }} }} }}")


RESERVE = mutation("reserve", "ReserveInput")
LINES = mutation("reserveLines", "ReserveLinesInput")
ADJUST = mutation("adjustStock", "AdjustStockInput")
SET = mutation("setStock", "SetStockInput")
UPSERT_SKU = mutation("upsertSku", "UpsertSkuInput")
UPSERT_LOCATION = mutation("upsertLocation", "UpsertLocationInput")
COMMIT = mutation("commitReservation", "CommitReservationInput")
RELEASE = mutation("releaseReservation", "ReleaseReservationInput")
EXTEND = mutation("extendReservation", "ExtendReservationInput")
LINE = {"sku": "SKU-1", "quantity": 1}
SHIP = mutation("shipTransfer", "ShipTransferInput")
RECEIVE = mutation("receiveTransfer", "ReceiveTransferInput")
CANCEL = mutation("cancelTransfer", "CancelTransferInput")
TRANSFER = "query($id: ID!) { transfer(id: $id) { id } }"
TRANSFERS = "query($l: String) { transfers(location: $l) { id } }"
SHIPMENT = {"from": "WH-A", "to": "ST-B", "lines": [LINE]}

# (name, query, variables, where the error is, its code)
GRAPHQL: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("NUL in sku(code)", SKU, {"c": NUL}, "errors", "BAD_USER_INPUT"),
    ("lone surrogate in sku(code)", SKU, {"c": LONE}, "errors", "BAD_USER_INPUT"),
    ("10 KB sku(code)", SKU, {"c": LONG}, "errors", "BAD_USER_INPUT"),
    ("inline NUL in sku(code)", '{ sku(code: "a\\u0000b") { code } }', {}, "errors",
     "BAD_USER_INPUT"),
    ("inline lone surrogate", '{ sku(code: "a\\ud800b") { code } }', {}, "errors",
     "GRAPHQL_PARSE_FAILED"),  # graphql-core refuses the escape itself
    ("NUL in search", SEARCH, {"s": NUL}, "errors", "BAD_USER_INPUT"),
    ("lone surrogate in search", SEARCH, {"s": LONE}, "errors", "BAD_USER_INPUT"),
    ("10 KB search", SEARCH, {"s": LONG}, "errors", "BAD_USER_INPUT"),
    ("NUL in filter location", AT, {"l": NUL}, "errors", "BAD_USER_INPUT"),
    ("NUL in cursor", AFTER, {"a": NUL}, "errors", "BAD_USER_INPUT"),
    ("lone surrogate in cursor", AFTER, {"a": LONE}, "errors", "BAD_USER_INPUT"),
    ("cursor of a NUL", AFTER, {"a": "AA=="}, "errors", "BAD_USER_INPUT"),
    ("NUL in skusByCode", CODES, {"c": ["SKU-1", NUL]}, "errors", "BAD_USER_INPUT"),
    ("lone surrogate in location(code)", LOCATION, {"c": LONE}, "errors", "BAD_USER_INPUT"),
    ("NUL in stockEvents(sku)", EVENTS, {"s": NUL}, "errors", "BAD_USER_INPUT"),
    ("NUL reservation id", RESERVATION, {"id": NUL}, "null", ""),
    ("{uuid} reservation id", RESERVATION, {"id": "{" + ANY + "}"}, "null", ""),
    ("urn:uuid: reservation id", RESERVATION, {"id": "urn:uuid:" + ANY}, "null", ""),
    ("unhyphenated reservation id", RESERVATION, {"id": HEX}, "null", ""),
    ("NUL in reserve sku", RESERVE, {"i": {**LINE, "sku": NUL}}, "userErrors", "INVALID_INPUT"),
    ("NUL in reference", RESERVE, {"i": {**LINE, "reference": NUL}}, "userErrors",
     "INVALID_INPUT"),
    ("lone surrogate in reference", RESERVE, {"i": {**LINE, "reference": LONE}}, "userErrors",
     "INVALID_INPUT"),
    ("NUL in idempotencyKey", RESERVE, {"i": {**LINE, "idempotencyKey": NUL}}, "userErrors",
     "INVALID_INPUT"),
    ("lone surrogate in idempotencyKey", RESERVE, {"i": {**LINE, "idempotencyKey": LONE}},
     "userErrors", "INVALID_INPUT"),
    ("10 KB idempotencyKey", RESERVE, {"i": {**LINE, "idempotencyKey": LONG}}, "userErrors",
     "INVALID_INPUT"),
    ("cart reference NUL", LINES, {"i": {"lines": [LINE], "reference": NUL}}, "userErrors",
     "INVALID_INPUT"),
    ("cart of 201 lines", LINES, {"i": {"lines": [LINE] * 201}}, "userErrors", "INVALID_INPUT"),
    ("adjust reference surrogate", ADJUST, {"i": {"sku": "SKU-1", "location": "WH-A",
     "delta": 1, "reason": "RESTOCK", "reference": LONE}}, "userErrors", "INVALID_INPUT"),
    ("restock past MAX_QUANTITY", ADJUST, {"i": {"sku": "SKU-1", "location": "WH-A",
     "delta": 999_991, "reason": "RESTOCK"}}, "userErrors", "INVALID_QUANTITY"),
    ("setStock idempotencyKey NUL", SET, {"i": {"sku": "SKU-1", "location": "WH-A",
     "onHand": 10, "idempotencyKey": NUL}}, "userErrors", "INVALID_INPUT"),
    ("upsertSku name NUL", UPSERT_SKU, {"i": {"code": "SKU-9", "name": NUL}}, "userErrors",
     "INVALID_INPUT"),
    ("upsertLocation name surrogate", UPSERT_LOCATION, {"i": {"code": "L-9", "name": LONE,
     "kind": "STORE"}}, "userErrors", "INVALID_INPUT"),
    ("commit {uuid}", COMMIT, {"i": {"reservationId": "{" + ANY + "}"}}, "userErrors",
     "INVALID_INPUT"),
    ("commit urn:uuid:", COMMIT, {"i": {"reservationId": "urn:uuid:" + ANY}}, "userErrors",
     "INVALID_INPUT"),
    ("release unhyphenated", RELEASE, {"i": {"reservationId": HEX}},
     "userErrors", "INVALID_INPUT"),
    ("extend NUL id", EXTEND, {"i": {"reservationId": NUL, "ttlSeconds": 60}}, "userErrors",
     "INVALID_INPUT"),
    ("ship from NUL", SHIP, {"i": {**SHIPMENT, "from": NUL}}, "userErrors", "INVALID_INPUT"),
    ("ship line sku surrogate", SHIP, {"i": {**SHIPMENT, "lines": [{**LINE, "sku": LONE}]}},
     "userErrors", "INVALID_INPUT"),
    ("ship reference 10 KB", SHIP, {"i": {**SHIPMENT, "reference": LONG}}, "userErrors",
     "INVALID_INPUT"),
    ("ship idempotencyKey NUL", SHIP, {"i": {**SHIPMENT, "idempotencyKey": NUL}}, "userErrors",
     "INVALID_INPUT"),
    ("ship of 201 lines", SHIP, {"i": {**SHIPMENT, "lines": [LINE] * 201}}, "userErrors",
     "INVALID_INPUT"),
    ("ship past MAX_QUANTITY", SHIP, {"i": {**SHIPMENT, "lines": [{**LINE, "quantity": 2**31 - 1}]}},
     "userErrors", "INVALID_QUANTITY"),
    ("receive NUL transfer id", RECEIVE, {"i": {"transferId": NUL}}, "userErrors", "NOT_FOUND"),
    ("receive {uuid}", RECEIVE, {"i": {"transferId": "{" + ANY + "}"}}, "userErrors", "NOT_FOUND"),
    ("receive line sku NUL", RECEIVE, {"i": {"transferId": ANY, "lines": [{**LINE, "sku": NUL}]}},
     "userErrors", "INVALID_INPUT"),
    ("cancel urn:uuid:", CANCEL, {"i": {"transferId": "urn:uuid:" + ANY}}, "userErrors",
     "NOT_FOUND"),
    ("NUL transfer id", TRANSFER, {"id": NUL}, "null", ""),
    ("unhyphenated transfer id", TRANSFER, {"id": HEX}, "null", ""),
    ("NUL in transfers(location)", TRANSFERS, {"l": NUL}, "errors", "BAD_USER_INPUT"),
]
# bodies that are JSON but not an object: 400 on both paths, the same bytes
BODIES: list[tuple[bytes, str]] = [(b"42", "JSON object"), (b"null", "JSON object"),
                                   (b'"x"', "JSON object"), (b"true", "JSON object"),
                                   (b"[]", "Batching is not enabled")]
RESUME = [("after", "9223372036854775808"), ("after", "-1"), ("after", "1e3"),
          ("after", "99999999999999999999999"), ("last-event-id", "9223372036854775808")]


@pytest.fixture
async def full_path(settings: Settings, server: RunningServer) -> AsyncIterator[RunningServer]:
    async with RunningServer(dataclasses.replace(settings, http_fast_path=False)) as running:
        yield running


def _spelled(value: Any, reservation_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(ANY, reservation_id).replace(HEX, reservation_id.replace("-", ""))
    if isinstance(value, dict):
        return {k: _spelled(v, reservation_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_spelled(v, reservation_id) for v in value]
    return value


async def test_hostile_inputs_get_clean_errors_and_change_nothing(
    server: RunningServer, full_path: RunningServer, catalogue: GraphQLClient,
    pool: asyncpg.Pool,
) -> None:
    held = await catalogue.data('mutation { reserve(input: {sku: "SKU-1", quantity: 1, '
                                'location: "WH-A"}) { reservation { id } } }')
    reservation_id = held["reserve"]["reservation"]["id"]
    assert str(uuid.UUID(reservation_id)) == reservation_id
    before = await ledger(pool)
    wrong: list[str] = []  # every row is tried; all the wrong answers are reported at once
    async with aiohttp.ClientSession() as session:
        for body, says in BODIES:
            answers = []
            for url in (server.graphql_url, full_path.graphql_url):
                async with session.post(url, data=body, headers={
                        **ADMIN, "Content-Type": "application/json"}) as r:
                    answers.append((r.status, await r.read()))
            if answers[0] != answers[1] or answers[0][0] != 400 or says.encode() not in answers[0][1]:
                wrong.append(f"body {body!r}: {answers}")
        for name, query, variables, where, code in GRAPHQL:
            reply = await catalogue.post(query, _spelled(variables, reservation_id))
            if where == "errors":
                ok = {e.get("extensions", {}).get("code") for e in reply.get("errors", [])} == {code}
            elif where == "null":
                found = reply.get("data") or {}
                ok = len(found) == 1 and set(found.values()) == {None} and "errors" not in reply
            else:
                payload = (reply.get("data") or {}).get(query.split("{")[1].split("(")[0].strip())
                ok = payload is not None and {e["code"] for e in payload["userErrors"]} == {code}
            if not ok:
                wrong.append(f"{name}: {str(reply)[:200]}")
        for where, value in RESUME:
            url = f"{server.url}/skus/SKU-1/events"
            params = {"after": value} if where == "after" else {}
            headers = {} if where == "after" else {"Last-Event-ID": value}
            async with session.get(url, params=params, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=10)) as r:
                text = (await r.content.read(300)).decode(errors="replace")
                if r.status != 400 or "BAD_USER_INPUT" not in text:
                    wrong.append(f"SSE {where}={value}: {r.status} {text[:100]}")
    assert not wrong, "\n".join(wrong)
    upper = await catalogue.data(RESERVATION, {"id": reservation_id.upper()})
    assert upper == {"reservation": {"id": reservation_id}}  # canonical, either case
    alive = await catalogue.data('{ sku(code: "SKU-1") { available } }')
    assert alive["sku"]["available"] == 13
    assert await ledger(pool) == before
    await assert_consistent(pool)
