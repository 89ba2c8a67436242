"""GraphiQL, served offline by the server itself, runs a query, a mutation and a subscription
in a real headless Chromium."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from domain.access import Scope
from service.inventory import Inventory
from service.seed import seed
from settings import Settings
from tests.api.test_demo_browser import ARTIFACTS, CHROMIUM, browser  # noqa: F401  (fixture)
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from web.view import STATIC_DIR

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # GraphiQL users of `make run`: no key needed
    return dataclasses.replace(settings, anonymous_scopes=frozenset(Scope))


async def run(page: Page, document: str, expect: str) -> str:
    await page.evaluate(
        "q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)",
        document,
    )
    await page.wait_for_timeout(800)  # GraphiQL re-reads the operation name after a debounce
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(
        "t => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue().includes(t)",
        arg=expect, timeout=10_000, polling=50,
    )
    text: str = await page.evaluate(
        "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
    )
    return text


async def test_graphiql_runs_queries_mutations_and_subscriptions_offline(
    browser: Browser, server: RunningServer, catalogue: GraphQLClient  # noqa: F811
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{server.url}/graphql")
    await page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=15_000)

    result = await run(page, '{ sku(code: "SKU-1") { code available status } }', '"available"')
    assert json.loads(result)["data"]["sku"] == {"code": "SKU-1", "available": 14, "status": "IN_STOCK"}
    result = await run(
        page, 'mutation { reserve(input: {sku: "SKU-1", quantity: 2}) { reservation { status } '
        "userErrors { code } } }", '"ACTIVE"',
    )
    assert json.loads(result)["data"]["reserve"] == {"reservation": {"status": "ACTIVE"}, "userErrors": []}
    await run(page, 'subscription { stockEvents(sku: "SKU-1") { sequence kind } }', '"SNAPSHOT"')
    await catalogue.data('mutation { adjustStock(input: {sku: "SKU-1", location: "WH-A", delta: 1, '
                         'reason: RESTOCK}) { userErrors { code } } }')
    await page.wait_for_function(
        "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue().includes('ADJUSTED')",
        timeout=10_000, polling=50,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "graphiql.png"))
    assert not errors
    assert all(url.startswith(server.url) or url.startswith("data:") for url in requests), requests


async def run_example(page: Page, operation: str, expect: str) -> dict[str, Any]:
    """Runs one operation of the opening document as a person does: the play button, then
    the operation's name in its menu."""
    await page.click(".graphiql-execute-button")
    await page.click(f"[role=menuitem]:has-text('{operation}')")
    await page.wait_for_function(
        "t => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue().includes(t)",
        arg=expect, timeout=10_000, polling=50,
    )
    result: dict[str, Any] = json.loads(await page.evaluate(
        "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"))
    return result


async def test_graphiql_opens_with_this_apis_example_and_runs_it(
    browser: Browser, server: RunningServer, inventory: Inventory  # noqa: F811
) -> None:
    """A fresh visitor (no saved state) sees example.graphql with example.json's variables,
    and each of its three operations runs against the demo catalogue as it stands."""
    assert await seed(inventory) > 0
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{server.url}/graphql")
    await page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=15_000)
    shown = await page.evaluate(
        "() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()")
    assert shown == (STATIC_DIR / "graphiql" / "example.graphql").read_text()
    assert "Welcome to GraphiQL" not in await page.content()
    variables = await page.evaluate(
        "() => document.querySelector('.graphiql-editor-tool .CodeMirror').CodeMirror.getValue()")
    assert json.loads(variables) == json.loads((STATIC_DIR / "graphiql" / "example.json").read_text())

    sku = (await run_example(page, "Sku", '"levels"'))["data"]["sku"]
    assert sku["code"] == "TEE-BLK-M" and sku["levels"]
    held = (await run_example(page, "Reserve", '"reservation"'))["data"]["reserve"]
    assert held["userErrors"] == [] and held["reservation"]["status"] == "ACTIVE"
    assert held["level"]["available"] >= 0
    first = (await run_example(page, "StockEvents", '"SNAPSHOT"'))["data"]["stockEvents"]
    assert first["kind"] == "SNAPSHOT" and first["available"] == sku["available"] - 2
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "graphiql-example.png"))
    assert not errors
