"""Bounds that mean something: a check's unit, range and arguments against its metric's Kind.

Every metric declares what it measures where it is registered (harness.slo.registry,
the `kind=` of its metric decorator): the units its bound may be written in and the
range of its values. A check is refused before the run when

    its unit does not fit               success_ratio >= 99ms, p(99) < 50%
    its bound is outside the range      success_ratio >= 101%, p(99) < -5ms
    it can never fail                   error_ratio <= 1 (1 is 100%), requests >= 0
    it can never pass                   requests == 2.5, success_ratio > 100%
    its arguments cannot mean anything  success_ratio(x), p(99, sheed), avg_latency(99)

with what was probably meant (`error_ratio is a ratio: write 1%, not 1 (1 means 100%:
this check can never fail)`). A check that can never fail passes every run whatever
happened; one that can never pass blocks every release whatever happened: neither is
a gate.
"""

from __future__ import annotations

import difflib
import math

from harness.measure import stats
from harness.slo.registry import KINDS, NO_ARGS, RATIO, Kind, is_number

# Words a latency metric's arguments may hold: the outcomes a request can end with, and
# `attempts` (time every attempt alone).
OUTCOME_WORDS = (stats.OK, stats.SHED, *stats.ERROR_OUTCOMES)
LATENCY_WORDS = (*OUTCOME_WORDS, "attempts")
# Latency metrics and how many numbers their arguments hold (p(99, ok): one).
LATENCY_NUMBERS = {"p": 1, "avg_latency": 0, "max_latency": 0}
NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


def _some_value(kind: Kind, op: str, bound: float) -> bool:
    """Whether any value the metric can take satisfies `value op bound`."""
    low = math.ceil(kind.low) if kind.whole and math.isfinite(kind.low) else kind.low
    high = math.floor(kind.high) if kind.whole and math.isfinite(kind.high) else kind.high
    if op == "<":
        return low < bound
    if op == "<=":
        return low <= bound
    if op == ">":
        return high > bound
    if op == ">=":
        return high >= bound
    if op == "==":
        return low <= bound <= high and (not kind.whole or float(bound).is_integer())
    return low < high or bound != low  # "!=": any other value


def _range_text(name: str, kind: Kind) -> str:
    if kind is RATIO:
        return f"{name} is a ratio between 0% and 100%"
    if kind.name == "growth":
        return f"{name} is a growth of -100% (everything freed) or more"
    unit = {"latency": " ms", "duration": " s", "memory": " MB"}.get(kind.name, "")
    whole = " (a whole number)" if kind.whole else ""
    if math.isinf(kind.high) and math.isinf(kind.low):
        return f"{name} is a {kind.name}{whole}"
    if math.isinf(kind.high):
        return f"{name} is a {kind.name} of {kind.low:g}{unit} or more{whole}"
    return f"{name} is a {kind.name} between {kind.low:g} and {kind.high:g}{whole}"


def unit_problem(name: str, kind: Kind, unit: str, written: str) -> str | None:
    if unit in kind.units:
        return None
    allowed = " or ".join(f"'{u}'" if u else "a bare number" for u in kind.units)
    number = written[: len(written) - len(unit)] if unit else written
    if kind is RATIO:
        meant = f"{number}%"
    elif kind.name == "latency":
        meant = f"{number}ms"
    elif kind.name == "duration":
        meant = f"{number}s"
    elif kind.name == "memory":
        meant = f"{number}MB"
    elif kind.name == "growth":
        meant = f"{number}%"
    else:
        meant = number
    return f"{name} is a {kind.name} ({allowed}): write {meant}, not {written}"


def bound_problem(name: str, op: str, bound: float, unit: str, written: str, label: str = "") -> str | None:
    """Why `name op bound` is not a check worth judging, or None (label: `p(99)` for messages)."""
    kind = KINDS.get(name)
    if kind is None:
        return None
    name = label or name
    problem = unit_problem(name, kind, unit, written)
    if problem:
        return problem
    passes, fails = _some_value(kind, op, bound), _some_value(kind, NEGATE[op], bound)
    if passes and fails:
        return None
    never = "never pass" if not passes else "never fail"
    if kind is RATIO and unit == "" and bound >= 1:
        return (f"{name} is a ratio: write {written}%, not {written} ({written} means {bound * 100:g}%: "
                f"this check can {never})")
    holds = "holds for no value" if not passes else "holds for every value"
    return f"{_range_text(name, kind)}: '{op} {written}' {holds} (this check can {never})"


def argument_problem(name: str, args: tuple[str, ...]) -> str | None:
    """Arguments a metric cannot take: any for NO_ARGS metrics, unknown words for latencies."""
    if name in NO_ARGS and args:
        return f"expected {name} without arguments (it takes none), got {name}({', '.join(args)})"
    if name not in LATENCY_NUMBERS:
        return None
    numbers = [a for a in args if is_number(a)]
    if len(numbers) > LATENCY_NUMBERS[name]:
        return (f"expected only outcome words ({', '.join(LATENCY_WORDS)}) in {name}(...), "
                f"got the number {numbers[-1]}")
    for word in args:
        if is_number(word) or word in LATENCY_WORDS:
            continue
        close = difflib.get_close_matches(word, LATENCY_WORDS, n=1)
        hint = f": did you mean {close[0]!r}?" if close else ""
        return (f"expected outcome words ({', '.join(LATENCY_WORDS)}) in {name}({', '.join(args)}), "
                f"got {word!r}{hint} (a word no request has selects nothing)")
    return None
