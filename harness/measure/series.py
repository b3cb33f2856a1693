"""Time series read back from the recorder's samples, for autoscaling and recovery SLOs.

A series is a list of (t, value) points in time order, one per sample that had
the value. Helpers here are pure functions so that every SLO built on them can be
tested on a synthetic timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from harness.measure.records import Sample
from harness.measure.timeline import Timeline, Window

Point = tuple[float, float]


def deployment_series(timeline: Timeline, deployment: str, field: str) -> list[Point]:
    """One field of one deployment in every sample: running, total, target, min_replicas, ..."""

    def pick(sample: dict[str, Any]) -> Any:
        deployments = sample.get(Sample.deployments) or {}
        return deployments.get(sample_key(deployments, deployment), {}).get(field)

    return _series(timeline, pick)


def sample_key(deployments: dict[str, Any], name: str) -> str:
    """The key of a deployment in a sample: with several apps samples say `App/Deployment`, and a
    bare name that only one app has finds it; with one app `App/Deployment` finds `Deployment`."""
    if name in deployments:
        return name
    if "/" not in name:
        owners = [key for key in deployments if key.endswith("/" + name)]
        return owners[0] if len(owners) == 1 else name
    bare = name.split("/", 1)[1]
    return bare if bare in deployments and not any("/" in key for key in deployments) else name


def resource_series(timeline: Timeline, resource: str, which: str = "available") -> list[Point]:
    """A resource's amount in every sample (`available` or `total`); missing means 0."""

    def pick(sample: dict[str, Any]) -> Any:
        amounts = sample.get(f"{which}_resources")
        return None if amounts is None else amounts.get(resource, 0.0)

    return _series(timeline, pick)


def _series(timeline: Timeline, pick: Callable[[dict[str, Any]], Any]) -> list[Point]:
    points = []
    for sample in timeline.events_of(Sample):
        value = pick(sample)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            points.append((float(sample[Sample.t]), float(value)))
    return points


def within(points: list[Point], window: Window) -> list[Point]:
    return [p for p in points if window.start <= p[0] <= window.end]


def value_before(points: list[Point], t: float) -> float | None:
    """The last value sampled at or before t (the level a window starts from)."""
    before = [v for pt, v in points if pt <= t]
    return before[-1] if before else None


def first_time(points: list[Point], test: Callable[[float], bool], after: float = float("-inf")) -> float | None:
    """Time of the first point later than `after` whose value passes the test."""
    return next((t for t, v in points if t > after and test(v)), None)


def settled_since(conditions: Sequence[tuple[list[Point], Callable[[float], bool]]], window: Window) -> float | None:
    """When every series last began to pass its test and kept passing to the window's end.

    The settle rule of every scale-down SLO (replicas, nodes): each series is a step
    series (a value holds from its sample to the next one) and the level at the
    window's start is the last value sampled at or before it. The result is the
    start of the last stretch, within the window, in which all tests held at every
    sample up to the window's end; None when they do not all hold at its end (or a
    series has no value yet), i.e. it never settled. A dip that rebounds does not count.
    """
    updates = sorted(
        (t, index, value)
        for index, (points, _) in enumerate(conditions)
        for t, value in points
        if t <= window.end
    )
    current: list[float | None] = [None] * len(conditions)
    settled: float | None = None

    def holds() -> bool:
        return all(v is not None and test(v) for v, (_, test) in zip(current, conditions, strict=True))

    position = 0
    while position < len(updates) and updates[position][0] <= window.start:
        current[updates[position][1]] = updates[position][2]
        position += 1
    if holds():
        settled = window.start
    while position < len(updates):
        t = updates[position][0]
        while position < len(updates) and updates[position][0] == t:  # one sample: all fields at once
            current[updates[position][1]] = updates[position][2]
            position += 1
        if not holds():
            settled = None
        elif settled is None:
            settled = t
    return settled


def stretches_below(points: list[Point], window: Window, level: float) -> list[tuple[float, float, bool]]:
    """(start, end, still open at the window's end) of each stretch of the step series below
    `level` within the window (below it from the window's start if the value before it was);
    one open at the window's end is cut there."""
    found: list[tuple[float, float, bool]] = []
    before = value_before(points, window.start)
    start = window.start if before is not None and before < level else None
    for t, value in within(points, window):
        if value < level and start is None:
            start = t
        elif value >= level and start is not None:
            found.append((start, t, False))
            start = None
    if start is not None:
        found.append((start, window.end, True))
    return found


def direction_changes(points: list[Point]) -> tuple[int, list[Point]]:
    """How often a series turns from rising to falling or back, and the points where it moved."""
    moves: list[Point] = []
    changes, last_sign = 0, 0
    for (_, before), (t, value) in pairwise(points):
        if value == before:
            continue
        moves.append((t, value))
        sign = 1 if value > before else -1
        if last_sign and sign != last_sign:
            changes += 1
        last_sign = sign
    return changes, moves


def relative(points: list[Point], origin: float) -> list[list[float]]:
    """A step series as [seconds since origin, value] at each change (and the last point).

    Lossless for the SLOs here: between two listed points the value did not change.
    """
    out: list[list[float]] = []
    for index, (t, value) in enumerate(points):
        if index == 0 or value != points[index - 1][1] or index == len(points) - 1:
            out.append([round(t - origin, 3), value])
    return out
