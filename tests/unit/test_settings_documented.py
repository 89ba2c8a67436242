"""Every environment variable the server reads has a row in the README's Configuration table:
the names are taken from the code (settings' readers, os.environ), not from a list kept by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ["server.py", "cli.py", "bootstrap", "web", "schema", "resolvers", "service", "feed",
        "store", "domain", "ops", "settings", "compat"]
NAME = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$|^[A-Z]{4,}$")


def _is_environ(node: ast.expr) -> bool:
    """`os.environ`, `environ` or a mapping the settings readers call `env`."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in ("environ", "env")


def read_names(tree: ast.AST) -> set[str]:
    """Names read as `env.get("X")`, `os.environ["X"]`, `os.getenv("X")`, or passed with the
    environment to a reader (`_int(env, "X", 1)`)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        texts: list[ast.expr] = []
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            texts = [node.slice]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault") \
                    and _is_environ(func.value):
                texts = node.args[:1]
            elif isinstance(func, ast.Attribute) and func.attr == "getenv":
                texts = node.args[:1]
            elif node.args and _is_environ(node.args[0]):
                texts = node.args[1:2]
        for text in texts:
            if isinstance(text, ast.Constant) and isinstance(text.value, str):
                found.add(text.value)
    return found


def code_names() -> dict[str, str]:
    """Each variable read, with a file that reads it."""
    names: dict[str, str] = {}
    for entry in CODE:
        path = ROOT / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for name in read_names(ast.parse(file.read_text(), str(file))):
                names.setdefault(name, str(file.relative_to(ROOT)))
    return names


def documented() -> set[str]:
    """The backquoted names in the first column of the README's Configuration table."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split(" | ")[0]))
    return names


def test_the_reader_finds_every_form_of_read() -> None:
    tree = ast.parse("import os\n"
                     "a = env.get('A_ONE')\nb = os.environ['B_TWO']\nc = os.getenv('C_THREE')\n"
                     "d = _int(env, 'D_FOUR', 1)\ne = os.environ.get('E_FIVE', 'x')\n"
                     "f = other.get('NOT_ENV')\ng = _int(config, 'NOT_ENV_EITHER', 1)\n")
    assert read_names(tree) == {"A_ONE", "B_TWO", "C_THREE", "D_FOUR", "E_FIVE"}


def test_every_variable_the_code_reads_is_in_the_readme_table() -> None:
    names = code_names()
    assert len(names) > 60  # the reader still finds them: settings/ alone reads more
    assert all(NAME.match(name) for name in names), sorted(names)
    missing = {name: where for name, where in names.items() if name not in documented()}
    assert not missing, f"add a row to README.md's Configuration table for: {missing}"
