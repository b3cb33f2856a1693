"""Window expressions: which stretch of the timeline an SLO judges, said as a person would.

    load                      a named window: run, load, cooldown, after_load, a load
    during fault-1            stage, a workload, or a fault ("fault-1", "fault-2", ...)
    after fault-1             from the end of fault-1 to the end of the run
    30s after fault-1         from the end of fault-1, for 30 s
    fault-1 + 30s             from the start of fault-1 to 30 s after its end
    first 10s of load         from the start of load, for 10 s
    after 10s of load         from 10 s after the start of load to its end (a warm-up left out)
    before fault-1            from the start of the run to the start of fault-1
    from fault-1 to load      from the start of fault-1 to the end of load

Durations take `ms`, `s` or `m`. A window that would reach past the last record of
the run is cut there: the run cannot say what happened later. Names are only
known once the run happened (faults are scheduled at run time), so a scenario's
expressions are checked for syntax first and resolved after the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from harness.measure.timeline import Window

_NAME = r"(?P<{}>[A-Za-z0-9_.:-]+)"
_DURATION = r"(?P<{}>\d+(?:\.\d+)?)\s*(?P<{}>ms|s|m)"
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0}


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(r"^\s*" + template + r"\s*$", re.IGNORECASE)


_FORMS: list[tuple[str, re.Pattern[str]]] = [
    ("skip", _pattern(r"after\s+" + _DURATION.format("n", "unit") + r"\s+of\s+" + _NAME.format("name"))),
    ("after_for", _pattern(_DURATION.format("n", "unit") + r"\s+after\s+" + _NAME.format("name"))),
    ("plus", _pattern(_NAME.format("name") + r"\s*\+\s*" + _DURATION.format("n", "unit"))),
    ("first", _pattern(r"first\s+" + _DURATION.format("n", "unit") + r"\s+of\s+" + _NAME.format("name"))),
    ("after", _pattern(r"after\s+" + _NAME.format("name"))),
    ("before", _pattern(r"before\s+" + _NAME.format("name"))),
    ("span", _pattern(r"from\s+" + _NAME.format("name") + r"\s+to\s+" + _NAME.format("other"))),
    ("during", _pattern(r"(?:during\s+)?" + _NAME.format("name"))),
]


KEYWORDS = frozenset({"after", "before", "during", "first", "from", "to", "of"})


class WindowSyntaxError(ValueError):
    pass


def parse(text: str) -> tuple[str, dict[str, str | float]]:
    """The form of a window expression and its parts; raises WindowSyntaxError."""
    for form, pattern in _FORMS:
        match = pattern.match(text)
        if match is None or any(match[k].lower() in KEYWORDS for k in ("name", "other") if k in pattern.groupindex):
            continue
        parts: dict[str, str | float] = {"name": match["name"]}
        if "other" in pattern.groupindex:
            parts["other"] = match["other"]
        if "n" in pattern.groupindex:
            parts["seconds"] = float(match["n"]) * _UNIT_S[match["unit"].lower()]
        return form, parts
    raise WindowSyntaxError(
        f"expected a window such as 'load', 'fault-1', 'after fault-1', '30s after fault-1', "
        f"'fault-1 + 30s', 'first 10s of load', 'after 10s of load', 'before fault-1' or 'from A to B', "
        f"got {text!r}"
    )


def names_in(text: str) -> list[str]:
    _form, parts = parse(text)
    return [str(parts[k]) for k in ("name", "other") if k in parts]


def resolve(text: str, windows: Mapping[str, Window]) -> Window | None:
    """The window an expression denotes in a run, or None if a name never happened."""
    form, parts = parse(text)
    named = windows.get(str(parts["name"]))
    run = windows.get("run")
    if named is None or run is None:
        return None
    seconds = float(parts.get("seconds", 0.0))
    end_of_run = max(run.end, named.end)
    label = " ".join(text.split())
    if form == "during":
        return Window(label, named.start, named.end)
    if form == "after":
        return Window(label, named.end, end_of_run)
    if form == "after_for":
        return Window(label, named.end, min(end_of_run, named.end + seconds))
    if form == "plus":
        return Window(label, named.start, min(end_of_run, named.end + seconds))
    if form == "first":
        return Window(label, named.start, min(named.end, named.start + seconds))
    if form == "skip":
        return Window(label, min(named.end, named.start + seconds), named.end)
    if form == "before":
        return Window(label, min(run.start, named.start), named.start)
    other = windows.get(str(parts["other"]))
    if other is None:
        return None
    return Window(label, named.start, max(named.start, other.end))
