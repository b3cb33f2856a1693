"""Declared dependencies match the imports: every third-party module the code imports is
declared (runtime code in `dependencies`, tests and benchmarks may use `dev` too), and every
declared package is imported somewhere, or is a tool used the way noted in TOOLS."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = "ray-release-harness"
RUNTIME_DIRS = ("harness", "chaos", "locustfiles")
OTHER_DIRS = ("tests", "bench", "configs", "tools")
LOCAL = {"harness", "chaos", "locustfiles", "tests", "bench", "tools", "my_faults", "user_app", "http_ok"}
# Declared but never imported: how each is used instead (checked below).
TOOLS = {"ruff": "Makefile runs .venv/bin/ruff", "pytest-timeout": "pyproject sets `timeout`",
         "check-jsonschema": "tests/unit/test_ci_examples.py runs .venv/bin/check-jsonschema",
         "pytest-xdist": "Makefile runs tests/unit with -n"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> tuple[set[str], set[str]]:
    runtime, dev = set(), set()
    for req in metadata.requires(DIST) or []:
        (dev if "extra ==" in req else runtime).add(_name(req))
    return runtime, dev


def imported(dirs: tuple[str, ...]) -> dict[str, set[str]]:
    """Top-level third-party modules imported under `dirs` -> files importing them."""
    found: dict[str, set[str]] = {}
    for folder in dirs:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Module names -> the distributions that provide them (lower-case names)."""
    mapping = metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for module, files in modules.items():
        dists = mapping.get(module)
        assert dists, f"{module} (imported by {sorted(files)}) comes from no installed distribution"
        for dist in dists:
            out.setdefault(dist.lower().replace("_", "-"), set()).update(files)
    return out


def test_runtime_imports_are_declared_runtime_dependencies() -> None:
    runtime, _ = declared()
    used = distributions(imported(RUNTIME_DIRS))
    missing = {d: sorted(f)[:3] for d, f in used.items() if d not in runtime}
    assert missing == {}, "imported by the harness but not in [project] dependencies"


def test_test_and_bench_imports_are_declared() -> None:
    runtime, dev = declared()
    used = distributions(imported(OTHER_DIRS))
    missing = {d: sorted(f)[:3] for d, f in used.items() if d not in runtime | dev}
    assert missing == {}, "imported by tests/bench but declared nowhere"


def test_every_declared_dependency_is_imported_or_a_listed_tool() -> None:
    runtime, dev = declared()
    used = set(distributions(imported(RUNTIME_DIRS + OTHER_DIRS)))
    unused = sorted((runtime | dev) - used - set(TOOLS))
    assert unused == [], "declared but imported nowhere: remove them, or use them"
    assert "ruff" in (ROOT / "Makefile").read_text()
    assert "check-jsonschema" in (ROOT / "tests/unit/test_ci_examples.py").read_text()
    assert re.search(r"^timeout = \d+", (ROOT / "pyproject.toml").read_text(), re.M)
    assert re.search(r"pytest tests/unit .*-n ", (ROOT / "Makefile").read_text())
