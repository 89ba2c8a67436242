"""broadcaster 0.3.1's private in-process backend (`memory://`), used by feed/broadcast.py
when there is no Redis.

Upstream renamed `_backends` to `backends` in unreleased code. Guarded by
tests/integration/test_broadcast.py (runs against both backends).
"""

from __future__ import annotations

from broadcaster._backends.memory import MemoryBackend

__all__ = ["MemoryBackend"]
