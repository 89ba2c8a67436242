"""The table on stdout and bench/results/latest.json."""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from bench.config import Config
from bench.harness import RESULTS, Row, cpu_share


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"


def table(rows: list[Row]) -> str:
    head = ("scenario", "figure", "value", "ceiling", "ratio", "target", "met",
            "cores gen/srv/pg/other")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cores = cpu_share(r.cpu) if r.cpu else {}
        cpu = ("/".join(f"{cores.get(k, 0):.2f}" for k in
                        ("generator", "server", "postgres", "other")) if cores else "")
        ceiling = f"{_fmt(r.ceiling)} ({r.ceiling_name})" if r.ceiling is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "NO")
        lines.append("| " + " | ".join((
            r.scenario, r.figure, f"{_fmt(r.value)}{r.unit.strip() if r.unit != '/s' else '/s'}",
            ceiling, "" if r.ratio is None else f"{r.ratio:.2f}x", r.target, met, cpu,
        )) + " |")
    notes = [f"- {r.scenario}, {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + [""] + notes)


def write(config: Config, rows: list[Row], details: dict[str, object], started: float,
          path: Path = RESULTS / "latest.json") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "machine": {"cpus": psutil.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_end": [round(x, 2) for x in psutil.getloadavg()]},
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k != "admin_key"},
        "rows": [dataclasses.asdict(r) for r in rows],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path
