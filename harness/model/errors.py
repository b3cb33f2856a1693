"""Pydantic validation errors as (key path, what was expected) lines.

Low in the layering on purpose: the scenario loader, the suite config and the chaos
registry (fault args) all describe errors the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from harness.model import safe_yaml


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(safe_yaml.printable_key(part) for part in loc) or "(top level)"


def describe_validation_error(error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[tuple[str, str]]:
    """A pydantic error as (key path, what was expected) pairs; `prefix` roots nested models."""
    problems = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if not str(p).startswith("function-after"))
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "expected no such key (unknown key)"
        elif item["type"] == "missing":
            msg = "expected a value (required key is missing)"
        elif item["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif msg.startswith(("Input should be ", "Value should be ")):
            msg = "expected " + msg.split(" should be ", 1)[1]
        else:
            msg = f"expected {msg[0].lower()}{msg[1:]}"
        got = "" if item["type"] in ("missing", "value_error") else f" (got {_describe(item['input'])})"
        if isinstance(item.get("input"), bool) and item["type"] in ("int_type", "float_type"):
            got = f" (got {item['input']}: YAML reads yes/no/on/off/true/false as booleans)"
        problems.append((_key_path(prefix + loc), f"{msg}{got}"))
    return problems


def format_validation_error(source: str, error: ValidationError) -> list[str]:
    return [f"{source}: {key}: {message}" for key, message in describe_validation_error(error)]


class ConfigError(Exception):
    """Invalid scenario or usage. Each line names the file, the key and what was expected."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines
