from __future__ import annotations
import logging
import aiohttp
import pytest
from tests.conftest import RunningServer

CASES = {
    "unknown reservation": ('{ reservation(id: "00000000-0000-0000-0000-000000000000") { id } }', {}),
    "junk reservation": ('{ reservation(id: "{0000}") { id } }', {}),
    "nul code": ('{ sku(code: "a\\u0000b") { code } }', {}),
    "junk token": ('{ __typename }', {"Authorization": "Bearer inv_x_y"}),
    "bad token": ('{ __typename }', {"Authorization": "Basic zzz"}),
    "release unknown": ('mutation { releaseReservation(input: {reservationId: "00000000-0000-0000-0000-000000000001"}) { userErrors { code } } }', {"Authorization": "Bearer admin-secret"}),
    "bad var": ('query($n: Int) { skus(first: $n) { edges { cursor } } }', {}),
    "syntax": ('{ sku(code: "secret-ref" ', {}),
    "reserve ref": ('mutation { reserve(input: {sku: "nope", quantity: 1, reference: "alice@example.com", idempotencyKey: "idem-secret"}) { userErrors { code } } }', {}),
}

async def test_explore(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession() as s:
        for name, (q, h) in CASES.items():
            caplog.clear()
            body = {"query": q, "variables": {"n": "junk-secret"}} if name == "bad var" else {"query": q}
            async with s.post(server.graphql_url, json=body, headers=h) as r:
                text = await r.text()
            print("=====", name, r.status, text[:200])
            for rec in caplog.records:
                print("   ", rec.levelname, rec.name, repr(rec.getMessage()[:150]), "exc" if rec.exc_info else "", "stack" if rec.stack_info else "")
