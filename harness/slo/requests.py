"""Request metrics: outcome ratios, counts, rates and latency percentiles of a window."""

from __future__ import annotations

from typing import Any

from harness.measure import confidence, stats
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import (
    COUNT,
    LATENCY,
    RATE,
    RATIO,
    Measurement,
    MetricFn,
    SLOSyntaxError,
    is_number,
    metric,
)


def _ratio(timeline: Timeline, window: Window, outcome_names: tuple[str, ...]) -> Measurement:
    counts = stats.outcome_counts(timeline.requests_in(window))
    total = sum(counts.values())
    hits = sum(counts.get(o, 0) for o in outcome_names)
    value = hits / total if total else None
    interval_of = (lambda level: confidence.ratio_interval(hits, total, level)) if total else None
    return Measurement(value=value, unit="ratio", inputs={"requests": total, "matching": hits, "by_outcome": counts},
                       interval_of=interval_of)


@metric("success_ratio", kind=RATIO, args=False)
def success_ratio(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return _ratio(timeline, window, (stats.OK,))


@metric("error_ratio", kind=RATIO, args=False)
def error_ratio(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return _ratio(timeline, window, stats.ERROR_OUTCOMES)


@metric("shed_ratio", kind=RATIO, args=False)
def shed_ratio(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return _ratio(timeline, window, (stats.SHED,))


@metric("requests", kind=COUNT, args=False)
def request_count(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return Measurement(value=float(len(timeline.requests_in(window))), unit="count", inputs={})


def _latencies(timeline: Timeline, window: Window, args: list[str]) -> list[float]:
    """Latencies of final attempts, from each request's intended send time.

    An outcome as an argument (`ok`, `shed`, ...) keeps only those; `attempts` takes
    every attempt instead, each timed alone (`attempt_ms`).
    """
    words = set(a for a in args if not is_number(a))
    every_attempt = "attempts" in words
    records = timeline.requests_in(window, final_only=not every_attempt)
    return stats.latencies(records, words - {"attempts"}, attempts=every_attempt)


@metric("p", kind=LATENCY)
def latency_percentile(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    numbers = [float(a) for a in args if is_number(a)]
    if len(numbers) != 1 or not 0 < numbers[0] <= 100:
        raise SLOSyntaxError(f"expected p(N) with 0 < N <= 100, got p({', '.join(args)})")
    values = _latencies(timeline, window, args)
    value = stats.percentile(values, numbers[0]) if values else None
    inputs: dict[str, Any] = {"samples": len(values), "percentile": numbers[0]}
    warning = stats.sample_warning(numbers[0], len(values))
    if warning and values:
        inputs["warning"] = warning
    interval_of = (lambda level: confidence.percentile_interval(values, numbers[0], level)) if values else None
    return Measurement(value=value, unit="ms", inputs=inputs, interval_of=interval_of)


@metric("avg_latency", kind=LATENCY)
def avg_latency(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    values = _latencies(timeline, window, args)
    value = sum(values) / len(values) if values else None
    return Measurement(value=value, unit="ms", inputs={"samples": len(values)})


@metric("max_latency", kind=LATENCY)
def max_latency(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    values = _latencies(timeline, window, args)
    return Measurement(value=values[-1] if values else None, unit="ms", inputs={"samples": len(values)})


def _window_figure(key: str, unit: str, *keep: str) -> MetricFn:
    def measure(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
        figures = stats.window_stats(timeline, window)
        inputs = {k: figures[k] for k in ("requests", "dropped", "seconds", *keep)}
        return Measurement(value=figures[key], unit=unit, inputs=inputs)

    return measure


# Rates over the window (harness.measure.stats names them by population): offered counts
# every scheduled send (dropped ones too), sent every request made, ok the successful
# ones. `rps` and `achieved_rps` are the older names of ok_rps and sent_rps.
metric("offered_rps", kind=RATE, args=False)(_window_figure("offered_rps", "rps"))
metric("sent_rps", "achieved_rps", kind=RATE, args=False)(_window_figure("sent_rps", "rps"))
metric("ok_rps", "rps", kind=RATE, args=False)(_window_figure("ok_rps", "rps", "ok"))
metric("dropped", kind=COUNT, args=False)(_window_figure("dropped", "count"))
metric("shed", kind=COUNT, args=False)(_window_figure("shed", "count", "by_outcome"))
metric("errors", kind=COUNT, args=False)(_window_figure("errors", "count", "by_outcome"))
metric("retries", kind=COUNT, args=False)(_window_figure("retries", "count", "attempts"))
