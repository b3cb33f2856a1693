"""The metric table: every SLO metric by name, with its unit, default window and subject.

A metric module registers its functions with `@metric(...)` and imports nothing else of
harness.slo; harness.slo.catalog imports every metric module, so whoever reads the table
through the catalog sees all of it, whatever was imported first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.measure.confidence import Interval
from harness.measure.timeline import Timeline, Window


class SLOSyntaxError(ValueError):
    pass


@dataclass
class Measurement:
    value: float | None  # None: nothing to measure in the window
    unit: str = ""  # "ms", "ratio", "count", "rps", "s"
    inputs: dict[str, Any] = field(default_factory=dict)
    # The value's confidence interval at a confidence level (harness.measure.confidence):
    # percentiles and ratios have one; counts and times are as measured (None).
    interval_of: Callable[[float], Interval] | None = None


MetricFn = Callable[[Timeline, Window, list[str]], Measurement]
METRICS: dict[str, MetricFn] = {}
# Metrics measured in seconds: a bound written in ms is converted to s for them.
SECONDS_METRICS: set[str] = set()
# The window a metric judges when its SLO names none (`load` otherwise).
DEFAULT_WINDOWS: dict[str, str] = {}
DEFAULT_WINDOW = "load"
# What a metric's first argument names (`deployment`, `workload`): checked against the scenario.
SUBJECTS: dict[str, str] = {}


def metric(
    name: str, *aliases: str, seconds: bool = False, window: str | None = None, subject: str | None = None
) -> Callable[[MetricFn], MetricFn]:
    """Register a metric function under a name (and aliases).

    seconds: the metric's unit is seconds (durations such as recovery times).
    window: the window judged when the SLO names none.
    subject: what its first argument names (`deployment`, `workload`), so that an SLO
    naming one the scenario does not have is rejected before the run (harness.slo.targets).
    """

    def register(fn: MetricFn) -> MetricFn:
        for key in (name, *aliases):
            METRICS[key] = fn
            if seconds:
                SECONDS_METRICS.add(key)
            if window is not None:
                DEFAULT_WINDOWS[key] = window
            if subject is not None:
                SUBJECTS[key] = subject
        return fn

    return register


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
