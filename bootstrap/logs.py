"""Logging as the app wants it, whoever started the process: one JSON line per record (or
text), uvicorn's own records included; server.py's create_app calls it, cli.py too."""

from __future__ import annotations

import logging

from ops import logs
from settings import Settings


def configure_logging(settings: Settings, *, json: bool | None = None) -> None:
    """ops.logs.configure with the settings' level and format. uvicorn's records go to the
    same handler; its access log stays as uvicorn was told (`serve` turns it off)."""
    access = logging.getLogger("uvicorn.access")
    access_on = bool(access.handlers)  # uvicorn's own log config gave it a handler
    logs.configure(settings.log_level, json=settings.log_json if json is None else json)
    logging.getLogger("uvicorn").propagate = True
    if access_on:
        access.propagate = True
