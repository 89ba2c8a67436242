"""PostGraphile 5 for bench/peer.py: installed with npm into a cache directory outside git,
and run as one Node process with bench/peer_preset.mjs over a bench database.

PostGraphile 5 needs a newer Node than some machines have (5.1 asks for >= 22, Debian's is 20):
then Node itself comes from npm (the `node` package, which fetches its binary as the
`node-<os>-<arch>` package from the same registry) into the same directory."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from bench.http import GraphQLClient, HttpError
from bench.serverproc import Server

CACHE = Path(os.environ.get("BENCH_PEER_DIR")
             or Path.home() / ".cache" / "inventory-bench" / "peer")
PRESET = Path(__file__).resolve().parent / "peer_preset.mjs"
WANTED = "postgraphile@^5"


class Unavailable(Exception):
    """PostGraphile cannot run here; the message says why."""


@dataclass(frozen=True)
class Install:
    node: Path
    cli: Path
    version: str
    node_version: str


def _major(version: str) -> int:
    found = re.search(r"(\d+)", version)
    return int(found.group(1)) if found else 0


async def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    assert npm is not None
    process = await asyncio.create_subprocess_exec(
        npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--loglevel=error",
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(600):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        raise Unavailable(f"npm install {' '.join(args)} took over 600 s") from None
    if process.returncode != 0:
        tail = out.decode(errors="replace").strip().splitlines()[-5:]
        raise Unavailable(f"npm install {' '.join(args)} failed: " + " / ".join(tail))


def _node_version(node: Path | str) -> str:
    try:
        return subprocess.run([str(node), "--version"], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


async def install() -> Install:
    """PostGraphile 5 (and, if the machine's Node is too old for it, a Node from npm) in
    CACHE; an install already there is reused. Unavailable when node or npm is missing."""
    system_node = shutil.which("node")
    if system_node is None or shutil.which("npm") is None:
        raise Unavailable("node and npm are not on PATH (PostGraphile 5 is an npm package)")
    CACHE.mkdir(parents=True, exist_ok=True)
    manifest = CACHE / "package.json"
    if not manifest.exists():
        manifest.write_text('{"name": "inventory-bench-peer", "private": true}\n')
    package = CACHE / "node_modules" / "postgraphile" / "package.json"
    if not package.exists() or _major(json.loads(package.read_text())["version"]) != 5:
        await _npm(WANTED)
    meta = json.loads(package.read_text())
    needed = _major(meta.get("engines", {}).get("node", ">=0"))
    node: Path = Path(system_node)
    version = _node_version(node)
    if _major(version) < needed:
        node = CACHE / "node_modules" / "node" / "bin" / "node"
        if _major(_node_version(node)) < needed:
            await _npm(f"node@^{needed}")
        version = _node_version(node)
        if _major(version) < needed:
            raise Unavailable(
                f"PostGraphile {meta['version']} needs Node >= {needed}; this machine has "
                f"{_node_version(system_node)} and npm's node@^{needed} gave no working binary "
                f"at {node} (its preinstall script fetches node-<os>-<arch>; an npm that "
                "blocks install scripts leaves it out)")
    bin_entry = meta["bin"] if isinstance(meta["bin"], str) else meta["bin"]["postgraphile"]
    return Install(node, package.parent / bin_entry, meta["version"], version)


class PostGraphile(Server):
    """`postgraphile -C peer_preset.mjs` on a free port of 127.0.0.1 (the preset binds there),
    with Server's log file, RSS and stop."""

    def __init__(self, setup: Install, database_url: str, pool: int) -> None:
        super().__init__({"DATABASE_URL": database_url, "PG_POOL_MAX": str(pool),
                          "NODE_ENV": "production", "GRAPHILE_ENV": "production"})
        self.env["PORT"] = str(self.port)
        self.setup = setup

    async def start(self) -> None:
        # an ES module resolves its imports from where it lies: beside node_modules
        preset = CACHE / PRESET.name
        shutil.copyfile(PRESET, preset)
        self.process = subprocess.Popen(
            [str(self.setup.node), str(self.setup.cli), "-C", str(preset)],
            cwd=CACHE, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.process.pid)
        probe = GraphQLClient(self.port).encode("{ __typename }", {})
        async with asyncio.timeout(120):  # introspection of the schema at start
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"PostGraphile exited with {self.process.returncode}:\n"
                                       + self.tail())
                client = GraphQLClient(self.port)
                try:
                    status, _ = await client.post(probe)
                    if status == 200:
                        return
                except (OSError, HttpError):
                    pass
                finally:
                    client.close()
                await asyncio.sleep(0.2)
