"""One table of hostile requests: each gets its exact, clean error, the server answers the
next request, and afterwards the stock ledger is unchanged and consistent."""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg

from tests.api.test_access import ledger
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from tests.ledger_checks import assert_consistent

RESERVE = "mutation($i: ReserveInput!) { reserve(input: $i) { reservation { id } userErrors { code field } } }"
ADJUST = "mutation($i: AdjustStockInput!) { adjustStock(input: $i) { level { onHand } userErrors { code field } } }"
DEEP = "{ __schema { types { " + "ofType { " * 48 + "name" + " }" * 48 + " } } }"
ALIASES = "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }"
TEN_KB = "A" * 10_240
SQL = "SKU-1'; DROP TABLE stock_levels; --"

# (name, body as sent, headers, expected HTTP status, expected error code, where it is found)
TABLE: list[tuple[str, Any, dict[str, str], int, str, str]] = [
    ("no key", {"query": RESERVE, "variables": {"i": {"sku": "SKU-1", "quantity": 1}}}, {}, 200, "UNAUTHENTICATED", "errors"),
    ("bad key", {"query": RESERVE, "variables": {"i": {"sku": "SKU-1", "quantity": 1}}}, {"Authorization": "Bearer inv_x_y"}, 200, "UNAUTHENTICATED", "errors"),
    ("quantity 0", {"query": RESERVE, "variables": {"i": {"sku": "SKU-1", "quantity": 0}}}, ADMIN, 200, "INVALID_QUANTITY", "userErrors"),
    ("quantity -1", {"query": RESERVE, "variables": {"i": {"sku": "SKU-1", "quantity": -1}}}, ADMIN, 200, "INVALID_QUANTITY", "userErrors"),
    ("quantity 2^31", {"query": RESERVE, "variables": {"i": {"sku": "SKU-1", "quantity": 2**31}}}, ADMIN, 200, "BAD_USER_INPUT", "errors"),
    ("quantity 2^63", {"query": RESERVE, "variables": {"i": {"sku": "SKU-1", "quantity": 2**63}}}, ADMIN, 200, "BAD_USER_INPUT", "errors"),
    ("quantity 2^31 inline", {"query": 'mutation { reserve(input: {sku: "SKU-1", quantity: 2147483648}) { userErrors { code } } }'}, ADMIN, 200, "GRAPHQL_VALIDATION_FAILED", "errors"),
    ("delta 2^31-1", {"query": ADJUST, "variables": {"i": {"sku": "SKU-1", "location": "WH-A", "delta": 2**31 - 1, "reason": "RESTOCK"}}}, ADMIN, 200, "INVALID_QUANTITY", "userErrors"),
    ("SQL in sku", {"query": RESERVE, "variables": {"i": {"sku": SQL, "quantity": 1}}}, ADMIN, 200, "INVALID_INPUT", "userErrors"),
    ("10 KB sku", {"query": RESERVE, "variables": {"i": {"sku": TEN_KB, "quantity": 1}}}, ADMIN, 200, "INVALID_INPUT", "userErrors"),
    ("10 KB reference", {"query": RESERVE, "variables": {"i": {"sku": "SKU-1", "quantity": 1, "reference": TEN_KB}}}, ADMIN, 200, "INVALID_INPUT", "userErrors"),
    ("SQL in lookup", {"query": "query($c: String!) { sku(code: $c) { code } }", "variables": {"c": SQL}}, {}, 200, "", "null"),
    ("50 levels deep", {"query": DEEP}, {}, 200, "QUERY_TOO_COMPLEX", "errors"),
    ("1,000 aliases", {"query": ALIASES}, {}, 200, "QUERY_TOO_COMPLEX", "errors"),
    ("1 MB body", {"query": "{ locations { code } }", "pad": "x" * 1_048_576}, {}, 413, "REQUEST_TOO_LARGE", "http"),
    ("malformed JSON", b'{"query": "{ locations', {"Content-Type": "application/json"}, 400, "", "http"),
    ("variables not an object", {"query": "{ locations { code } }", "variables": [1, 2]}, {}, 400, "", "http"),
]


async def test_hostile_requests_get_clean_errors_and_change_nothing(
    server: RunningServer, catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    before = await ledger(pool)
    async with aiohttp.ClientSession() as session:
        for name, body, headers, status, code, where in TABLE:
            kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
            async with session.post(server.graphql_url, headers=headers, **kwargs) as r:
                text = await r.text()
                assert r.status == status, (name, r.status, text[:300])
                assert "Traceback" not in text and "asyncpg" not in text and "SELECT" not in text, name
                if where == "http":
                    assert code in text, (name, text[:300])
                    continue
                reply = await r.json(content_type=None)
            if where == "errors":
                assert reply.get("errors"), (name, reply)
                assert code in {e.get("extensions", {}).get("code") for e in reply["errors"]}, (name, reply)
            elif where == "userErrors":
                payload = next(iter(reply["data"].values()))
                assert [e["code"] for e in payload["userErrors"]] == [code], (name, payload)
            else:
                assert {k: reply[k] for k in reply if k != "extensions"} == {"data": {"sku": None}}, (name, reply)
            # the server keeps serving
            alive = await catalogue.data('{ sku(code: "SKU-1") { available } }')
            assert alive["sku"]["available"] == 14, name
    assert await ledger(pool) == before
    await assert_consistent(pool)
