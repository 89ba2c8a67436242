"""How far behind a read replica is, in seconds, from WAL positions alone (no clocks compared
across hosts); service/replica_watch.py feeds it one measurement per check.

Each check samples the primary's WAL position P at time t, then the replica's replayed position
R. Everything committed on the primary before t lies at or below P, so once R >= P the replica
has it: its staleness is at most now - t for the newest sample it has passed (0 when it passed
the sample just taken, as an idle, caught-up replica does). Until it has passed any sample,
the lag is only known to be at least the oldest sample's age, and the replica is not used.

P is the primary's WAL *write* position (pg_current_wal_lsn). With synchronous_commit = off a
commit returns before its record is written, so the bound is short by up to the WAL writer's
delay (3 x wal_writer_delay at worst, 600 ms by default)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MAX_SAMPLES = 4096


@dataclass(frozen=True, slots=True)
class Lag:
    seconds: float
    known: bool  # False: at least `seconds` (the replica has passed no sample yet)


class LagClock:
    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=MAX_SAMPLES)

    def measure(self, sampled_at: float, primary: int, replayed: int | None, now: float) -> Lag:
        """`primary`: the primary's WAL position at `sampled_at`; `replayed`: the replica's
        replayed position read after it (None: the server is not in recovery, so it serves
        its own truth: 0)."""
        if replayed is None:
            self._samples.clear()
            return Lag(0.0, True)
        self._samples.append((sampled_at, primary))
        samples = self._samples
        while len(samples) >= 2 and samples[1][1] <= replayed:
            samples.popleft()
        oldest_at, oldest = samples[0]
        if oldest > replayed:
            return Lag(now - oldest_at, False)
        if len(samples) == 1:
            return Lag(0.0, True)
        return Lag(now - oldest_at, True)

    def forget(self) -> None:
        """After an outage: the samples say nothing about the replica that comes back."""
        self._samples.clear()
