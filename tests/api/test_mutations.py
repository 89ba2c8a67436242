"""Every mutation's success and each of its userError codes, through real HTTP."""

from __future__ import annotations

from typing import Any

from tests.client import GraphQLClient

RESERVE = """mutation($i: ReserveInput!) { reserve(input: $i) {
  reservation { id sku quantity status reference location { code } expiresAt createdAt }
  level { sku onHand reserved available version location { code } }
  userErrors { code field message } } }"""
RESERVE_LINES = """mutation($i: ReserveLinesInput!) { reserveLines(input: $i) {
  reservations { id sku quantity location { code } } userErrors { code field message } } }"""
COMMIT = """mutation($i: CommitReservationInput!) { commitReservation(input: $i) {
  reservation { id status } level { onHand reserved version } userErrors { code field } } }"""
RELEASE = """mutation($i: ReleaseReservationInput!) { releaseReservation(input: $i) {
  reservation { id status } level { onHand reserved } userErrors { code field } } }"""
EXTEND = """mutation($i: ExtendReservationInput!) { extendReservation(input: $i) {
  reservation { id status expiresAt } userErrors { code field } } }"""
ADJUST = """mutation($i: AdjustStockInput!) { adjustStock(input: $i) {
  level { onHand reserved version } userErrors { code field } } }"""
SET = """mutation($i: SetStockInput!) { setStock(input: $i) {
  level { onHand reserved safetyStock available version } userErrors { code field } } }"""
SKU = """query($c: String!) { sku(code: $c) { onHand reserved available status sequence
  levels { location { code } onHand reserved version } } }"""


async def call(client: GraphQLClient, query: str, field: str, i: dict[str, Any]) -> Any:
    return (await client.data(query, {"i": i}))[field]


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def test_reserve_picks_the_location_with_most_available(catalogue: GraphQLClient) -> None:
    p = await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 3, "reference": "c1"})
    assert p["userErrors"] == []
    assert p["reservation"]["location"]["code"] == "WH-A"
    assert p["reservation"]["status"] == "ACTIVE" and p["reservation"]["reference"] == "c1"
    assert (p["level"]["reserved"], p["level"]["available"], p["level"]["version"]) == (3, 7, 2)
    sku = (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]
    assert (sku["onHand"], sku["reserved"], sku["available"], sku["sequence"]) == (14, 3, 11, 3)


