"""What the alert and dashboard tests share: the Prometheus binaries (skip when missing), the
metric names a PromQL expression reads, and the metrics a server exports only when configured."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "inventory.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "inventory.rules.test.yml"

# Metrics that may be absent from /metrics unless a feature is configured; each with what
# enables it (the scrape test accepts their absence, and checks something still reads them).
CONDITIONAL = {
    "inventory_ingest_dead_lettered_total": "INGEST_STREAM_URL and INGEST_SUBJECTS",
    "inventory_ingest_lag_messages": "INGEST_STREAM_URL and INGEST_SUBJECTS",
    "inventory_ingest_leader": "INGEST_STREAM_URL and INGEST_SUBJECTS",
}
# Series Prometheus makes itself for every target, never on /metrics
SYNTHETIC = {"up"}

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def binary(name: str) -> str:
    """The path of `name` (promtool, prometheus), or skip: Debian's `prometheus` package brings
    both, and .ci/run installs it."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (apt-get install prometheus brings it)")
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, keywords, labels, numbers)."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _NAME.findall(text) if name.lower() not in KEYWORDS}


def exported_names(exposition: str) -> set[str]:
    """Metric names in a /metrics body, a histogram's _bucket/_sum/_count included."""
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in exposition.splitlines()
            if line and not line.startswith("#")}


def missing(used: Iterable[str], exported: set[str]) -> set[str]:
    """Names in `used` that the scrape lacks and that are neither conditional nor synthetic."""
    def known(name: str) -> bool:
        if name in exported or name in CONDITIONAL or name in SYNTHETIC:
            return True
        base = next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
        return base is not None and f"{base}_bucket" in exported
    return {name for name in used if not known(name)}
