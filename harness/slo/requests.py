"""Request metrics: outcome ratios, counts, rates and latency percentiles of a window."""

from __future__ import annotations

from typing import Any

from harness.measure.stats import ERROR_OUTCOMES, percentile, sample_warning, window_stats
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import Measurement, MetricFn, SLOSyntaxError, is_number, metric


def _outcomes(timeline: Timeline, window: Window) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in timeline.requests_in(window):
        counts[record.get("outcome", "error")] = counts.get(record.get("outcome", "error"), 0) + 1
    return counts


def _ratio(timeline: Timeline, window: Window, outcome_names: tuple[str, ...]) -> Measurement:
    counts = _outcomes(timeline, window)
    total = sum(counts.values())
    hits = sum(counts.get(o, 0) for o in outcome_names)
    value = hits / total if total else None
    return Measurement(value, "ratio", {"requests": total, "matching": hits, "by_outcome": counts})


@metric("success_ratio")
def success_ratio(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return _ratio(timeline, window, ("ok",))


@metric("error_ratio")
def error_ratio(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return _ratio(timeline, window, ERROR_OUTCOMES)


@metric("shed_ratio")
def shed_ratio(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return _ratio(timeline, window, ("shed",))


@metric("requests")
def request_count(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    return Measurement(float(len(timeline.requests_in(window))), "count", {})


@metric("rps")
def achieved_rps(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    done = [r for r in timeline.requests_in(window) if r.get("outcome") == "ok"]
    if window.duration <= 0:
        return Measurement(None, "rps")
    return Measurement(len(done) / window.duration, "rps", {"ok_requests": len(done), "seconds": window.duration})


def _latencies(timeline: Timeline, window: Window, args: list[str]) -> list[float]:
    """Latencies of final attempts, from each request's intended send time.

    An outcome as an argument (`ok`, `shed`, ...) keeps only those; `attempts` takes
    every attempt instead, each timed alone (`attempt_ms`).
    """
    words = set(a for a in args if not is_number(a))
    every_attempt = "attempts" in words
    wanted = words - {"attempts"}
    field_name = "attempt_ms" if every_attempt else "latency_ms"
    values = [
        float(r.get(field_name, r.get("latency_ms")))
        for r in timeline.requests_in(window, final_only=not every_attempt)
        if "latency_ms" in r and (not wanted or r.get("outcome") in wanted)
    ]
    values.sort()
    return values


@metric("p")
def latency_percentile(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    numbers = [float(a) for a in args if is_number(a)]
    if len(numbers) != 1 or not 0 < numbers[0] <= 100:
        raise SLOSyntaxError(f"expected p(N) with 0 < N <= 100, got p({', '.join(args)})")
    values = _latencies(timeline, window, args)
    value = percentile(values, numbers[0]) if values else None
    inputs: dict[str, Any] = {"samples": len(values), "percentile": numbers[0]}
    warning = sample_warning(numbers[0], len(values))
    if warning and values:
        inputs["warning"] = warning
    return Measurement(value, "ms", inputs)


@metric("avg_latency")
def avg_latency(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    values = _latencies(timeline, window, args)
    value = sum(values) / len(values) if values else None
    return Measurement(value, "ms", {"samples": len(values)})


@metric("max_latency")
def max_latency(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    values = _latencies(timeline, window, args)
    return Measurement(values[-1] if values else None, "ms", {"samples": len(values)})


def _window_figure(key: str, unit: str, *keep: str) -> MetricFn:
    def measure(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
        stats = window_stats(timeline, window)
        inputs = {k: stats[k] for k in ("requests", "dropped", "seconds", *keep)}
        return Measurement(stats[key], unit, inputs)

    return measure


# Rates over the window: offered counts every scheduled send (dropped ones too),
# achieved every request made; the open model's gap between them is `dropped`.
metric("offered_rps")(_window_figure("offered_rps", "rps"))
metric("achieved_rps")(_window_figure("achieved_rps", "rps"))
metric("dropped")(_window_figure("dropped", "count"))
metric("shed")(_window_figure("shed", "count", "by_outcome"))
metric("errors")(_window_figure("errors", "count", "by_outcome"))
metric("retries")(_window_figure("retries", "count", "attempts"))