async def test_reserve_errors_change_nothing(catalogue: GraphQLClient) -> None:
    before = (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]
    cases = [
        ({"sku": "NOPE", "quantity": 1}, [("NOT_FOUND", ["input", "sku"])]),
        ({"sku": "SKU-1", "quantity": 1, "location": "NOWHERE"},
         [("NOT_FOUND", ["input", "location"])]),
        ({"sku": "SKU-1", "quantity": 0}, [("INVALID_QUANTITY", ["input", "quantity"])]),
        ({"sku": "SKU-1", "quantity": -1}, [("INVALID_QUANTITY", ["input", "quantity"])]),
        ({"sku": "SKU-1", "quantity": 11}, [("INSUFFICIENT_STOCK", ["input", "quantity"])]),
        ({"sku": "SKU-1", "quantity": 5, "location": "ST-B"},
         [("INSUFFICIENT_STOCK", ["input", "quantity"])]),
        ({"sku": "SKU-1", "quantity": 1, "ttlSeconds": 0}, [("INVALID_INPUT", ["input", "ttlSeconds"])]),
        ({"sku": "bad code!", "quantity": 1}, [("INVALID_INPUT", ["input", "sku"])]),
    ]
    for i, expected in cases:
        p = await call(catalogue, RESERVE, "reserve", i)
        assert codes(p) == expected, i
        assert p["reservation"] is None
    assert (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"] == before


async def test_reserve_lines_all_or_nothing(catalogue: GraphQLClient) -> None:
    await catalogue.data(SET.replace("$i", "$i"), {"i": {"sku": "SKU-2", "location": "ST-B", "onHand": 2}})
    failed = await call(catalogue, RESERVE_LINES, "reserveLines", {"lines": [
        {"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 3},
        {"sku": "GHOST", "quantity": 1}]})
    assert codes(failed) == [("NOT_FOUND", ["input", "lines", "2", "sku"])]
    failed = await call(catalogue, RESERVE_LINES, "reserveLines", {"lines": [
        {"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 3}]})
    assert codes(failed) == [("INSUFFICIENT_STOCK", ["input", "lines", "1", "quantity"])]
    assert failed["reservations"] == []
    assert (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]["reserved"] == 0
    ok = await call(catalogue, RESERVE_LINES, "reserveLines", {"lines": [
        {"sku": "SKU-2", "quantity": 1}, {"sku": "SKU-1", "quantity": 2, "location": "ST-B"},
        {"sku": "SKU-2", "quantity": 1}]})
    assert ok["userErrors"] == []
    assert [(r["sku"], r["quantity"], r["location"]["code"]) for r in ok["reservations"]] == [
        ("SKU-2", 2, "ST-B"), ("SKU-1", 2, "ST-B")]
    bad = await call(catalogue, RESERVE_LINES, "reserveLines", {"lines": []})
    assert codes(bad) == [("INVALID_INPUT", ["input", "lines"])]
    bad = await call(catalogue, RESERVE_LINES, "reserveLines", {"lines": [{"sku": "SKU-1", "quantity": 0}]})
    assert codes(bad) == [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]


async def test_commit_release_extend(catalogue: GraphQLClient) -> None:
    r1 = (await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 2}))["reservation"]
    r2 = (await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 3}))["reservation"]
    extended = await call(catalogue, EXTEND, "extendReservation", {"reservationId": r1["id"], "ttlSeconds": 3600})
    assert extended["userErrors"] == [] and extended["reservation"]["expiresAt"] > r1["expiresAt"]
    committed = await call(catalogue, COMMIT, "commitReservation", {"reservationId": r1["id"]})
    assert committed["userErrors"] == [] and committed["reservation"]["status"] == "COMMITTED"
    assert (committed["level"]["onHand"], committed["level"]["reserved"]) == (8, 3)
    released = await call(catalogue, RELEASE, "releaseReservation", {"reservationId": r2["id"]})
    assert released["reservation"]["status"] == "RELEASED"
    assert (released["level"]["onHand"], released["level"]["reserved"]) == (8, 0)
    for query, field, extra in [(COMMIT, "commitReservation", {}), (RELEASE, "releaseReservation", {}),
                                (EXTEND, "extendReservation", {"ttlSeconds": 60})]:
        again = await call(catalogue, query, field, {"reservationId": r1["id"], **extra})
        assert codes(again) == [("RESERVATION_NOT_ACTIVE", ["input", "reservationId"])]
        missing = await call(catalogue, query, field,
                             {"reservationId": "00000000-0000-0000-0000-000000000000", **extra})
        assert codes(missing) == [("NOT_FOUND", ["input", "reservationId"])]
        garbage = await call(catalogue, query, field, {"reservationId": "x'; DROP TABLE skus; --", **extra})
        assert codes(garbage) == [("INVALID_INPUT", ["input", "reservationId"])]
    bad_ttl = await call(catalogue, EXTEND, "extendReservation", {"reservationId": r1["id"], "ttlSeconds": -5})
    assert codes(bad_ttl) == [("INVALID_INPUT", ["input", "ttlSeconds"])]


async def test_adjust_stock(catalogue: GraphQLClient) -> None:
    p = await call(catalogue, ADJUST, "adjustStock", {"sku": "SKU-1", "location": "WH-A", "delta": 5, "reason": "RESTOCK"})
    assert p["userErrors"] == [] and p["level"]["onHand"] == 15 and p["level"]["version"] == 2
    await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 12, "location": "WH-A"})
    p = await call(catalogue, ADJUST, "adjustStock", {"sku": "SKU-1", "location": "WH-A", "delta": -4, "reason": "DAMAGE"})
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "delta"])]
    p = await call(catalogue, ADJUST, "adjustStock", {"sku": "SKU-1", "location": "WH-A", "delta": -3, "reason": "SALE"})
    assert p["userErrors"] == [] and (p["level"]["onHand"], p["level"]["reserved"]) == (12, 12)
    for i, expected in [
        ({"delta": 0, "reason": "CORRECTION"}, [("INVALID_QUANTITY", ["input", "delta"])]),
        ({"delta": -1, "reason": "RESTOCK"}, [("INVALID_QUANTITY", ["input", "delta"])]),
        ({"delta": 1, "reason": "SALE"}, [("INVALID_QUANTITY", ["input", "delta"])]),
        ({"delta": 1, "reason": "RETURN", "location": "NOWHERE"}, [("NOT_FOUND", ["input", "location"])]),
        ({"delta": 1, "reason": "RETURN", "sku": "NOPE"}, [("NOT_FOUND", ["input", "sku"])]),
    ]:
        p = await call(catalogue, ADJUST, "adjustStock", {"sku": "SKU-1", "location": "WH-A", **i})
        assert codes(p) == expected, i
    p = await call(catalogue, ADJUST, "adjustStock", {"sku": "SKU-2", "location": "WH-A", "delta": 7, "reason": "RESTOCK"})
    assert p["userErrors"] == [] and p["level"]["version"] == 1 and p["level"]["onHand"] == 7


