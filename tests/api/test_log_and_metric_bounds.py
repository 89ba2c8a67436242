"""Logs and metrics a client cannot grow: a mistake or refusal is one line without traceback
or any value it sent, identical lines are rate-limited, metric labels come from the schema,
and /metrics answers only its networks or its token (issue 11, item 7)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from ops import logs
from settings import Settings
from tests.conftest import ADMIN, RunningServer

SECRET = "alice@example.com-" + "x" * 1900  # a 2 KB request, as in the finding
CASES = {  # S stands for the secret
    "unknown reservation id": ('{ reservation(id: "00000000-0000-0000-0000-00000000abcd") '
                               "{ id } }", {}, None),
    "junk token": ('mutation { reserve(input: {sku: "SKU-1", quantity: 1, reference: "S", '
                   'idempotencyKey: "idem-S"}) { userErrors { code } } }',
                   {"Authorization": "Bearer inv_x_y"}, None),
    "anonymous write with a reference": (
        'mutation { adjustStock(input: {sku: "SKU-1", location: "WH-A", delta: 1, '
        'reason: RESTOCK, reference: "S"}) { userErrors { code } } }', {}, None),
    "bad variable value": ("query($n: Int) { skus(first: $n) { edges { cursor } } }", {},
                           {"n": SECRET}),
    "syntax error after a value": ('{ sku(code: "S") { code ', {}, None),
    "unknown field": ('{ sku(code: "S") { nope } }', {}, None),
}


@pytest.fixture
def captured() -> Iterator[list[str]]:
    """Every line the server logs during the test, formatted as in production, through the
    production filter."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RepeatLimit())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("case", CASES)
async def test_a_client_mistake_logs_one_short_line_without_traceback_or_values(
    server: RunningServer, captured: list[str], caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.INFO)
    query, headers, variables = CASES[case]
    async with aiohttp.ClientSession() as session:
        async with session.post(server.graphql_url, headers=headers,
                                json={"query": query.replace('"S"', f'"{SECRET}"').replace(
                                    "idem-S", f"idem-{SECRET}"), "variables": variables}) as r:
            assert r.status == 200
            await r.read()
    records = [r for r in caplog.records if r.name.startswith(("inventory", "strawberry"))]
    assert records, "the request is logged"
    assert all(r.levelno <= logging.WARNING for r in records), [r.getMessage() for r in records]
    assert not [r for r in records if r.exc_info or r.stack_info]
    assert len(captured) <= 2, captured  # the request's line and at most one refusal line
    text = "\n".join(captured)
    assert "alice@example.com" not in text and "xxxxxxxx" not in text, text
    assert len(text) < 1000, len(text)  # 2 KB of request made 236 KB of log (issue 11)


async def test_an_unexpected_error_logs_its_traceback_with_the_request_id(
    server: RunningServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service import views

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(views, "locations", broken)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.graphql_url, json={"query": "{ locations { code } }"},
                                headers={"X-Request-ID": "req-42"}) as r:
            body = await r.json()
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR",
                                               "requestId": "req-42"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "req-42" in errors[0].getMessage() and errors[0].exc_info


async def test_identical_refusals_are_rate_limited(server: RunningServer,
                                                   captured: list[str]) -> None:
    query = 'mutation { reserve(input: {sku: "SKU-1", quantity: 1}) { userErrors { code } } }'
    async with aiohttp.ClientSession() as session:
        for _ in range(40):
            async with session.post(server.graphql_url, json={"query": query},
                                    headers={"Authorization": "Bearer inv_x_y"}) as r:
                await r.read()
    refusals = [line for line in captured if "inventory.refusals" in line]
    assert len(refusals) == logs.REPEATS_PER_MINUTE, len(refusals)


def test_configure_installs_the_repeat_limit() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("INFO")
        assert any(isinstance(f, logs.RepeatLimit) for f in root.handlers[0].filters)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def metrics_text(server: RunningServer, headers: dict[str, str] | None = None) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/metrics", headers=headers or {}) as r:
            assert r.status == 200, r.status
            return await r.text()


async def test_operation_names_do_not_grow_metrics(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as session:

        async def named(name: str) -> None:
            async with session.post(server.graphql_url, headers=ADMIN, json={  # 1,000/s
                    "query": f"query {name} {{ locations {{ code }} }}"}) as r:
                assert r.status == 200

        await named("Warm")
        before = await metrics_text(server)
        for i in range(200):
            await named(f"Probe{i}")
    after = await metrics_text(server)
    assert "Probe" not in after and 'operation="locations"' in after
    assert len(after) - len(before) < 1000, (len(before), len(after))  # was 45 KB -> 381 KB


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[RunningServer]:
    closed = dataclasses.replace(settings, metrics_allow=("10.0.0.0/8",),
                                 metrics_token="metrics-secret")
    async with RunningServer(closed) as running:
        yield running


async def test_metrics_answer_only_their_networks_or_token(guarded: RunningServer) -> None:
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer wrong"}, ADMIN):
            async with session.get(f"{guarded.url}/metrics", headers=headers) as r:
                assert r.status == 403, headers
                assert (await r.json())["error"]["code"] == "FORBIDDEN"
    assert "inventory_graphql_requests" in await metrics_text(
        guarded, {"Authorization": "Bearer metrics-secret"})


def test_metrics_allow_and_token_are_read_from_the_environment() -> None:
    assert Settings.from_env({}).metrics_allow == ("127.0.0.1/32", "::1/128")
    found = Settings.from_env({"METRICS_ALLOW": "10.0.0.0/8, 192.168.1.0/24",
                               "METRICS_TOKEN": "t"})
    assert found.metrics_allow == ("10.0.0.0/8", "192.168.1.0/24")
    assert found.metrics_token == "t"
    assert Settings.from_env({"METRICS_ALLOW": ""}).metrics_allow == ()
