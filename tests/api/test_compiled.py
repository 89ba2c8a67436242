"""Compiled reads (schema/compiled.py) and the read model answer every read shape the suite
sends with the normal path's bytes: one server with both off, one with both on, over the same
data; each document of query_shapes.graphql with each of a few variable values, and again
once the read model holds the SKUs."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from graphql import OperationDefinitionNode, parse
from prometheus_client import REGISTRY

from feed.read_model import ReadModel
from settings import Settings
from tests.api.conftest import SETUP, set_stock
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

SHAPES = [text.strip() for text in
          (Path(__file__).parent / "query_shapes.graphql").read_text().split("# ---")
          if not all(line.startswith("#") for line in text.strip().splitlines())]
# each String variable gets each of these: SKUs, a bundle, an unknown code, a location code
STRINGS = ["SKU-1", "KIT-1", "NOPE", "WH-A"]
LISTS = [["SKU-1", "SKU-2", "KIT-1", "NOPE", "SKU-1"]]
FIXED = {"Boolean": [True, False], "Int": [0], "DateTime": ["2030-01-01T00:00:00Z"]}
# a coroutine of an execution left unawaited (a fallback that started the normal path twice,
# or dropped one) is reported when collected: fail on it here rather than warn somewhere later
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def requests_of(document: str) -> list[dict[str, Any]]:
    """Every (operation, variables) combination to send for one document."""
    parsed = parse(document)
    found: list[dict[str, Any]] = []
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        choices: list[list[tuple[str, Any]]] = []
        for definition in operation.variable_definitions or ():
            name, type_text = definition.variable.name.value, _type(definition.type)
            if type_text.startswith("["):
                values: list[Any] = LISTS
            elif type_text.rstrip("!") == "String":
                values = STRINGS
            else:
                values = FIXED.get(type_text.rstrip("!"), [None])
            if definition.default_value is not None:
                values = [*values, ...]  # ...: leave it out, the default applies
            choices.append([(name, value) for value in values])
        for combination in itertools.product(*choices):
            body: dict[str, Any] = {"query": document, "variables": {
                name: value for name, value in combination if value is not ...}}
            if len(operations) > 1:
                body["operationName"] = operation.name.value if operation.name else None
            found.append(body)
    return found


def _type(node: Any) -> str:
    if node.kind == "non_null_type":
        return _type(node.type) + "!"
    if node.kind == "list_type":
        return "[" + _type(node.type) + "]"
    return str(node.name.value)


@dataclasses.dataclass
class Both:
    normal: RunningServer
    compiled: RunningServer
    session: aiohttp.ClientSession

    async def raw(self, server: RunningServer, body: dict[str, Any],
                  headers: dict[str, str]) -> tuple[int, bytes]:
        async with self.session.post(server.graphql_url, data=orjson.dumps(body), headers={
                "content-type": "application/json", **headers}) as response:
            return response.status, await response.read()


@pytest.fixture
async def both(settings: Settings) -> AsyncIterator[Both]:
    normal = dataclasses.replace(settings, compiled_reads=False, read_model=False)
    compiled = dataclasses.replace(settings, compiled_reads=True, read_model=True)
    async with (RunningServer(normal) as server_n, RunningServer(compiled) as server_c,
                aiohttp.ClientSession() as session):
        client = GraphQLClient(server_n.graphql_url, session, ADMIN)
        await client.data(SETUP)
        await client.data("""mutation { upsertBundle(input: {code: "KIT-1", name: "Kit",
          components: [{sku: "SKU-1", quantity: 2}]}) { userErrors { code } }
          upsertChannel(input: {code: "web", name: "Web", locations: ["WH-A"]}) {
          userErrors { code } } }""")
        for sku, location, on_hand in (("SKU-1", "WH-A", 10), ("SKU-1", "ST-B", 4),
                                       ("SKU-2", "WH-A", 3)):
            await set_stock(client, sku, location, on_hand)
        await client.data("""mutation { reserve(input: {sku: "SKU-1", quantity: 2,
          location: "WH-A"}) { userErrors { code } } }""")
        yield Both(server_n, server_c, session)


async def _compare(both: Both, headers: dict[str, str]) -> int:
    compared = 0
    for document in SHAPES:
        for body in requests_of(document):
            normal = await both.raw(both.normal, body, headers)
            compiled = await both.raw(both.compiled, body, headers)
            assert compiled == normal, (body, normal, compiled)
            compared += 1
    return compared


async def test_every_read_shape_has_the_normal_paths_bytes(both: Both) -> None:
    assert len(SHAPES) >= 40
    before = _count("compiled"), _count("fallback")
    compared = await _compare(both, ADMIN)  # cold: the read model misses and fills
    model = both.compiled.server.lifespan.state["services"].feed.read_model
    assert isinstance(model, ReadModel)
    async with asyncio.timeout(10):
        while model.sku("SKU-1") is None or model.sku("SKU-2") is None:
            await asyncio.sleep(0.01)
    assert model.sku("KIT-1") is None  # bundles are never kept
    compared += await _compare(both, ADMIN)  # warm: hits
    compared += await _compare(both, {})  # without a key: the anonymous scopes decide
    assert compared > 300
    assert _count("compiled") - before[0] >= compared // 3, "plans answered too few reads"
    assert _count("fallback") - before[1] > 0  # the bad input and refused shapes


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("inventory_compiled_reads_total", {"outcome": outcome}) or 0.0
