"""`--set key.path=value` applied to a scenario's data or a Serve config file's, before
either is validated."""

from __future__ import annotations

from typing import Any

from harness.model.errors import ConfigError


def apply_override(data: dict[str, Any], path: list[str], value: Any, source: str) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        here = ".".join(path[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError([f"{source}: {here}: expected a list index below {len(node)}"])
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError([f"{source}: {here}: expected a mapping to set a key in"])
    last = path[-1]
    if isinstance(node, list):
        # An index one past the end appends, so `--set slos.3=...` can add an SLO.
        if not last.isdigit() or int(last) > len(node):
            raise ConfigError([f"{source}: {'.'.join(path)}: expected a list index up to {len(node)}"])
        if int(last) == len(node):
            node.append(value)
        else:
            node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError([f"{source}: {'.'.join(path)}: expected a mapping to set a key in"])
