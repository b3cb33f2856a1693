"""One home for every name (issue 24): `from M import N` names a module M of the project that
defines N, not one that merely imported it. A module re-exports on purpose only by listing
the name in its `__all__` (harness.slo.catalog: the whole metric table; a package's
__init__). Read from the AST of every importer: harness/, chaos/, locustfiles/, tests/,
bench/ and tools/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("harness", "chaos", "locustfiles")
IMPORTERS = (*PROJECT, "tests", "bench", "tools")


def _module_name(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def homes(source: str) -> set[str]:
    """The names a module defines at its top level (also under if/try) or lists in __all__."""
    names: set[str] = set()
    pending = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= set().union(*(_targets(t) for t in node.targets))
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                names |= {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant)}
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            names |= _targets(node.target)
        elif isinstance(node, ast.If | ast.Try):
            pending += node.body + node.orelse + getattr(node, "finalbody", [])
            pending += [s for h in getattr(node, "handlers", []) for s in h.body]
    return names


def borrowed_imports(root: Path) -> list[str]:
    """file:line for every `from M import N` where M is a project module that does not define N."""
    modules = {_module_name(root, p): p for package in PROJECT for p in (root / package).rglob("*.py")}
    defined = {name: homes(path.read_text()) for name, path in modules.items()}
    found = []
    for package in IMPORTERS:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules):
                    continue
                for alias in node.names:
                    if alias.name != "*" and f"{node.module}.{alias.name}" not in modules \
                            and alias.name not in defined[node.module]:
                        found.append(f"{path.relative_to(root)}:{node.lineno}: {alias.name} from "
                                     f"{node.module}, which does not define it")
    return found


def test_every_name_is_imported_from_its_home() -> None:
    found = borrowed_imports(ROOT)
    assert found == [], "import these from the module that defines them:\n" + "\n".join(found)


def test_a_borrowed_name_is_found(tmp_path: Path) -> None:
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "errors.py").write_text("class ConfigError(Exception):\n    pass\n")
    (tmp_path / "harness" / "loader.py").write_text(
        "from harness.errors import ConfigError\n\nfrom harness.errors import ConfigError as Again\n"
        "try:\n    import x\nexcept ImportError:\n    FALLBACK = 1\n")
    (tmp_path / "harness" / "catalog.py").write_text("from harness.errors import ConfigError\n\n__all__ = ['ConfigError']\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "from harness.loader import ConfigError, FALLBACK\nfrom harness.catalog import ConfigError\n"
        "from harness import errors\n")
    assert borrowed_imports(tmp_path) == ["tests/test_x.py:1: ConfigError from harness.loader, which does not define it"]
