"""GraphQL over HTTP conformance: graphql-http's `auditServer` (the reference audit of the
spec, https://github.com/graphql/graphql-http) against a real server, every audit ok,
SHOULDs and MAYs included.

The audit runs in Node: graphql-http and graphql, pinned below, are installed once with npm
into a cache directory ($GRAPHQL_HTTP_AUDIT_CACHE, else $XDG_CACHE_HOME or ~/.cache), and
tests/api/graphql_http_audit.mjs is copied next to them. Skipped when node or npm is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer

GRAPHQL_HTTP = "1.23.1"
GRAPHQL_JS = "16.15.0"
SCRIPT = Path(__file__).with_name("graphql_http_audit.mjs")
INSTALL_TIMEOUT = 300
AUDIT_TIMEOUT = 120


def cache_dir() -> Path:
    root = os.environ.get("GRAPHQL_HTTP_AUDIT_CACHE")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inventory-server"
    return base / f"graphql-http-{GRAPHQL_HTTP}-graphql-{GRAPHQL_JS}"


async def run(*argv: str, timeout: float, cwd: Path | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{' '.join(argv)} took longer than {timeout}s")
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def installed(prefix: Path) -> bool:
    manifest = prefix / "node_modules" / "graphql-http" / "package.json"
    try:
        return bool(json.loads(manifest.read_text())["version"] == GRAPHQL_HTTP)
    except (OSError, ValueError, KeyError):
        return False


async def audit_dir(npm: str) -> Path:
    """The cache directory with graphql-http installed, installing it on first use (into a
    scratch directory renamed into place, so an interrupted install leaves nothing behind)."""
    prefix = cache_dir()
    if installed(prefix):
        return prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=prefix.name + ".", dir=prefix.parent))
    try:
        (scratch / "package.json").write_text('{"private": true, "type": "module"}\n')
        code, output = await run(
            npm, "install", "--prefix", str(scratch), "--no-audit", "--no-fund",
            "--save-exact", f"graphql-http@{GRAPHQL_HTTP}", f"graphql@{GRAPHQL_JS}",
            timeout=INSTALL_TIMEOUT,
        )
        if code != 0:
            pytest.fail(f"npm install graphql-http@{GRAPHQL_HTTP} failed ({code}):\n{output}")
        try:
            scratch.rename(prefix)
        except OSError:  # another run installed it meanwhile
            if not installed(prefix):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return prefix


async def test_graphql_over_http_audit_passes_every_audit(server: RunningServer) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("graphql-http's audit needs Node.js: `node` and `npm` must be on PATH")
    prefix = await audit_dir(npm)
    script = prefix / SCRIPT.name
    shutil.copyfile(SCRIPT, script)

    code, output = await run(node, str(script), server.graphql_url, timeout=AUDIT_TIMEOUT)

    marker = next((line for line in output.splitlines() if line.startswith("AUDIT_JSON ")), None)
    assert marker is not None, f"the audit printed no results (exit {code}):\n{output}"
    results: list[dict[str, Any]] = json.loads(marker.removeprefix("AUDIT_JSON "))
    assert len(results) >= 60, f"expected graphql-http's full audit list, got {len(results)}"
    failures = [r for r in results if r["status"] != "ok"]
    report = "\n".join(
        f"{r['status'].upper()} {r['id']} {r['name']}: {r['reason']} (body: {r['body']!r})"
        for r in failures
    )
    if failures:
        print(report)
    assert not failures, f"{len(failures)} of {len(results)} audits failed:\n{report}"
    assert code == 0, output
