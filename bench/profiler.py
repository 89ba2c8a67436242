"""py-spy sampling of the server during a measurement (--profile), summarised as self time
by package and the hottest functions, inclusive, so the report can name what costs."""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import sys
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
PACKAGES = ("graphql", "strawberry", "asyncpg", "uvicorn", "websockets", "starlette",
            "redis", "broadcaster", "httptools", "prometheus_client", "aiodataloader",
            "asyncio", "uvloop", "json", "logging")
APP = ("resolvers", "service", "store", "feed", "schema", "web", "ops", "domain")


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def _package(path: str) -> str:
    parts = Path(path).parts
    for name in PACKAGES:
        if name in parts or path.startswith(f"<{name}") or Path(path).stem == name:
            return name
    for name in APP:
        if name in parts:
            return f"app:{name}"
    return "other"


def summarise(raw: str, top: int = 12) -> dict[str, object]:
    by_package: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [FRAME.match(f) for f in stack.split(";")]
        parsed = [(m["func"], m["file"]) for m in frames if m]
        if not parsed:
            continue
        by_package[_package(parsed[-1][1])] += count
        seen = set()
        for func, file in parsed:
            name = f"{func} ({Path(file).parent.name}/{Path(file).name})"
            if name not in seen:
                seen.add(name)
                inclusive[name] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "self_by_package_pct": {k: round(100 * v / total, 1)
                                for k, v in by_package.most_common()},
        "inclusive_top_pct": {k: round(100 * v / total, 1)
                              for k, v in inclusive.most_common(top)},
    }


async def record(pid: int, seconds: float, out: Path) -> dict[str, object]:
    """Samples `pid` for `seconds` at 100 Hz (pausing it briefly per sample: --nonblocking
    gave skewed stacks here); writes the collapsed stacks
    to `out` (load them in speedscope or flamegraph.pl) and returns the summary."""
    exe = py_spy()
    if exe is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    process = await asyncio.create_subprocess_exec(
        exe, "record", "--pid", str(pid), "--subprocesses", "--duration", str(max(1, int(seconds))),
        "--rate", "100", "--format", "raw", "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0 or not out.exists():
        return {"error": err.decode(errors="replace")[-300:]}
    return {"file": str(out), **summarise(out.read_text())}
