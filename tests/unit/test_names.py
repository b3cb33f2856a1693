"""Names unique across packages (issue 24): no two modules of harness/, chaos/ and locustfiles/
share a file name, and no two public top-level classes share a name, so a name read in a
traceback, an import or a review says which one it is."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "chaos", "locustfiles")
# Every package has one; `python -m harness` needs its __main__.
EXEMPT_FILES = {"__init__.py", "__main__.py"}


def _sources(root: Path) -> list[Path]:
    return sorted(p for package in PACKAGES for p in (root / package).rglob("*.py"))


def clashing_modules(root: Path) -> dict[str, list[str]]:
    """File name -> the modules holding it, for every name held by more than one."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in _sources(root):
        if path.name not in EXEMPT_FILES:
            found[path.name].append(str(path.relative_to(root)))
    return {name: paths for name, paths in found.items() if len(paths) > 1}


def clashing_classes(root: Path) -> dict[str, list[str]]:
    """Public top-level class name -> file:line of each definition, for every name defined twice."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in _sources(root):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found[node.name].append(f"{path.relative_to(root)}:{node.lineno}")
    return {name: where for name, where in found.items() if len(where) > 1}


def test_module_file_names_are_unique_across_packages() -> None:
    assert clashing_modules(ROOT) == {}


def test_public_class_names_are_unique_across_packages() -> None:
    assert clashing_classes(ROOT) == {}


def test_a_clash_is_found(tmp_path: Path) -> None:
    for rel in ("harness/slo/state.py", "chaos/state.py", "harness/__init__.py", "chaos/__init__.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("class Tally:\n    pass\n\n\nclass _Private:\n    pass\n")
    (tmp_path / "locustfiles").mkdir()
    assert clashing_modules(tmp_path) == {"state.py": ["chaos/state.py", "harness/slo/state.py"]}
    assert set(clashing_classes(tmp_path)) == {"Tally"}
    assert clashing_classes(tmp_path)["Tally"][0] == "chaos/__init__.py:1"
