"""Constructors of more than three parameters are keyword-only (issue 24): a dataclass of more
than three fields is `@dataclass(kw_only=True)`, an `__init__` takes at most three
parameters by position, and a NamedTuple (positional by nature) has at most three fields.
Read from the AST of harness/, chaos/ and locustfiles/, so it stays true as classes are added."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "chaos", "locustfiles")
MOST_POSITIONAL = 3


def _name(node: ast.expr) -> str:
    func = node.func if isinstance(node, ast.Call) else node
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _keyword(call: ast.expr, key: str) -> object:
    if isinstance(call, ast.Call):
        for keyword in call.keywords:
            if keyword.arg == key and isinstance(keyword.value, ast.Constant):
                return keyword.value.value
    return None


def _positional_fields(cls: ast.ClassDef) -> int:
    """Fields a dataclass's __init__ takes by position (those before a KW_ONLY marker that
    are neither ClassVar, nor field(kw_only=True), nor field(init=False))."""
    count = 0
    for stmt in cls.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        annotation = ast.unparse(stmt.annotation)
        if annotation.endswith("KW_ONLY"):
            break
        if "ClassVar" in annotation:
            continue
        if stmt.value is not None and _name(stmt.value) == "field" and (
                _keyword(stmt.value, "kw_only") is True or _keyword(stmt.value, "init") is False):
            continue
        count += 1
    return count


def positional_constructors(source: str, path: str) -> list[str]:
    """file:line and what, for every constructor taking more than three parameters by position."""
    found = []
    for cls in (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef)):
        for decorator in cls.decorator_list:
            if (_name(decorator) == "dataclass" and _keyword(decorator, "kw_only") is not True
                    and _keyword(decorator, "init") is not False):
                if (n := _positional_fields(cls)) > MOST_POSITIONAL:
                    found.append(f"{path}:{cls.lineno}: dataclass {cls.name} takes {n} fields by position")
        if any(_name(base) == "NamedTuple" for base in cls.bases):
            fields = sum(isinstance(s, ast.AnnAssign) for s in cls.body)
            if fields > MOST_POSITIONAL:
                found.append(f"{path}:{cls.lineno}: NamedTuple {cls.name} has {fields} fields")
        for stmt in cls.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == "__init__":
                n = len(stmt.args.posonlyargs) + len(stmt.args.args) - 1  # less self
                if n > MOST_POSITIONAL:
                    found.append(f"{path}:{stmt.lineno}: {cls.name}.__init__ takes {n} parameters by position")
    return found


def offenders(root: Path) -> list[str]:
    return [line for package in PACKAGES for path in sorted((root / package).rglob("*.py"))
            for line in positional_constructors(path.read_text(), str(path.relative_to(root)))]


def test_constructors_of_more_than_three_parameters_are_keyword_only() -> None:
    found = offenders(ROOT)
    assert found == [], "make these keyword-only (@dataclass(kw_only=True), or `*` in __init__):\n" + "\n".join(found)


def test_the_check_finds_each_kind() -> None:
    source = '''
from dataclasses import KW_ONLY, dataclass, field
from typing import ClassVar, NamedTuple

@dataclass(frozen=True)
class Four:
    a: int
    b: int
    c: int
    d: int = 0

@dataclass
class Three:
    a: int
    b: int
    c: int
    k: ClassVar[int] = 0
    d: int = field(default=0, kw_only=True)
    e: int = field(default=0, init=False)
    _: KW_ONLY
    f: int = 0

@dataclass(kw_only=True)
class Keywords:
    a: int
    b: int
    c: int
    d: int

class Init:
    def __init__(self, a, b, c, d): ...

class InitStar:
    def __init__(self, a, b, c, *, d): ...

class Row(NamedTuple):
    a: int
    b: int
    c: int
    d: int
'''
    assert positional_constructors(source, "m.py") == [
        "m.py:6: dataclass Four takes 4 fields by position",
        "m.py:31: Init.__init__ takes 4 parameters by position",
        "m.py:36: NamedTuple Row has 4 fields",
    ]
