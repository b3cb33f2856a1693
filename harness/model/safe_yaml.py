"""Untrusted YAML to plain data, refusing anything but plain data.

Scenario files come from anywhere (a pull request, a CI variable). They are
loaded with PyYAML's safe loader only, and on top of that:
  - the event stream is scanned first (iteratively, building nothing): a tag
    that would construct an object (!!python/object/apply:...), nesting past
    MAX_DEPTH and an integer Python cannot parse are refused by key path;
  - the loaded data is bounded in values, counting every alias expansion, so a
    "billion laughs" document stops early.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 64
MAX_VALUES = 100_000
MAX_DIGITS = 4000  # Python refuses to parse integers past 4300 digits
_CORE = "tag:yaml.org,2002:"
SAFE_TAGS = {_CORE + name for name in (
    "str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge", "value",
)}


def printable_key(part: object) -> str:
    """A key as it goes into a one-line message: control characters escaped, length bounded."""
    text = str(part)
    if not text.isprintable():
        text = repr(text)
    return text if len(text) <= 60 else text[:57] + "..."


class YamlRejected(Exception):
    """`where` is a key path or a line; `expected` says what would have been accepted."""

    def __init__(self, where: str, expected: str):
        super().__init__(f"{where}: {expected}")
        self.where = where
        self.expected = expected


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


class _Frame:
    """A mapping or sequence being parsed, and where its next child goes."""

    def __init__(self, path: str, is_mapping: bool):
        self.path = path
        self.is_mapping = is_mapping
        self.key_next = True  # mappings alternate key, value
        self.key = "?"
        self.index = 0
        self.key_lines: dict[str, int] = {}  # key -> the line it was first set on

    def child_path(self) -> str:
        part = (printable_key(self.key) if not self.key_next else "?") if self.is_mapping else str(self.index)
        return f"{self.path}.{part}".lstrip(".")

    def child_done(self, scalar: str | None) -> None:
        if not self.is_mapping:
            self.index += 1
        elif self.key_next:
            self.key, self.key_next = (scalar if scalar is not None else "?"), False
        else:
            self.key_next = True


def scan(text: str, max_depth: int = MAX_DEPTH, max_events: int = MAX_VALUES) -> None:
    """Walk the YAML event stream (iterative, builds nothing) and refuse, by key path,
    object-constructing tags, deep nesting, too many nodes and over-long integers."""
    stack: list[_Frame] = []
    for count, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader)):
        if count > max_events:
            raise YamlRejected("(file)", f"expected at most {max_events} YAML nodes")
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            if stack:
                stack[-1].child_done(None)
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        path = stack[-1].child_path() if stack else ""
        where = f"line {event.start_mark.line + 1}: {_display(path)}"
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in SAFE_TAGS:
            raise YamlRejected(where, f"expected plain YAML data, not the tag {_short_tag(tag)} "
                               "(tags that construct objects are refused)")
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= max_depth:
                raise YamlRejected(where, f"expected data nested at most {max_depth} levels deep")
            stack.append(_Frame(path, isinstance(event, yaml.MappingStartEvent)))
            continue
        value = event.value if isinstance(event, yaml.ScalarEvent) else None
        if value is not None and len(value) > MAX_DIGITS and value.lstrip("+-").isdigit():
            raise YamlRejected(where, f"expected a number of at most {MAX_DIGITS} digits")
        if value is not None and stack and stack[-1].is_mapping and stack[-1].key_next:
            _check_unique_key(stack[-1], value, event.start_mark.line + 1)
        if stack:
            stack[-1].child_done(value)


def _check_unique_key(frame: _Frame, key: str, line: int) -> None:
    """YAML keeps the last of two equal keys: the first value would be lost in silence."""
    first = frame.key_lines.get(key)
    if first is None:
        frame.key_lines[key] = line
        return
    path = _display(f"{frame.path}.{printable_key(key)}".lstrip("."))
    raise YamlRejected(
        f"line {line}: {path}",
        f"expected each key once per mapping, {printable_key(key)!r} is also on line {first} "
        "(YAML would keep only the last)",
    )


def check_shape(data: Any, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> None:
    """Raise YamlRejected naming the key path where the data nests or grows too far."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    count = 0
    while stack:
        value, path, depth = stack.pop()
        count += 1
        if count > max_values:
            raise YamlRejected(path or "(top level)", f"expected at most {max_values} values in the file "
                               "(aliases count once per use)")
        if depth > max_depth:
            raise YamlRejected(path, f"expected data nested at most {max_depth} levels deep")
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{printable_key(k)}".lstrip("."), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}.{i}".lstrip("."), depth + 1) for i, v in enumerate(value))


def load(text: str) -> Any:
    """Parse untrusted YAML into plain data, or raise YamlRejected."""
    try:
        scan(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise YamlRejected(_where(exc), f"expected valid YAML ({_problem(exc)})") from None
    except (RecursionError, ValueError) as exc:  # refused by scan() first; kept as a backstop
        raise YamlRejected("(file)", f"expected plain YAML data ({type(exc).__name__})") from None
    check_shape(data)
    return data


def _display(path: str) -> str:
    parts = path.split(".") if path else []
    if len(parts) <= 8:
        return path or "(top level)"
    return ".".join(parts[:4]) + ".<...>." + ".".join(parts[-2:]) + f" (depth {len(parts)})"


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}" if mark is not None else "(file)"


def _problem(exc: yaml.YAMLError) -> str:
    return getattr(exc, "problem", None) or str(exc).splitlines()[0]
