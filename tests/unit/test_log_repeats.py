"""ops.logs.RepeatLimit: identical warning lines past the limit are dropped and counted."""

from __future__ import annotations

import logging

from ops.logs import RepeatLimit


def record(msg: str, level: int = logging.WARNING, name: str = "inventory.x") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, (), None)


def test_identical_lines_past_the_limit_are_counted_and_reported_once_the_minute_ends() -> None:
    now = [0.0]
    limit = RepeatLimit(per_window=3, window=60, clock=lambda: now[0])
    passed = [limit.filter(record("disk %s full", )) for _ in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert limit.filter(record("another line"))  # a different line has its own budget
    assert all(limit.filter(record("disk %s full", logging.INFO)) for _ in range(10))  # INFO
    now[0] = 61.0
    later = record("disk %s full")
    assert limit.filter(later)
    assert later.suppressed == 7  # type: ignore[attr-defined]


def test_client_caused_info_lines_are_limited_too() -> None:
    limit = RepeatLimit(per_window=2, clock=lambda: 0.0)
    lines = [record("graphql refused: %s", logging.INFO, "inventory.refusals") for _ in range(5)]
    assert [limit.filter(r) for r in lines] == [True, True, False, False, False]


def test_the_kinds_remembered_are_bounded() -> None:
    limit = RepeatLimit(per_window=1, max_kinds=100, clock=lambda: 0.0)
    for i in range(1000):
        assert limit.filter(record(f"line {i}"))
    assert len(limit._seen) <= 100


def test_the_same_message_from_different_places_is_not_identical() -> None:
    limit = RepeatLimit(per_window=1, clock=lambda: 0.0)

    def failing(where: int) -> logging.LogRecord:
        try:
            if where:
                raise ValueError("a")
            raise ValueError("b")
        except ValueError as error:
            found = record("failed")
            found.exc_info = (ValueError, error, error.__traceback__)
            return found

    assert limit.filter(failing(0)) and limit.filter(failing(1))
    assert not limit.filter(failing(1))
