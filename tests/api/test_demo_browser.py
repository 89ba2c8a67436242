"""The /demo product page in a real headless Chromium: two shoppers see each other's changes live,
on the SKU's own figures and on the bundle and channel tiles."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Response, async_playwright, expect

from tests.api.test_bundle_reads import hold, kits
from tests.client import GraphQLClient
from tests.conftest import ADMIN_KEY, RunningServer

__all__ = ["kits"]  # the fixture

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
LIVE_MS = 1000  # a change must reach the other page within this

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium at /usr/bin/chromium or `chromium` on PATH"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS
        )
        yield browser
        await browser.close()


async def open_demo(browser: Browser, server: RunningServer, errors: list[str],
                    query: str = "sku=SKU-1", available: str = "14") -> Page:
    """A page in its own context (a separate shopper) that sends the admin key on mutations."""
    context = await browser.new_context(viewport={"width": 760, "height": 860})
    await context.add_init_script(
        f"localStorage.setItem('inventoryApiKey', {json.dumps(ADMIN_KEY)})"
    )
    page = await context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{server.url}/demo?{query}")
    await shows(page, "#available", available, timeout=5000)
    return page


async def shows(page: Page, selector: str, text: str, timeout: float = LIVE_MS) -> None:
    """Polls on a timer: requestAnimationFrame, the default, is throttled in a page not in front."""
    await page.wait_for_function(
        "([s, t]) => document.querySelector(s).textContent.trim() === t",
        arg=[selector, text], timeout=timeout, polling=10,
    )


def mutation(name: str) -> Callable[[Response], bool]:
    def matches(response: Response) -> bool:
        return response.url.endswith("/graphql") and name in (response.request.post_data or "")
    return matches


async def click_and_wait(page: Page, button: str, field: str) -> float:
    """Clicks, waits for the mutation's HTTP response; returns when that response arrived."""
    async with page.expect_response(mutation(field)) as response:
        await page.click(button)
    assert (await response.value).ok
    return time.perf_counter()


async def test_two_pages_see_each_others_changes_live(
    server: RunningServer, catalogue: GraphQLClient, browser: Browser
) -> None:
    errors: list[str] = []
    page1 = await open_demo(browser, server, errors)
    page2 = await open_demo(browser, server, errors)
    for page in (page1, page2):
        await expect(page.locator("#name")).to_have_text("Widget")
        assert await page.get_attribute("#status", "data-status") == "IN_STOCK"
        assert await page.text_content("#sequence") == "2"
        assert await page.is_disabled("#commit") and await page.is_disabled("#release")
    options = page1.locator("#sku-options option")
    await expect(options).to_have_count(2)
    assert [await o.get_attribute("value") for o in await options.all()] == ["SKU-1", "SKU-2"]

    answered = await click_and_wait(page1, "#reserve", "reserve")
    await shows(page2, "#available", "13")
    reserve_latency = time.perf_counter() - answered
    await shows(page1, "#available", "13")
    await expect(page1.locator("#held")).to_have_text("1")
    assert await page2.text_content("#held") == "0"
    assert await page2.text_content("#reserved") == "1"
    assert await page2.text_content("#sequence") == "3"
    assert "RESERVED" in (await page2.text_content("#events li") or "")

    answered = await click_and_wait(page2, "#restock", "adjustStock")
    await shows(page1, "#available", "18")
    restock_latency = time.perf_counter() - answered
    await expect(page2.locator("#message")).to_have_text("Restocked 5 at WH-A.")
    assert await page1.text_content("#sequence") == "4"

    await click_and_wait(page1, "#commit", "commitReservation")
    await shows(page2, "#sequence", "5")
    assert await page2.text_content("#reserved") == "0"
    assert await page2.text_content("#on-hand") == "18"
    await shows(page1, "#held", "0")

    # Another SKU: the feed switches, and a failed hold shows its userError.
    await page2.fill("#sku-input", "SKU-2")
    await page2.press("#sku-input", "Enter")
    await shows(page2, "#status", "OUT OF STOCK", timeout=5000)
    await click_and_wait(page2, "#reserve", "reserve")
    message = page2.locator("#message")
    await expect(message).to_contain_text("INSUFFICIENT_STOCK")
    await expect(message).to_have_class("message error")
    assert page2.url.endswith("/demo?sku=SKU-2")

    ARTIFACTS.mkdir(exist_ok=True)
    await page1.screenshot(path=ARTIFACTS / "demo-page1.png", full_page=True)
    await page2.screenshot(path=ARTIFACTS / "demo-page2.png", full_page=True)
    print(f"\nlive latency: reserve {reserve_latency * 1000:.0f} ms, "
          f"restock {restock_latency * 1000:.0f} ms")
    assert reserve_latency < LIVE_MS / 1000 and restock_latency < LIVE_MS / 1000
    assert errors == []


async def test_the_bundle_and_channel_tiles_follow_components_live(
    server: RunningServer, kits: GraphQLClient, browser: Browser
) -> None:
    """KIT-1 = 2 x SKU-1 + SKU-2: 5 (WH-A 3, ST-B 2); SKU-1 through web (ST-B, WH-A): 4 + 7."""
    errors: list[str] = []
    page = await open_demo(browser, server, errors, "sku=SKU-1&bundle=KIT-1&channel=web", "17")
    await shows(page, "#bundle-available", "5", timeout=5000)
    await shows(page, "#channel-available", "11", timeout=5000)
    await expect(page.locator("#bundle-note")).to_have_text("2 × SKU-1 + 1 × SKU-2")
    await expect(page.locator("#channel-note")).to_have_text("sells from ST-B, WH-A")
    assert await page.get_attribute("#bundle-status", "data-status") == "IN_STOCK"
    await expect(page.locator("#tiles-live")).to_have_text("live")

    await hold(kits, "SKU-1", "ST-B", 2)  # a component through the API: KIT-1 at ST-B 1
    await shows(page, "#bundle-available", "4")
    await shows(page, "#channel-available", "9")

    # another tab reserves SKU-1 twice, at WH-A (the most available): KIT-1 there 3, then 2
    other = await open_demo(browser, server, errors, "sku=SKU-1", "15")
    for _ in range(2):
        await click_and_wait(other, "#reserve", "reserve")
    await shows(page, "#bundle-available", "3")
    await shows(page, "#channel-available", "7")

    await page.select_option("#channel-input", "store")  # ST-B only: 2 of SKU-1, threshold 3
    await shows(page, "#channel-available", "2")
    assert await page.get_attribute("#channel-status", "data-status") == "LOW_STOCK"
    assert page.url.endswith("channel=store")
    await hold(kits, "SKU-1", "ST-B", 1)  # ST-B: KIT-1 0, SKU-1 1
    await shows(page, "#channel-available", "1")
    await shows(page, "#bundle-available", "2")
    assert await page.get_attribute("#bundle-status", "data-status") == "LOW_STOCK"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "demo-tiles.png", full_page=True)
    assert errors == []
