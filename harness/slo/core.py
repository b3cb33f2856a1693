"""SLOs: rules that read like a sentence, judged as pure functions of timeline windows.

A check is `<metric> <op> <bound>`, as k6 thresholds are written:

    success_ratio >= 99%        p(99) < 500ms        error_ratio <= 0.5%
    requests >= 100             avg_latency < 50ms   shed_ratio == 0

Metrics are registered by name (harness.slo.registry; harness.slo.catalog lists every
metric module, so the table is whole whatever was imported first); each takes the timeline, a window and
the metric's arguments and returns a Measurement that carries the inputs it used,
so every verdict can be checked by hand from summary.json.
"""

from __future__ import annotations

import copy
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.measure import confidence, windows
from harness.measure.records import Dropped, Request
from harness.measure.stats import percentile
from harness.measure.timeline import Timeline, Window
from harness.model.outcome import Verdict, format_value
from harness.model.scenario import SLOSpec
from harness.slo import bounds
from harness.slo.catalog import METRICS, SECONDS_METRICS
from harness.slo.registry import (
    DEFAULT_WINDOW,
    DEFAULT_WINDOWS,
    MEMORY_UNITS,
    SAMPLED,
    Measurement,
    SLOSyntaxError,
    is_number,
)

__all__ = ["percentile", "Measurement", "SLOSyntaxError"]  # re-exported for callers of core


OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
OP_WORDS = {"<": "below", "<=": "at most", ">": "above", ">=": "at least", "==": "equal to", "!=": "not"}
# The units a bound may be written in; `in_metric_unit` and `as_written` convert between
# the written number and the metric's own unit (ms for latencies, a fraction for ratios, MB).
UNITS = ("ms", "s", "%", "MB", "GB", "MiB", "GiB")
UNIT_PATTERN = "|".join(UNITS)
_CHECK = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?:\((?P<args>[^)]*)\))?\s*"
    rf"(?P<op><=|>=|==|!=|<|>)\s*(?P<number>-?\d+(?:\.\d+)?)\s*(?P<unit>{UNIT_PATTERN})?\s*$"
)


def _unit_scale(metric: str, unit: str) -> tuple[float, float]:
    """(multiply, divide): one written `unit` in the metric's own unit, kept as two factors so
    that 95% is 95 / 100 exactly as written (95 * 0.01 is not)."""
    if unit == "s":
        return (1000.0 if _is_latency(metric) else 1.0), 1.0
    if unit == "ms" and metric in SECONDS_METRICS:
        return 1.0, 1000.0
    if unit == "%":
        return 1.0, 100.0
    return MEMORY_UNITS.get(unit, 1.0), 1.0  # memory metrics measure MB


def in_metric_unit(metric: str, number: float, unit: str) -> float:
    """A bound as written (`number` `unit`) in the metric's own unit."""
    multiply, divide = _unit_scale(metric, unit)
    return number * multiply / divide


def as_written(metric: str, bound: float, unit: str) -> float:
    """A bound in the metric's own unit, as a number to write in `unit` (in_metric_unit's inverse)."""
    multiply, divide = _unit_scale(metric, unit)
    return bound * divide / multiply


@dataclass(frozen=True, kw_only=True)
class Check:
    metric: str
    args: tuple[str, ...]
    op: str
    bound: float  # in the metric's own unit: ms for latencies, a fraction for ratios
    text: str
    unit: str = ""  # the bound's unit as written: "", "ms", "s" or "%"
    written: str = ""  # the bound as written ("1", "99ms"), for messages


def parse_check(text: str) -> Check:
    match = _CHECK.match(text)
    if not match:
        raise SLOSyntaxError(f"expected '<metric> <op> <number>[ms|s|%|MB|GB|MiB|GiB]' such as 'p(99) < 500ms', "
                             f"got {text!r}")
    name = match["metric"]
    if name not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise SLOSyntaxError(f"expected a known metric ({known}), got {name!r}")
    args = tuple(a.strip() for a in (match["args"] or "").split(",") if a.strip())
    unit = match["unit"]
    number = in_metric_unit(name, float(match["number"]), unit or "")
    return Check(metric=name, args=args, op=match["op"], bound=number, text=text.strip(), unit=unit or "", written=f"{match['number']}{unit or ''}")


def _is_latency(name: str) -> bool:
    return name in ("p", "avg_latency", "max_latency", "min_latency", "median_latency")


def window_of(spec: SLOSpec) -> str:
    """The window expression an SLO judges: its own, else its metric's default."""
    if spec.window is not None:
        return spec.window
    return DEFAULT_WINDOWS.get(parse_check(spec.check).metric, DEFAULT_WINDOW)


