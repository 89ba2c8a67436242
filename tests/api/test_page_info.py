"""Relay's PageInfo on `skus`, as ../shared/contract/inventory-v2.graphql says: hasPreviousPage
true when `after` was given and something precedes the first edge, startCursor the first edge's
cursor (null without edges), with the filter applied to what precedes too."""

from __future__ import annotations

from typing import Any

from resolvers.queries import encode_cursor
from tests.client import GraphQLClient

PAGE = """query($n: Int, $a: String, $f: SkuFilter) { skus(first: $n, after: $a, filter: $f) {
  edges { cursor node { code } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def page(client: GraphQLClient, first: int, after: str | None = None,
               filter: dict[str, Any] | None = None) -> dict[str, Any]:
    data = await client.data(PAGE, {"n": first, "a": after, "f": filter})
    found: dict[str, Any] = data["skus"]
    return found


async def test_pages_forward_with_previous_and_start_cursor(catalogue: GraphQLClient) -> None:
    for code in ("SKU-3", "SKU-4"):
        await catalogue.data(f'mutation {{ upsertSku(input: {{code: "{code}", name: "x"}}) '
                             "{ userErrors { code } } }")
    first = await page(catalogue, 2)
    assert [e["node"]["code"] for e in first["edges"]] == ["SKU-1", "SKU-2"]
    assert first["pageInfo"] == {
        "hasNextPage": True, "hasPreviousPage": False,
        "startCursor": first["edges"][0]["cursor"], "endCursor": first["edges"][1]["cursor"]}

    second = await page(catalogue, 2, first["pageInfo"]["endCursor"])
    assert [e["node"]["code"] for e in second["edges"]] == ["SKU-3", "SKU-4"]
    assert second["pageInfo"] == {
        "hasNextPage": False, "hasPreviousPage": True,
        "startCursor": second["edges"][0]["cursor"], "endCursor": second["edges"][1]["cursor"]}

    empty = await page(catalogue, 2, second["pageInfo"]["endCursor"])
    assert empty["edges"] == []
    assert empty["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True,
                                 "startCursor": None, "endCursor": None}

    nothing = await page(catalogue, 0)
    assert nothing["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                   "startCursor": None, "endCursor": None}


async def test_has_previous_page_counts_only_what_the_filter_keeps(
    catalogue: GraphQLClient,
) -> None:
    """SKU-1 is the only `Widget`: after SKU-1's cursor something precedes; after a cursor
    before every gadget (SKU-0, never stored), nothing does."""
    widgets = await page(catalogue, 5, filter={"search": "Widget"})
    assert [e["node"]["code"] for e in widgets["edges"]] == ["SKU-1"]
    after_it = await page(catalogue, 5, widgets["pageInfo"]["endCursor"], {"search": "Widget"})
    assert after_it["pageInfo"]["hasPreviousPage"] is True
    gadgets = await page(catalogue, 5, encode_cursor("SKU-0"), {"search": "Gadget"})
    assert [e["node"]["code"] for e in gadgets["edges"]] == ["SKU-2"]
    assert gadgets["pageInfo"]["hasPreviousPage"] is False
    # the cursor's own SKU counts as preceding: SKU-1 is IN_STOCK, SKU-2 OUT_OF_STOCK
    out = await page(catalogue, 5, encode_cursor("SKU-1"), {"status": "OUT_OF_STOCK"})
    assert [e["node"]["code"] for e in out["edges"]] == ["SKU-2"]
    assert out["pageInfo"]["hasPreviousPage"] is False

