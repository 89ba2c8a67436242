"""The id of the request being served, for logs and masked errors; web/request_id.py sets it."""

from __future__ import annotations

import contextvars

current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
