"""SLOs on Ray's own metrics, scraped from the run's nodes (harness.run.ray_scrape).

    ray_metric(ray_serve_num_deployment_http_error_requests, rate, deployment=Echo) < 1
    ray_metric(ray_serve_autoscaling_target_replicas, max, deployment=Echo) >= 3

The first argument names a family as Ray exports it (`ray_...`, a counter with or without
its `_total`), the second an aggregation over the window, the rest filter by label
(exact values). Every matching series (all nodes, all other labels) is summed at each
scrape, then aggregated:

    last / max / min / avg   of that sum (gauges)
    increase                 how much the counter grew in the window (resets counted)
    rate                     increase per second of the window

A `ray_serve_*` name the installed Ray does not declare is rejected at validation; any
other name is checked after the run (`no data`, saying whether Ray exported it at all).
Precision: the scrape cadence (recorder.interval_s) and Ray's own export interval.
"""

from __future__ import annotations

import math
import re

from harness.measure import ray_metrics
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import VALUE, Measurement, SLOSyntaxError, metric

GAUGE_AGGREGATIONS = ("last", "max", "min", "avg")
COUNTER_AGGREGATIONS = ("increase", "rate")
AGGREGATIONS = GAUGE_AGGREGATIONS + COUNTER_AGGREGATIONS
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
USAGE = "ray_metric(NAME, AGGREGATION[, label=value ...])"
_NAMED = re.compile(r"^\s*ray_metric\s*\(\s*([^,)\s]+)")
_DECISION = re.compile(r"^\s*decision_to_running\s*\(")


def families_named(checks: list[str]) -> set[str]:
    """The Ray metric families a scenario's SLO checks read: what the scraper keeps."""
    out: set[str] = set()
    for check in checks:
        named = _NAMED.match(check)
        if named:
            out.add(ray_metrics.family_name(named[1]))
        elif _DECISION.match(check):
            out.add(ray_metrics.TARGET_METRIC)
    return out


def parse_args(args: list[str]) -> tuple[str, str, dict[str, str]]:
    """(family, aggregation, label filters) of `ray_metric(...)`; SLOSyntaxError when malformed."""
    if len(args) < 2:
        raise SLOSyntaxError(f"expected {USAGE}, got ray_metric({', '.join(args)})")
    name, aggregation, *filters = args
    if not _NAME.match(name) or not name.startswith("ray_"):
        raise SLOSyntaxError(f"expected a Ray metric name starting with ray_ in {USAGE}, got {name!r}")
    if aggregation not in AGGREGATIONS:
        raise SLOSyntaxError(f"expected an aggregation ({', '.join(AGGREGATIONS)}) in {USAGE}, got {aggregation!r}")
    labels: dict[str, str] = {}
    for item in filters:
        key, eq, value = item.partition("=")
        if not eq or not _NAME.match(key.strip()) or not value.strip():
            raise SLOSyntaxError(f"expected label=value in {USAGE}, got {item!r}")
        labels[key.strip()] = value.strip().strip("'\"")
    known = ray_metrics.serve_families()
    family = ray_metrics.family_name(name)
    if family.startswith("ray_serve_") and known and family not in known:
        close = sorted(n for n in known if family.removeprefix("ray_serve_")[:8] in n)[:3]
        hint = f" (close: {', '.join(close)})" if close else ""
        raise SLOSyntaxError(f"expected a metric the installed Ray Serve exports, got {name!r}{hint}")
    return family, aggregation, labels


@metric("ray_metric", kind=VALUE)
def ray_metric(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    family, aggregation, labels = parse_args(args)
    matching = ray_metrics.series_by_key(timeline, family, labels)
    total = ray_metrics.summed(matching)
    inputs: dict[str, object] = {"metric": family, "aggregation": aggregation, "labels": labels,
                                 "series": len(matching)}
    if aggregation in COUNTER_AGGREGATIONS:
        grown = ray_metrics.increase(total, window)
        if grown is None:
            inputs["why"] = ray_metrics.why_no_data(timeline, family, labels) if not total else \
                f"fewer than two scrapes of {family} in the window"
            return Measurement(value=None, unit="", inputs=inputs)
        inputs["increase"] = grown
        value = grown if aggregation == "increase" else (grown / window.duration if window.duration > 0 else math.nan)
        return Measurement(value=value, unit="", inputs=inputs)
    seen = [(t, v) for t, v in total if window.start <= t <= window.end]
    if not seen:
        inputs["why"] = ray_metrics.why_no_data(timeline, family, labels)
        return Measurement(value=None, unit="", inputs=inputs)
    values = [v for _, v in seen]
    value = {"last": values[-1], "max": max(values), "min": min(values), "avg": sum(values) / len(values)}[aggregation]
    inputs["scrapes"] = len(seen)
    inputs["values"] = [[round(t - window.start, 3), v] for t, v in seen]
    return Measurement(value=value, unit="", inputs=inputs)
