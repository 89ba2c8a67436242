"""`python -m bench [--quick] [--only hot,many,reads,fanout,caching,cluster,instances,peer]
[--profile]`; see BENCHMARKS.md."""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import time

from bench import caching, cluster, fanout, instances, peer, reads, report, reserve
from bench.config import Config, parse
from bench.harness import Harness


def raise_open_files(wanted: int = 65536) -> int:
    """Sockets for 10k subscribers on both ends; the server subprocess inherits the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(wanted, hard), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
        except (ValueError, OSError):
            continue
    return soft


async def main(config: Config) -> int:
    h = Harness(config)
    started = time.time()
    h.details["open_files_limit"] = raise_open_files()
    h.details["event_loop"] = type(asyncio.get_running_loop()).__module__
    failures: list[str] = []
    # The generator holds up to 10,000 sockets: an automatic full collection would stop it
    # for tens of milliseconds mid-window and show up as server latency. Young collections
    # stay on; a full one runs between scenarios.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 2**31 - 1)
    try:
        for scenario in config.scenarios:
            gc.collect()
            try:
                if scenario in ("hot", "many"):
                    await reserve.run(h, scenario)
                elif scenario == "reads":
                    await reads.run(h)
                elif scenario == "fanout":
                    await fanout.run(h)
                elif scenario == "caching":
                    await caching.run(h)
                elif scenario == "cluster":
                    await cluster.run(h)
                elif scenario == "instances":
                    await instances.run(h)
                elif scenario == "peer":
                    await peer.run(h)
            except Exception as exc:  # report what ran; a failed scenario fails the command
                failures.append(f"{scenario}: {exc!r}")
                h.log(f"{scenario} FAILED: {exc!r}")
    finally:
        await h.dbs.drop_all()
    h.details["failures"] = failures
    path = report.write(config, h.rows, h.details, started)
    print(report.table(h.rows))
    print(f"\n{len(h.rows)} figures in {time.time() - started:.0f} s; details in {path}")
    return 1 if failures else 0


def run() -> int:
    config = parse()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main(config))
    return uvloop.run(main(config))


if __name__ == "__main__":
    sys.exit(run())
