"""`python -m bench.capacity [--seconds S] [--repeats N] [--subscribers N]`: the measured
inputs of CAPACITY.md's model, each figure N times (default 3) in one run of about 2-3 minutes.

CPU per operation of the server (`serve`, one worker) and of PostgreSQL, RSS per idle
subscriber, Redis bytes per event, and the ceilings they run into (one PostgreSQL's commits/s
of the reserve transaction alone and batched, Redis PUBLISH/s), measured in the same run.
Prints a table (median and spread) and writes bench/results/capacity.json."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import time

import psutil  # type: ignore[import-untyped]

from bench import capacity_ceilings, capacity_costs, capacity_webhooks
from bench.__main__ import raise_open_files
from bench.config import Config
from bench.harness import RESULTS, Harness

SKUS = 1_000
FANOUT_SKUS = 100  # 10 subscribers per SKU at the default size, as 5,000 over 500
Figures = dict[str, tuple[str, list[float]]]  # name -> (unit, one value per repeat)


def _take(samples: list[dict[str, float]], key: str) -> list[float]:
    return [float(s[key]) for s in samples]


def _requests(found: dict[str, list[dict[str, float]]], figures: Figures) -> None:
    found = dict(found)
    figures["server CPU with no load (sweeps, timers; taken out of the figures below)"] = (
        "cores", _take(found.pop("idle"), "server_cores"))
    for name, samples in found.items():
        figures[f"server CPU per {name}"] = ("ms", _take(samples, "server_ms"))
        figures[f"PostgreSQL CPU per {name}"] = ("ms", _take(samples, "postgres_ms"))
        figures[f"throughput of {name}, 1 worker (shared machine)"] = (
            "/s", _take(samples, "per_s"))


def _fanout(found: dict[str, object], figures: Figures) -> None:
    without, one, many = found["without"], found["with_one"], found["with"]
    assert isinstance(without, list) and isinstance(one, list) and isinstance(many, list)
    # What a window with subscribers spent beyond its reserves (at the median cost of a
    # reserve without subscribers: the busy machine does not let every window commit the
    # same number), per event delivered in it.
    alone = {key: statistics.median(_take(without, key)) for key in ("server_ms", "postgres_ms")}

    def per_event(samples: list[dict[str, float]], key: str) -> list[float]:
        return [w["count"] * (w[key] - alone[key]) / max(1, w["delivered"]) for w in samples]

    subs, skus, rate = found["subscribers"], found["skus"], found["rate"]
    assert isinstance(subs, int) and isinstance(skus, int)
    for label, samples in ((f"1 subscriber per SKU ({skus})", one),
                           (f"{subs // skus} per SKU ({subs} over {skus} SKUs)", many)):
        figures[f"server CPU per delivered event, {label}"] = (
            "ms", per_event(samples, "server_ms"))
        figures[f"PostgreSQL CPU per delivered event, {label}"] = (
            "ms", per_event(samples, "postgres_ms"))
        figures[f"delivered events/s in those windows ({label})"] = (
            "/s", _take(samples, "delivered_per_s"))
    figures[f"server CPU per reserve at {rate:g}/s, no subscribers"] = (
        "ms", _take(without, "server_ms"))
    figures[f"PostgreSQL CPU per reserve at {rate:g}/s, no subscribers"] = (
        "ms", _take(without, "postgres_ms"))
    figures[f"send->answer p50 of those reserves at {rate:g}/s (1 worker, shared machine)"] = (
        "ms", _take(without, "p50_ms"))
    figures[f"server RSS per idle subscriber, the first of its SKU ({skus})"] = (
        "KB", [float(found["rss_kb_first_per_sku"])])  # type: ignore[arg-type]
    steps = found["rss_kb_per_subscriber"]
    assert isinstance(steps, list)
    figures["server RSS per idle subscriber, more on the same SKUs (each step)"] = ("KB", steps)
    counts, sizes = found["redis_messages"], found["redis_bytes"]
    assert isinstance(counts, dict) and isinstance(sizes, dict)
    for channel, n in counts.items():
        figures[f"Redis bytes per message on {channel}"] = ("B", [sizes[channel] / n])
    committed = found["redis_committed"]
    assert isinstance(committed, int)
    figures["Redis messages per committed reserve"] = (
        "", [sum(counts.values()) / max(1, committed)])


def _ceilings(single: list[dict[str, float]], many: list[dict[str, float]],
              hot: list[dict[str, float]], redis: list[dict[str, float]],
              figures: Figures) -> None:
    figures["PostgreSQL commits/s, one reserve per transaction (asyncpg, pool 8, 32 clients)"] = (
        "/s", _take(single, "per_s"))
    figures["PostgreSQL CPU per one-reserve commit"] = ("ms", _take(single, "postgres_ms"))
    for label, samples in (("1000 SKUs", many), ("one hot SKU", hot)):
        figures[f"group commit of 100, 2 drains, {label}: reserves/s"] = (
            "/s", _take(samples, "per_s"))
        figures[f"group commit of 100, 2 drains, {label}: commits/s"] = (
            "/s", _take(samples, "commits_per_s"))
        figures[f"group commit, {label}: PostgreSQL CPU per reserve"] = (
            "ms", _take(samples, "postgres_ms"))
    figures["Redis PUBLISH/s (pipelined 100, one pattern subscriber)"] = (
        "/s", _take(redis, "per_s"))
    figures["Redis messages received/s by that subscriber"] = (
        "/s", _take(redis, "received_per_s"))
    figures["Redis CPU per PUBLISH (shared Redis)"] = ("us", _take(redis, "redis_us"))


def calibrate(rounds: int = 100_000) -> float:
    """CPU ms of a fixed piece of Python work (an event-sized dict through orjson, `rounds`
    times) in this process: CPU per operation on a shared 2-vCPU machine grows when other
    processes share its cores, so runs compare by this figure too."""
    import resource

    import orjson

    event = {"sku": "B00001", "sequence": 12345, "kind": "RESERVED", "available": 899_999,
             "status": "IN_STOCK", "reservationId": "3f2b9c1e-8d4a-4c1b-9e2f-5a6b7c8d9e0f",
             "occurredAt": "2026-12-07T23:00:00.000000+00:00", "level": {"available": 1}}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before = usage.ru_utime + usage.ru_stime
    for _ in range(rounds):
        orjson.loads(orjson.dumps(event))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return 1000 * (usage.ru_utime + usage.ru_stime - before)


def table(figures: Figures) -> str:
    lines = ["| figure | median | min - max (n) | unit |", "|---|---:|---:|---|"]
    for name, (unit, values) in figures.items():
        def fmt(v: float) -> str:
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
        spread = f"{fmt(min(values))} - {fmt(max(values))} ({len(values)})" if values else ""
        median = fmt(statistics.median(values)) if values else ""
        lines.append(f"| {name} | {median} | {spread} | {unit} |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    config = dataclasses.replace(Config(), seconds=args.seconds, workers=1)
    h = Harness(config)
    raise_open_files()
    started = time.time()
    figures: Figures = {}
    details: dict[str, object] = {}
    try:
        # below the 1,000,000 a level may hold, so that the webhook rounds can restock by 1
        template = await h.dbs.template("cap", SKUS, 900_000)
        figures["calibration: CPU for 100,000 orjson round trips of an event, bench process"] = (
            "ms", [calibrate() for _ in range(args.repeats)])
        h.log("capacity: PostgreSQL and Redis ceilings")
        url = await h.dbs.fresh("cap_pg", template)  # the holds spread over 900,000 each
        single = [await capacity_ceilings.single_commits(h, url, SKUS)
                  for _ in range(args.repeats)]
        many = [await capacity_ceilings.batched_commits(h, url, SKUS, 100, 2)
                for _ in range(args.repeats)]
        hot = [await capacity_ceilings.batched_commits(h, url, 1, 100, 2)
               for _ in range(args.repeats)]
        redis = [await capacity_ceilings.redis_publishes(h, args.event_bytes)
                 for _ in range(args.repeats)]
        details["ceilings"] = {"single": single, "many": many, "hot": hot, "redis": redis}
        found = await capacity_costs.requests(h, template, SKUS, args.repeats)
        details["requests"] = found
        _requests(found, figures)
        fan = await capacity_costs.fanout(h, template, FANOUT_SKUS, args.subscribers,
                                          args.rate, args.repeats)
        details["fanout"] = fan
        _fanout(fan, figures)
        hooks = await capacity_webhooks.deliveries(h, template, SKUS, args.hook_changes,
                                                   args.repeats)
        details["webhooks"] = hooks
        figures["server CPU per webhook delivery"] = ("ms", _take(hooks, "server_ms"))
        figures["PostgreSQL CPU per webhook delivery"] = ("ms", _take(hooks, "postgres_ms"))
        figures["webhook deliveries/s, one endpoint"] = ("/s", _take(hooks, "per_s"))
        _ceilings(single, many, hot, redis, figures)
        figures["calibration, again at the end"] = (
            "ms", [calibrate() for _ in range(args.repeats)])
    finally:
        await h.dbs.drop_all()
    other = [s["other_cores"] for samples in found.values() for s in samples
             if "other_cores" in s]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "capacity.json"
    path.write_text(json.dumps({
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1), "args": vars(args),
        "load_avg_at_end": psutil.getloadavg(), "figures": figures, "details": details,
    }, indent=2, default=str))
    print(table(figures))
    print(f"\nother processes on the machine: {min(other):.2f}-{max(other):.2f} cores during "
          f"the request windows; {time.time() - started:.0f} s; details in {path}")
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per window (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="of every figure (default 3)")
    parser.add_argument("--subscribers", type=int, default=1_000,
                        help=f"idle subscribers over {FANOUT_SKUS} SKUs (default 1,000)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="reserves/s in the fan-out windows (default 100)")
    parser.add_argument("--hook-changes", type=int, default=150,
                        help="stock changes per webhook round (default 150)")
    parser.add_argument("--event-bytes", type=int, default=700,
                        help="PUBLISH payload size for the Redis ceiling (default 700)")
    return parser.parse_args(argv)


def run() -> int:
    args = parse()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main(args))
    return uvloop.run(main(args))


if __name__ == "__main__":
    sys.exit(run())
