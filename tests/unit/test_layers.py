"""The floors of harness.model.layers hold: every import of harness/, chaos/ and locustfiles/
(top level, inside a function, under TYPE_CHECKING) goes down a floor, stays in its package,
or is a declared sideways import; and no modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.model import layers

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "chaos", "locustfiles")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = project_modules()


def imported_modules(module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, wherever it stands; `from a import b` names
    module a.b when that is a module of the project, else a."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.append((node.lineno, name if name in MODULES else base))
    return found


def violations(module: str, source: str, path: str, is_package: bool = False) -> list[str]:
    """One line per import against the floors: file:line, both modules and both floors."""
    out = []
    for line, target in imported_modules(module, source, is_package):
        if not layers.allowed(module, target):
            low, high = layers.floor_of(target), layers.floor_of(module)
            assert low is not None and high is not None
            out.append(f"{path}:{line}: {module} (floor {high.name}) imports {target} (floor {low.name})")
    return out


def test_every_module_stands_on_a_floor() -> None:
    assert [m for m in MODULES if layers.floor_of(m) is None] == []


def test_every_declared_package_exists() -> None:
    declared = [p for floor in layers.FLOORS for p in floor.packages]
    assert [p for p in declared if p not in MODULES] == []
    assert len(declared) == len(set(declared))
    sideways = [(a, b) for a, b, _ in layers.SIDEWAYS]
    for a, b in sideways:  # a sideways import joins two packages of one floor, declared once
        assert a in declared and b in declared and a != b
        assert layers.floor_of(a) == layers.floor_of(b), (a, b)
    assert len(sideways) == len(set(sideways))


def test_no_import_goes_against_the_floors() -> None:
    found = []
    for module, path in sorted(MODULES.items()):
        found += violations(module, path.read_text(), str(path.relative_to(ROOT)), path.name == "__init__.py")
    assert found == [], "imports against harness.model.layers:\n" + "\n".join(found)


def test_no_import_circles() -> None:
    """Modules importing each other, however indirectly (Tarjan's strongly connected components)."""
    edges = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for _, target in imported_modules(module, path.read_text(), path.name == "__init__.py"):
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            # a package's own __init__ is imported on the way to its modules: not a circle
            if target and target != module and not module.startswith(target + "."):
                edges[module].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert circles == []


# Today's kinds of violation (before issue 24): each must be caught, wherever the import stands.
# case: (importer, its source, the module it must not import, the line of that import)
AGAINST = {
    "a lower floor imports a higher one": (
        "harness.slo.targets", "from harness.run.runner import Runner\n", "harness.run.runner", 1),
    "inside a function": (
        "harness.procs.run_registry",
        "def reap():\n    from harness.cluster.local import copy_session_logs\n    copy_session_logs()\n",
        "harness.cluster.local", 2),
    "under TYPE_CHECKING": (
        "harness.procs.reaper",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from harness.run.context import RunContext\n",
        "harness.run.context", 4),
    "the ground floor imports the loader": (
        "harness.model.scenario", "from harness.scenario import loader\n", "harness.scenario.loader", 1),
    "slo imports the load process": (
        "harness.slo.targets", "def f():\n    from locustfiles.schedule import arrival_offsets\n",
        "locustfiles.schedule", 2),
    "a part imports the gate": (
        "harness.cluster.pool", "from harness.gate.suite_config import ResolvedEntry\n", "harness.gate.suite_config", 1),
    "a reporter imports the runner's package": (
        "harness.report.junit", "import harness.run.runner\n", "harness.run.runner", 1),
    "undeclared sideways on one floor": (
        "harness.load.process", "from chaos.api import Fault\n", "chaos.api", 1),
    "relative import upward": (
        "harness.measure.stats", "x = 1\nfrom ..gate import suite_report\n", "harness.gate.suite_report", 2),
}


@pytest.mark.parametrize("case", AGAINST, ids=list(AGAINST))
def test_imports_against_the_floors_are_named(case: str) -> None:
    module, source, target, line = AGAINST[case]
    path = "/".join(module.split(".")) + ".py"
    high, low = layers.floor_of(module), layers.floor_of(target)
    assert high is not None and low is not None
    assert violations(module, source, path) == [
        f"{path}:{line}: {module} (floor {high.name}) imports {target} (floor {low.name})"]


ALLOWED = {
    "down a floor": ("harness.report.junit", "from harness.model.outcome import Verdict\n"),
    "own package": ("harness.slo.core", "from harness.slo.catalog import METRICS\n"),
    "declared sideways": ("chaos.guard", "from harness.cluster.local import LOOPBACK\n"),
    "the standard library and dependencies": ("harness.model.scenario", "import json\nfrom pydantic import BaseModel\n"),
}


@pytest.mark.parametrize("case", ALLOWED, ids=list(ALLOWED))
def test_imports_along_the_floors_pass(case: str) -> None:
    module, source = ALLOWED[case]
    assert violations(module, source, "x.py") == []


def test_every_sideways_import_is_used() -> None:
    """A declared exception nobody needs any more is taken out of the declaration."""
    used = set()
    for module, path in MODULES.items():
        for _, target in imported_modules(module, path.read_text(), path.name == "__init__.py"):
            used.add((layers.package_of(module), layers.package_of(target)))
    assert [(a, b) for a, b, _ in layers.SIDEWAYS if (a, b) not in used] == []
