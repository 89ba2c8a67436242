"""The bench's arithmetic behind BENCHMARKS.md and CAPACITY.md: sends matched to receipts by
reservation id, and the delivered-event cost net of the reserves a window committed."""

from __future__ import annotations

import pytest

from bench.capacity import _fanout, table
from bench.fanout import from_send


def test_each_receipt_is_timed_from_its_own_reservations_send() -> None:
    sent = {"r1": 10.0, "r2": 11.0}
    arrivals = [("r1", 10.004), ("r1", 10.006), ("r2", 11.010), ("other", 12.0)]
    assert from_send(sent, arrivals) == pytest.approx([0.004, 0.006, 0.010])


def _window(count: int, server_ms: float, delivered: int) -> dict[str, float]:
    return {"count": count, "server_ms": server_ms, "postgres_ms": 1.0,
            "delivered": delivered, "delivered_per_s": delivered / 2, "p50_ms": 3.0}


def test_event_cost_is_what_a_window_spent_beyond_its_reserves() -> None:
    # without subscribers a reserve costs 2 ms; with them 100 reserves cost 3 ms each and
    # delivered 1,000 events: (3 - 2) x 100 / 1,000 = 0.1 ms per event, even though the
    # windows committed different numbers of reserves
    found: dict[str, object] = {
        "without": [_window(150, 2.0, 0), _window(80, 2.2, 0), _window(120, 1.8, 0)],
        "with_one": [_window(100, 2.5, 100)] * 3,
        "with": [_window(100, 3.0, 1000), _window(50, 4.0, 250), _window(100, 2.0, 1000)],
        "subscribers": 1000, "skus": 100, "rate": 100.0,
        "rss_kb_first_per_sku": 36.0, "rss_kb_per_subscriber": [22.0, 23.0, 21.0],
        "redis_messages": {"p:stock:<sku>": 300}, "redis_bytes": {"p:stock:<sku>": 147_000},
        "redis_committed": 250,
    }
    figures: dict[str, tuple[str, list[float]]] = {}
    _fanout(found, figures)
    per_event = figures["server CPU per delivered event, 10 per SKU (1000 over 100 SKUs)"]
    assert per_event == ("ms", pytest.approx([0.1, 0.4, 0.0]))
    one = figures["server CPU per delivered event, 1 subscriber per SKU (100)"]
    assert one == ("ms", pytest.approx([0.5, 0.5, 0.5]))
    assert figures["Redis bytes per message on p:stock:<sku>"] == ("B", [490.0])
    assert figures["Redis messages per committed reserve"] == ("", [1.2])
    text = table(figures)
    assert "| server RSS per idle subscriber, more on the same SKUs (each step) | 22 | " \
           "21 - 23 (3) | KB |" in text
