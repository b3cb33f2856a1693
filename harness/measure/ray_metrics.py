"""Ray's own metrics, read back from the `ray_metrics` records the scraper wrote.

Pure functions of a timeline: which series of a family match a set of labels, their sum
as a step series over the scrapes, and a counter's increase (resets counted as Prometheus
counts them). A family is named with or without a counter's `_total`.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from harness.measure.records import RayMetrics
from harness.measure.timeline import Timeline, Window

Point = tuple[float, float]
# What Serve's autoscaler is trying to reach, per deployment (decision_to_running reads it).
TARGET_METRIC = "ray_serve_autoscaling_target_replicas"
# Label filters: `deployment=Echo`; a value `~re` would be a regex (not supported: exact match only).
Labels = dict[str, str]


def family_name(name: str) -> str:
    """The family a sample or metric name belongs to: a counter's `_total` is not part of it."""
    return name.removesuffix("_total")


def scrapes(timeline: Timeline) -> list[dict[str, Any]]:
    return timeline.events_of(RayMetrics)


def exported_families(timeline: Timeline) -> set[str]:
    """Every family any node's endpoint exported during the run."""
    out: set[str] = set()
    for record in scrapes(timeline):
        out.update(family_name(str(f)) for f in record.get(RayMetrics.families) or [])
    return out


def scrape_errors(timeline: Timeline) -> list[str]:
    return [str(r[RayMetrics.error]) for r in scrapes(timeline) if r.get(RayMetrics.error)]


def _matches(sample_labels: dict[str, Any], wanted: Labels) -> bool:
    return all(str(sample_labels.get(key)) == value for key, value in wanted.items())


def series_by_key(timeline: Timeline, name: str, labels: Labels, suffix: str = "") -> dict[tuple, list[Point]]:
    """Per matching series (node + its labels): its points in time order.

    suffix: a histogram's `_count` / `_sum` / `_bucket`; empty for counters and gauges.
    """
    wanted = family_name(name) + suffix
    out: dict[tuple, list[Point]] = defaultdict(list)
    for record in scrapes(timeline):
        node = record.get(RayMetrics.node)
        for sample in record.get(RayMetrics.samples) or []:
            sample_name, sample_labels, value = sample
            if (sample_name == wanted or family_name(sample_name) == wanted) and _matches(sample_labels, labels):
                key = (node, tuple(sorted((k, str(v)) for k, v in sample_labels.items())))
                out[key].append((float(record[RayMetrics.t]), float(value)))
    return dict(out)


def summed(series: dict[tuple, list[Point]]) -> list[Point]:
    """The sum of every series, at each moment one of them was scraped (each holds its last value)."""
    times = sorted({t for points in series.values() for t, _ in points})
    out = []
    for t in times:
        levels = [_level(points, t) for points in series.values()]
        known = [v for v in levels if v is not None]
        if known:
            out.append((t, sum(known)))
    return out


def _level(points: list[Point], t: float) -> float | None:
    last = None
    for pt, value in points:
        if pt > t:
            break
        last = value
    return last


def increase(points: list[Point], window: Window) -> float | None:
    """How much a counter grew within the window (a drop is a reset: counted from 0)."""
    inside = [(t, v) for t, v in points if window.start <= t <= window.end]
    before = _level(points, window.start)
    if before is not None:
        inside.insert(0, (window.start, before))
    if len(inside) < 2:
        return None
    total = 0.0
    for (_, a), (_, b) in pairwise(inside):
        total += b - a if b >= a else b
    return total


def why_no_data(timeline: Timeline, family: str, labels: dict[str, str]) -> str:
    """Why a family has no matching samples: not scraped, not exported, or no series with these labels."""
    if not scrapes(timeline):
        return "Ray's metrics were not scraped in this run"
    errors = scrape_errors(timeline)
    exported = exported_families(timeline)
    if family not in exported:
        err = f"; last scrape error: {errors[-1]}" if errors else ""
        return f"Ray's endpoints never exported {family} ({len(exported)} families seen){err}"
    wanted = ", ".join(f"{k}={v}" for k, v in labels.items())
    return f"no series of {family} with {wanted} in the window" if wanted else f"no samples of {family} in the window"


# -- what the installed Ray exports, read from its source (Ray is not imported) --------------

_DECLARED = re.compile(r'metrics\.(?:Counter|Gauge|Histogram)\(\s*(?:name\s*=\s*)?f?["\']([A-Za-z_:{}][A-Za-z0-9_:{}]*)["\']')
_IN_PANELS = re.compile(r"\b(ray_[a-z0-9_]+)")
# Serve's request metrics are declared per protocol (`serve_num_{protocol_name}_requests`).
_PROTOCOLS = ("http", "grpc")


def _ray_dir() -> Path | None:
    spec = importlib.util.find_spec("ray")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def serve_families() -> frozenset[str]:
    """Every `ray_serve_*` family the installed Ray's Serve declares (empty: Ray not found).

    Read from Serve's source (its `metrics.Counter/Gauge/Histogram` declarations) and from
    the Grafana panels Ray ships, so that a name is checked before a run without importing Ray.
    """
    root = _ray_dir()
    if root is None:
        return frozenset()
    names: set[str] = set()
    for path in (root / "serve").rglob("*.py"):
        for declared in _DECLARED.findall(path.read_text(errors="replace")):
            expanded = [declared.replace("{protocol_name}", p) for p in _PROTOCOLS] if "{" in declared else [declared]
            names.update("ray_" + family_name(n) for n in expanded if "{" not in n)
    panels = root / "dashboard" / "modules" / "metrics" / "dashboards"
    for path in panels.glob("*.py"):
        for found in _IN_PANELS.findall(path.read_text(errors="replace")):
            if found.startswith("ray_serve_"):
                names.add(family_name(found.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")))
    return frozenset(names)
