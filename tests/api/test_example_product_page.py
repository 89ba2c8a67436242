"""examples/product-page in a real headless Chromium, served by a tiny static server: it shows
every stock event of its SKU exactly once and in order across a socket it drops itself and a
server restart, making up what happened meanwhile with afterSequence."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import websockets
from aiohttp import web
from playwright.async_api import Browser, Page
from websockets.typing import Origin, Subprotocol

from settings import Settings
from tests.api.test_demo_browser import ARTIFACTS, CHROMIUM, browser  # noqa: F401  (fixture)
from tests.client import GraphQLClient
from tests.conftest import RunningServer, free_port
from tests.processes import ROOT

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium")

PAGE_DIR = ROOT / "examples" / "product-page"
RESTOCK = """mutation { adjustStock(input: {sku: "SKU-1", location: "WH-A", delta: 1,
  reason: RESTOCK}) { userErrors { code } } }"""
HEAD = '{ sku(code: "SKU-1") { sequence } }'


@pytest.fixture
def site_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The shop's pages come from another origin than the API: CORS_ORIGINS lists it."""
    return dataclasses.replace(settings, cors_origins=[f"http://127.0.0.1:{site_port}"])


@pytest.fixture
async def static_site(site_port: int) -> AsyncIterator[str]:
    """The example's folder over HTTP, as any static server would serve it."""
    app = web.Application()
    app.router.add_static("/page", PAGE_DIR)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", site_port).start()
    yield f"http://127.0.0.1:{site_port}/page"
    await runner.cleanup()


def on_port(settings: Settings, port: int) -> RunningServer:
    """Another server process's worth (a restart): the same database, the same port."""
    running = RunningServer(settings)
    running.port, running.server.config.port = port, port
    running.url = f"http://127.0.0.1:{port}"
    running.graphql_url, running.ws_url = f"{running.url}/graphql", f"ws://127.0.0.1:{port}/graphql"
    return running


async def changes(client: GraphQLClient, count: int) -> int:
    """`count` restocks of SKU-1 through the API; the SKU's sequence after them."""
    for _ in range(count):
        assert (await client.data(RESTOCK))["adjustStock"]["userErrors"] == []
    head: int = (await client.data(HEAD))["sku"]["sequence"]
    return head


async def shows_up_to(page: Page, sequence: int, timeout: float = 10_000) -> None:
    await page.wait_for_function("n => window.productPage.last === n", arg=sequence,
                                 timeout=timeout, polling=50)


async def state(page: Page) -> str:
    found: str = await page.get_attribute("#state", "data-state") or ""
    return found


async def test_product_page_resumes_with_after_sequence_without_gap_or_duplicate(
    browser: Browser, server: RunningServer, catalogue: GraphQLClient,  # noqa: F811
    settings: Settings, static_site: str,
) -> None:
    page = await browser.new_page(viewport={"width": 700, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{static_site}/index.html?server={server.ws_url}&sku=SKU-1")
    start = (await catalogue.data(HEAD))["sku"]["sequence"]
    await shows_up_to(page, start)  # the SNAPSHOT
    assert await state(page) == "live"
    await shows_up_to(page, await changes(catalogue, 3))  # live

    # 1. the page's socket drops; changes land while it has none
    await page.evaluate("window.productPage.drop(3000)")
    head = await changes(catalogue, 3)
    assert await state(page) == "reconnecting"
    assert await page.evaluate("window.productPage.last") < head
    await shows_up_to(page, head)

    # 2. the server restarts (its sockets closed with 1012); changes land through another
    # instance on the same database while it is down; the page gets them from the new one
    await server.stop()
    async with RunningServer(settings) as other:
        head = await changes(GraphQLClient(other.graphql_url, catalogue.session,
                                           catalogue.headers), 4)
    assert await page.evaluate("window.productPage.last") < head
    async with on_port(settings, server.port):
        await shows_up_to(page, head, timeout=15_000)
        assert await state(page) == "live"
        head = await changes(catalogue, 2)  # and live again
        await shows_up_to(page, head)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "example-product-page.png"))

    shown = [int(s) for s in await page.eval_on_selector_all(
        "#events li", "items => items.map(i => i.dataset.sequence)")]
    assert shown[::-1] == list(range(start, head + 1))  # each once, in order (newest first)
    problems = await page.get_attribute("#problems", "data-duplicates"), \
        await page.get_attribute("#problems", "data-gaps")
    assert problems == ("0", "0")
    assert not errors


async def test_a_websocket_from_an_origin_not_in_cors_origins_is_refused(
    server: RunningServer, site_port: int,
) -> None:
    for origin, accepted in ((f"http://127.0.0.1:{site_port}", True),
                             ("http://127.0.0.1:1", False)):
        try:
            async with websockets.connect(server.ws_url, origin=Origin(origin),
                                          subprotocols=[Subprotocol("graphql-transport-ws")]):
                opened = True
        except websockets.InvalidStatus:
            opened = False
        assert opened is accepted, origin