async def test_set_stock_compare_and_set(catalogue: GraphQLClient) -> None:
    p = await call(catalogue, SET, "setStock", {"sku": "SKU-1", "location": "WH-A", "onHand": 20, "safetyStock": 2, "expectedVersion": 1})
    assert p["userErrors"] == [] and p["level"] == {"onHand": 20, "reserved": 0, "safetyStock": 2, "available": 18, "version": 2}
    stale = await call(catalogue, SET, "setStock", {"sku": "SKU-1", "location": "WH-A", "onHand": 1, "expectedVersion": 1})
    assert codes(stale) == [("VERSION_CONFLICT", ["input", "expectedVersion"])]
    await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 6, "location": "WH-A"})
    below = await call(catalogue, SET, "setStock", {"sku": "SKU-1", "location": "WH-A", "onHand": 5})
    assert codes(below) == [("INSUFFICIENT_STOCK", ["input", "onHand"])]
    negative = await call(catalogue, SET, "setStock", {"sku": "SKU-1", "location": "WH-A", "onHand": -1})
    assert codes(negative) == [("INVALID_QUANTITY", ["input", "onHand"])]
    create_only = await call(catalogue, SET, "setStock", {"sku": "SKU-2", "location": "WH-A", "onHand": 3, "expectedVersion": 0})
    assert create_only["userErrors"] == [] and create_only["level"]["version"] == 1
    again = await call(catalogue, SET, "setStock", {"sku": "SKU-2", "location": "WH-A", "onHand": 3, "expectedVersion": 0})
    assert codes(again) == [("VERSION_CONFLICT", ["input", "expectedVersion"])]
    sku = (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]
    assert (sku["onHand"], sku["reserved"], sku["available"]) == (24, 6, 16)


async def test_upserts_and_their_errors(client: GraphQLClient) -> None:
    q = """mutation($s: UpsertSkuInput!, $l: UpsertLocationInput!) {
      upsertSku(input: $s) { sku { code name lowStockThreshold status sequence } userErrors { code field } }
      upsertLocation(input: $l) { location { code name kind } userErrors { code field } } }"""
    d = await client.data(q, {"s": {"code": "X-1", "name": "Thing"}, "l": {"code": "L1", "name": "Loc", "kind": "STORE"}})
    assert d["upsertSku"]["sku"] == {"code": "X-1", "name": "Thing", "lowStockThreshold": 5, "status": "OUT_OF_STOCK", "sequence": 0}
    assert d["upsertLocation"]["location"] == {"code": "L1", "name": "Loc", "kind": "STORE"}
    d = await client.data(q, {"s": {"code": "X-1", "name": "Renamed", "lowStockThreshold": 9}, "l": {"code": "L1", "name": "Loc 2", "kind": "WAREHOUSE"}})
    assert d["upsertSku"]["sku"]["name"] == "Renamed" and d["upsertSku"]["sku"]["lowStockThreshold"] == 9
    assert d["upsertLocation"]["location"]["kind"] == "WAREHOUSE"
    d = await client.data(q, {"s": {"code": "", "name": " ", "lowStockThreshold": -1}, "l": {"code": "a" * 100, "name": "x" * 300, "kind": "STORE"}})
    assert codes(d["upsertSku"]) == [("INVALID_INPUT", ["input", "code"]), ("INVALID_INPUT", ["input", "name"]),
                                      ("INVALID_QUANTITY", ["input", "lowStockThreshold"])]
    assert codes(d["upsertLocation"]) == [("INVALID_INPUT", ["input", "code"]), ("INVALID_INPUT", ["input", "name"])]
