"""Latency percentiles, and the CPU each party spent during a measurement window: the load
generator (this process), the server, the PostgreSQL backends of the bench databases, Redis,
and whatever else ran on the shared machine."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def latency_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(percentile(ordered, 50) * 1000, 2),
            "p99_ms": round(percentile(ordered, 99) * 1000, 2),
            "max_ms": round((ordered[-1] if ordered else float("nan")) * 1000, 2)}


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu(process: psutil.Process) -> float:
    """CPU of a process and of its children (the workers of `serve --workers N`)."""
    total = 0.0
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for member in family:
        try:
            times = member.cpu_times()
            total += float(times.user + times.system)
        except psutil.Error:
            pass
    return total


def _others(database_marker: str, redis_marker: str) -> dict[int, tuple[str, psutil.Process]]:
    """PostgreSQL backends serving the bench databases, and the Redis server in use."""
    found: dict[int, tuple[str, psutil.Process]] = {}
    for p in psutil.process_iter(["name", "cmdline"]):
        name = p.info["name"] or ""
        cmdline = " ".join(p.info["cmdline"] or [])
        if name.startswith("postgres") and database_marker in cmdline:
            found[p.pid] = ("postgres", p)
        elif name.startswith("redis-server") and redis_marker in cmdline:
            found[p.pid] = ("redis", p)
    return found


@dataclass
class CpuWindow:
    """Usage: start(); ...load...; stop() -> seconds of CPU per party over the window."""

    database_marker: str
    redis_marker: str
    server: psutil.Process | None = None

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.self0 = _self_cpu()
        self.server0 = _cpu(self.server) if self.server else 0.0
        self.procs = _others(self.database_marker, self.redis_marker)
        self.procs0 = {pid: _cpu(p) for pid, (_, p) in self.procs.items()}
        total = psutil.cpu_times()
        self.busy0 = total.user + total.system + total.nice + getattr(total, "softirq", 0.0)

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        result = {"wall_s": wall, "generator_cpu_s": _self_cpu() - self.self0,
                  "server_cpu_s": (_cpu(self.server) - self.server0) if self.server else 0.0,
                  "postgres_cpu_s": 0.0, "redis_cpu_s": 0.0}
        current = _others(self.database_marker, self.redis_marker)
        for pid, (kind, p) in current.items():
            result[f"{kind}_cpu_s"] += _cpu(p) - self.procs0.get(pid, 0.0)
        total = psutil.cpu_times()
        busy = total.user + total.system + total.nice + getattr(total, "softirq", 0.0)
        accounted = sum(v for k, v in result.items() if k.endswith("_cpu_s"))
        result["other_cpu_s"] = max(0.0, busy - self.busy0 - accounted)
        result["cpus"] = float(psutil.cpu_count() or 1)
        return {k: round(v, 2) for k, v in result.items()}
