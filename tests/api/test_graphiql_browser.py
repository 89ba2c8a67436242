"""GraphiQL, served offline by the server itself, runs a query, a mutation and a subscription
in a real headless Chromium."""

from __future__ import annotations

import dataclasses
import json

import pytest
from playwright.async_api import Browser, Page

from domain.access import Scope
from settings import Settings
from tests.api.test_demo_browser import ARTIFACTS, CHROMIUM, browser  # noqa: F401  (fixture)
from tests.client import GraphQLClient
from tests.conftest import RunningServer

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
