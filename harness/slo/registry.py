"""The metric table: every SLO metric by name, with its unit, default window and subject.

A metric module registers its functions with `@metric(...)` and imports nothing else of
harness.slo; harness.slo.catalog imports every metric module, so whoever reads the table
through the catalog sees all of it, whatever was imported first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.measure.confidence import Interval
from harness.measure.timeline import Timeline, Window


class SLOSyntaxError(ValueError):
    pass


@dataclass(kw_only=True)
class Measurement:
    value: float | None  # None: nothing to measure in the window
    unit: str = ""  # "ms", "ratio", "count", "rps", "s"
    inputs: dict[str, Any] = field(default_factory=dict)
    # The value's confidence interval at a confidence level (harness.measure.confidence):
    # percentiles and ratios have one; counts and times are as measured (None).
    interval_of: Callable[[float], Interval] | None = None


MetricFn = Callable[[Timeline, Window, list[str]], Measurement]
METRICS: dict[str, MetricFn] = {}
# Metrics measured in seconds (kind SECONDS): a bound written in ms is converted to s for them.
SECONDS_METRICS: set[str] = set()
# The window a metric judges when its SLO names none (`load` otherwise).
DEFAULT_WINDOWS: dict[str, str] = {}
DEFAULT_WINDOW = "load"
# What a metric's first argument names (`deployment`, `workload`): checked against the scenario.
SUBJECTS: dict[str, str] = {}
# What each metric measures (its Kind: units a bound may carry, the range of its values).
KINDS: dict[str, Kind] = {}
# Metrics that take no arguments: `success_ratio(x)` is a mistake, not a filter.
NO_ARGS: set[str] = set()
# Metrics judged on the recorder's samples (replicas, nodes, resources): a window shorter
# than the recorder's interval may hold no sample, so it is `no data`, not a verdict.
SAMPLED: set[str] = set()


@dataclass(frozen=True, kw_only=True)
class Kind:
    """What a metric measures: the units its bound may be written in and its values' range.

    A bound is checked against this before the run (harness.slo.bounds): a unit that does
    not fit, a bound outside [low, high], or a check that can never fail or never pass.
    """

    name: str  # "latency", "ratio", ... as the refusal names it
    units: tuple[str, ...]  # "" is a bare number; "ms", "s", "%"
    low: float = 0.0
    high: float = math.inf  # inf: unbounded above (a time that never came is inf too)
    whole: bool = False  # counts, replicas, nodes, exit codes: whole numbers only
    example: str = ""  # a bound written right, for the refusal


LATENCY = Kind(name="latency", units=("ms", "s", ""), example="500ms")
RATIO = Kind(name="ratio", units=("%", ""), high=1.0, example="1%")
COUNT = Kind(name="count", units=("",), whole=True, example="0")
SECONDS = Kind(name="duration", units=("s", "ms", ""), example="30s")
RATE = Kind(name="rate", units=("",), example="50 (requests per second)")
REPLICAS = Kind(name="replicas", units=("",), whole=True, example="3")
NODES = Kind(name="nodes", units=("",), whole=True, example="2")
EXIT_CODE = Kind(name="exit code", units=("",), low=-255.0, high=255.0, whole=True, example="0")
FLAG = Kind(name="flag", units=("",), high=1.0, whole=True, example="1")
VALUE = Kind(name="value", units=("",), low=-math.inf, example="60 (as the workload reports it)")
# A relative change over a window (memory_growth): -100% (all gone) upwards, written in %.
GROWTH = Kind(name="growth", units=("%",), low=-1.0, example="10%")
# Memory in MB (10^6 bytes): a bound takes MB, GB, MiB or GiB, never a bare number.
MEMORY = Kind(name="memory", units=("MB", "GB", "MiB", "GiB"), example="500MB")
# A memory bound's unit in MB.
MEMORY_UNITS = {"MB": 1.0, "GB": 1000.0, "MiB": 1.048576, "GiB": 1073.741824}


def metric(
    name: str, *aliases: str, kind: Kind, args: bool = True, window: str | None = None,
    subject: str | None = None, sampled: bool = False,
) -> Callable[[MetricFn], MetricFn]:
    """Register a metric function under a name (and aliases).

    kind: what it measures (LATENCY, RATIO, COUNT, SECONDS, ...): the units a bound may
    carry and the range its values live in, checked before the run.
    args: whether it takes arguments at all (False: any argument is refused).
    sampled: it reads the recorder's samples, so it needs a window at least one interval long.
    window: the window judged when the SLO names none.
    subject: what its first argument names (`deployment`, `workload`), so that an SLO
    naming one the scenario does not have is rejected before the run (harness.slo.targets).
    """

    def register(fn: MetricFn) -> MetricFn:
        for key in (name, *aliases):
            METRICS[key] = fn
            KINDS[key] = kind
            if not args:
                NO_ARGS.add(key)
            if sampled:
                SAMPLED.add(key)
            if kind is SECONDS:
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
