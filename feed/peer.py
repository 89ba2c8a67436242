"""A partner broker's state as the relay's handlers see it (feed/jetstream.py, feed/mqtt.py):
one log line when it goes down and one when it is back, never one per event."""

from __future__ import annotations

import logging

log = logging.getLogger("feed.relay")


class PeerState:
    def __init__(self, name: str) -> None:
        self.name = name
        self.up = False
        self.seen = False  # reached at least once (the first connect is not "back")

    def reached(self, where: str) -> None:
        if self.up:
            return
        if self.seen:
            log.info("%s is back (%s); catching up from the ledger", self.name, where)
        else:
            log.info("%s connected (%s)", self.name, where)
        self.up = self.seen = True

    def lost(self, reason: BaseException | str) -> None:
        if not self.up and self.seen:
            return
        detail = reason if isinstance(reason, str) else (
            f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__)
        if self.seen or self.up:
            log.warning("%s is down (%s); events wait in the ledger", self.name, detail)
        else:
            log.warning("%s unreachable (%s); events wait in the ledger", self.name, detail)
        self.up = False
        self.seen = True
