"""One JSON object per log line, with the request id of the request it belongs to; server.py's
create_app (and cli.py for its commands) configures it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from ops import request_id

EXTRA_FIELDS = ("operation", "key", "duration_ms", "outcome", "sku", "sequence", "kind",
                "status", "method", "path", "changes", "location", "reservation")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id.current.get(),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler()
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(JsonFormatter() if json else plain)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # our own request log replaces uvicorn's access log
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