def evaluate(
    spec: SLOSpec, timeline: Timeline, level: float = confidence.DEFAULT_CONFIDENCE, sample_interval_s: float = 0.0
) -> Verdict:
    """The verdict of one SLO; `level`: the confidence of its interval (the scenario's).

    sample_interval_s: the recorder's interval; a metric judged on its samples over a window
    shorter than that is `no data` (the window may hold no sample at all)."""
    check = parse_check(spec.check)
    expression = window_of(spec)
    window = windows.resolve(expression, timeline.windows)
    name = spec.display_name()
    if window is None:
        why = f"window {expression!r} never happened in this run (known: {', '.join(sorted(timeline.windows))})"
        return Verdict(name=name, check=check.text, window=expression, passed=False, measured=None, bound=check.bound, op=check.op, unit="", message=why,
                       why=why, on_no_data=spec.on_no_data)
    if check.metric in SAMPLED and window.duration < sample_interval_s:
        why = (f"window {window.name!r} lasted {window.duration:.2f}s, shorter than the recorder's interval "
               f"({sample_interval_s:g}s): {check.metric} is judged on its samples")
        passed = spec.on_no_data == "pass"
        message = (f"{check.text} {'passed' if passed else 'failed'}: no data ({why}); "
                   f"on_no_data: {spec.on_no_data}")
        return Verdict(name=name, check=check.text, window=window.name, passed=passed, measured=None, bound=check.bound, op=check.op, unit="", message=message,
                       window_start=window.start, window_end=window.end, inputs={"why": why}, why=None if passed else f"no data ({why})",
                       on_no_data=spec.on_no_data, no_data=True)
    if spec.request is not None:
        timeline = requests_named(timeline, spec.request)
    measurement = METRICS[check.metric](timeline, window, list(check.args))
    why = measurement.inputs.get("why")
    why = None if why is None else " ".join(str(why).split())
    where = f"in window {window.name!r} ({window.duration:.1f}s)"
    no_data = measurement.value is None or (isinstance(measurement.value, float) and math.isnan(measurement.value))
    if no_data:
        # Nothing to measure: the SLO's own policy answers, and the verdict says so.
        passed = spec.on_no_data == "pass"
        verb = "passed" if passed else "failed"
        message = f"{check.text} {verb}: no data ({why or 'nothing measured'}) {where}; on_no_data: {spec.on_no_data}"
    else:
        passed = OPS[check.op](measurement.value, check.bound)
        measured = format_value(measurement.value, measurement.unit)
        bound = format_value(check.bound, measurement.unit)
        verb = "met" if passed else "violated"
        message = f"{check.text} {verb}: measured {measured}, expected {OP_WORDS[check.op]} {bound} {where}"
        if not passed and why:
            message += f": {why}"
        if measurement.inputs.get("warning"):
            message += f" [warning: {measurement.inputs['warning']}]"
    interval = None if no_data or measurement.interval_of is None else measurement.interval_of(level)
    outcome = confidence.outcome(check.op, check.bound, interval, passed)
    verdict = Verdict(
        name=name, check=check.text, window=window.name, passed=passed, measured=measurement.value, bound=check.bound, op=check.op,
        unit=measurement.unit, message=message, window_start=window.start, window_end=window.end, inputs=measurement.inputs,
        why=None if passed else (f"no data ({why or 'nothing measured'}); on_no_data: fail" if no_data else why),
        on_no_data=spec.on_no_data, no_data=no_data, outcome=outcome,
        interval=None if interval is None else interval.as_dict(),
    )
    if interval is not None:
        verdict.message += f"; {level * 100:g}% interval {verdict.interval_text()}"
        if verdict.inconclusive:
            verdict.message += ": inconclusive, the bound lies inside it"
    return verdict


def requests_named(timeline: Timeline, name: str) -> Timeline:
    """The timeline with only the requests (and dropped sends) of one name; windows unchanged."""
    view = copy.copy(timeline)
    view.requests = [r for r in timeline.requests if r.get(Request.name, "default") == name]
    view.events = [e for e in timeline.events
                   if e[Dropped.kind] != Dropped.KIND or e.get(Dropped.name, "default") == name]
    return view


def validate_checks(specs: list[SLOSpec]) -> list[tuple[int, str]]:
    """Syntax errors of a scenario's SLOs as (index, message), found before anything starts."""
    problems = []
    for index, spec in enumerate(specs):
        try:
            check = parse_check(spec.check)
            if check.metric == "p":
                numbers = [a for a in check.args if is_number(a)]
                if len(numbers) != 1 or not 0 < float(numbers[0]) <= 100:
                    raise SLOSyntaxError(f"expected p(N) with 0 < N <= 100, got {spec.check!r}")
            problem = bounds.argument_problem(check.metric, check.args)
            if problem:
                raise SLOSyntaxError(problem)
            # A dry run on an empty timeline: metrics check their arguments before any data.
            METRICS[check.metric](Timeline([]), Window("validate", 0.0, 0.0), list(check.args))
            label = f"{check.metric}({', '.join(check.args)})" if check.args else check.metric
            problem = bounds.bound_problem(check.metric, check.op, check.bound, check.unit, check.written, label)
            if problem:
                raise SLOSyntaxError(problem)
        except SLOSyntaxError as exc:
            problems.append((index, str(exc)))
    return problems


def validate_windows(specs: list[SLOSpec]) -> list[tuple[int, str]]:
    """Window expressions that do not parse, as (index, message)."""
    problems = []
    for index, spec in enumerate(specs):
        try:
            if spec.window is not None:
                windows.parse(spec.window)
        except windows.WindowSyntaxError as exc:
            problems.append((index, str(exc)))
    return problems
