"""broadcaster 0.3.1's private modules, used by feed/broadcast.py (bounded subscribers, the
in-process `memory://` backend).

Upstream renamed `_backends` to `backends` in unreleased code. Guarded by
tests/integration/test_broadcast.py (runs against both backends).
"""

from __future__ import annotations

from broadcaster._backends.memory import MemoryBackend
from broadcaster._base import Subscriber, Unsubscribed

__all__ = ["MemoryBackend", "Subscriber", "Unsubscribed"]
