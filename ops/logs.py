"""One JSON object per log line, with the request id of the request it belongs to, and no line
repeated without bound; server.py's create_app (and cli.py for its commands) configures it.

While tracing is on, a line also has the `trace_id` and `span_id` of the span it was written in.

RepeatLimit: a client can make the same warning or error (or refusal line) happen as often as it
sends requests, so past REPEATS_PER_MINUTE identical lines (same logger, level, message template
and, for an exception, its type and where it was raised) the rest of that minute's are dropped
and counted; the next one to pass carries `suppressed`, the count."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from ops import request_id, tracing

EXTRA_FIELDS = ("operation", "key", "duration_ms", "outcome", "sku", "sequence", "kind",
                "status", "method", "path", "changes", "location", "reservation", "transfer",
                "suppressed")
REPEATS_PER_MINUTE = 10
LIMITED_INFO = frozenset({"inventory.refusals"})  # INFO lines a client chooses to cause


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id.current.get(),
        }
        if tracing.on():
            ids = tracing.log_ids()
            if ids is not None:
                line["trace_id"], line["span_id"] = ids
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _identity(record: logging.LogRecord) -> tuple[object, ...]:
    where: tuple[object, ...] = ()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        frame = error.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = (type(error).__qualname__,
                 (frame.tb_frame.f_code.co_filename, frame.tb_lineno) if frame else None)
    return (record.name, record.levelno, str(record.msg), *where)


class RepeatLimit(logging.Filter):
    """At most `per_window` identical lines per `window` seconds (see the module docstring);
    remembers at most `max_kinds` kinds of line, forgetting the oldest windows first."""

    def __init__(self, per_window: int = REPEATS_PER_MINUTE, window: float = 60.0,
                 max_kinds: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.per_window = per_window
        self.window = window
        self.max_kinds = max_kinds
        self.clock = clock
        self._seen: dict[tuple[object, ...], list[float]] = {}  # [window start, passed, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and record.name not in LIMITED_INFO:
            return True
        now = self.clock()
        key = _identity(record)
        seen = self._seen.get(key)
        if seen is None or now - seen[0] >= self.window:
            dropped = seen[2] if seen is not None else 0
            if seen is None and len(self._seen) >= self.max_kinds:
                del self._seen[min(self._seen, key=lambda k: self._seen[k][0])]
            self._seen[key] = seen = [now, 0, 0]
            if dropped:
                record.suppressed = int(dropped)
        if seen[1] >= self.per_window:
            seen[2] += 1
            return False
        seen[1] += 1
        return True


def one_line(record: logging.LogRecord) -> bool:
    """A library's expected failure (asyncpg's pool retrying a lost database) as one line: the
    exception's type and message instead of its traceback."""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
        record.args = None
        record.exc_info = record.exc_text = None
    return True


def configure(level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler()
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if json else plain)
    handler.addFilter(RepeatLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # our own request log replaces uvicorn's access log
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    pool = logging.getLogger("asyncpg.pool")
    if one_line not in pool.filters:
        pool.addFilter(one_line)
