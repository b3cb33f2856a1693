"""Autoscaling SLOs, judged on the recorder's replica samples (see harness.run.recorder).

    time_to_replicas(Echo, 3) < 30s     from the window's start until Echo runs 3 replicas
    time_to_target(Echo) < 30s          ... until running replicas reach the highest
                                        target the autoscaler set in the window
    scale_down_time(Echo, 1) < 20s      from the window's start (default: after_load)
                                        until Echo settled at 1 replica (default: its
                                        min_replicas): live replicas (starting ones
                                        count) and the target at or below it, and
                                        staying so to the window's end
    max_replicas(Echo) <= 4             live replicas (all but STOPPING) never above 4
    min_replicas(Echo) >= 1             running replicas never below 1
    direction_changes(Echo) <= 2        the target turned from up to down (or back) at
                                        most twice: no flapping
    replica_start_time(Echo) < 15s      each rise of the target was met by running
                                        replicas within 15 s (the slowest rise counts)
    decision_to_running(Echo) < 10s     the same, with the target Serve's autoscaler
                                        exports (ray_serve_autoscaling_target_replicas,
                                        scraped from the run's nodes): from its decision
                                        to running replicas; a decision lowered again
                                        before its replicas ran counts as never met

A time that never came is `never` (infinite), which fails any `<` bound. Precision
is the recorder's interval (0.5 s by default).
"""

from __future__ import annotations

import math
from itertools import pairwise

from harness.measure import ray_metrics, series
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import COUNT, REPLICAS, SECONDS, Measurement, SLOSyntaxError, metric

NEVER = math.inf


def deployment_args(metric_name: str, args: list[str], count: str = "") -> tuple[str, int | None]:
    """(deployment, replica count) from `metric(Deployment[, N])`."""
    usage = f"{metric_name}(Deployment{', ' + count if count else ''})"
    if not args or len(args) > (2 if count else 1):
        raise SLOSyntaxError(f"expected {usage}, got {metric_name}({', '.join(args)})")
    if len(args) == 1:
        return args[0], None
    try:
        return args[0], int(args[1])
    except ValueError:
        raise SLOSyntaxError(f"expected a whole replica count in {usage}, got {args[1]!r}") from None


def no_samples(deployment: str) -> Measurement:
    return Measurement(value=None, unit="s", inputs={"why": f"no replica samples of deployment {deployment!r}"})


def time_until(
    points: list[series.Point], window: Window, wanted: float, rising: bool
) -> tuple[float, float | None]:
    """Seconds from the window's start until the series reaches `wanted` (NEVER if not)."""
    test = (lambda v: v >= wanted) if rising else (lambda v: v <= wanted)
    start_level = series.value_before(points, window.start)
    if start_level is not None and test(start_level):
        return 0.0, window.start
    reached = series.first_time(series.within(points, window), test)
    return (NEVER, None) if reached is None else (max(0.0, reached - window.start), reached)


def _replica_time(timeline: Timeline, window: Window, deployment: str, wanted: int, rising: bool | None) -> Measurement:
    running = series.deployment_series(timeline, deployment, "running")
    seen = series.within(running, window)
    if not seen:
        return no_samples(deployment)
    start_level = series.value_before(running, window.start)
    start_level = seen[0][1] if start_level is None else start_level
    if rising is None:
        rising = start_level <= wanted
    value, reached = time_until(running, window, wanted, rising)
    inputs = {
        "deployment": deployment,
        "wanted_running": wanted,
        "direction": "up" if rising else "down",
        "running_at_start": start_level,
        "reached_after_s": None if reached is None else round(reached - window.start, 3),
        "running": series.relative(seen, window.start),
    }
    if reached is None:
        inputs["why"] = (
            f"{deployment} never reached {wanted} running replicas (highest seen "
            f"{max(v for _, v in seen):g}, lowest {min(v for _, v in seen):g})"
        )
    return Measurement(value=value, unit="s", inputs=inputs)


@metric("time_to_replicas", sampled=True, kind=SECONDS, subject="deployment")
def time_to_replicas(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    deployment, wanted = deployment_args("time_to_replicas", args, "N")
    if wanted is None:
        raise SLOSyntaxError("expected time_to_replicas(Deployment, N) with a replica count")
    return _replica_time(timeline, window, deployment, wanted, None)


@metric("scale_down_time", sampled=True, kind=SECONDS, window="after_load", subject="deployment")
def scale_down_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    deployment, wanted = deployment_args("scale_down_time", args, "N")
    if wanted is None:
        floor = series.deployment_series(timeline, deployment, "min_replicas")
        if not floor:
            return Measurement(value=None, unit="s", inputs={"why": f"no min_replicas recorded for {deployment!r}; "
                                                   f"write scale_down_time({deployment}, N)"})
        wanted = int(floor[-1][1])
    return settle_time(timeline, window, deployment, wanted)


def settle_time(timeline: Timeline, window: Window, deployment: str, floor: int) -> Measurement:
    """Seconds from the window's start until the deployment settled at the floor (series.settled_since).

    Settled: live replicas (every state but STOPPING, so starting ones count) at or
    below the floor and the autoscaler's target at the floor, staying so to the
    window's end. A deployment whose Serve reports no target is judged on live replicas.
    """
    live = series.deployment_series(timeline, deployment, "total")
    target = series.deployment_series(timeline, deployment, "target")
    seen = series.within(live, window)
    if not seen:
        return no_samples(deployment)

    def at_floor(value: float) -> bool:
        return value <= floor

    conditions = [(live, at_floor)] + ([(target, at_floor)] if target else [])
    settled = series.settled_since(conditions, window)
    inputs: dict[str, object] = {
        "deployment": deployment,
        "floor": floor,
        "rule": "live replicas <= floor and target <= floor, to the window's end",
        "settled_after_s": None if settled is None else round(settled - window.start, 3),
        "live": series.relative(seen, window.start),
    }
    if target:
        inputs["target"] = series.relative(series.within(target, window), window.start)
    if settled is None:
        end_target = series.value_before(target, window.end)
        target_text = "" if end_target is None else f", target {end_target:g}"
        inputs["why"] = (
            f"{deployment} had not settled at {floor} by the window's end "
            f"({series.value_before(live, window.end):g} live replicas{target_text})"
        )
        return Measurement(value=NEVER, unit="s", inputs=inputs)
    return Measurement(value=max(0.0, settled - window.start), unit="s", inputs=inputs)


@metric("time_to_target", sampled=True, kind=SECONDS, subject="deployment")
def time_to_target(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    deployment, _ = deployment_args("time_to_target", args)
    targets = series.within(series.deployment_series(timeline, deployment, "target"), window)
    if not targets:
        return no_samples(deployment)
    peak = int(max(v for _, v in targets))
    measured = _replica_time(timeline, window, deployment, peak, True)
    measured.inputs["peak_target"] = peak
    measured.inputs["target"] = series.relative(targets, window.start)
    return measured


def _extreme(timeline: Timeline, window: Window, args: list[str], name: str, field: str, pick: type[max] | type[min]) -> Measurement:
    deployment, _ = deployment_args(name, args)
    seen = series.within(series.deployment_series(timeline, deployment, field), window)
    if not seen:
        return Measurement(value=None, unit="count", inputs={"why": f"no replica samples of deployment {deployment!r}"})
    value = pick(v for _, v in seen)
    at = next(t for t, v in seen if v == value)
    return Measurement(value=value, unit="count", inputs={
        "deployment": deployment, "field": field, "at_s": round(at - window.start, 3),
        "samples": len(seen), field: series.relative(seen, window.start),
    })


@metric("max_replicas", sampled=True, kind=REPLICAS, window="run", subject="deployment")
def max_replicas(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    """Live replicas (every state but STOPPING), at their highest."""
    return _extreme(timeline, window, args, "max_replicas", "total", max)


@metric("min_replicas", sampled=True, kind=REPLICAS, subject="deployment")
def min_replicas(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    """Running replicas, at their lowest."""
    return _extreme(timeline, window, args, "min_replicas", "running", min)


@metric("direction_changes", sampled=True, kind=COUNT, window="run", subject="deployment")
def direction_changes(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    deployment, _ = deployment_args("direction_changes", args)
    field = "target"
    points = series.within(series.deployment_series(timeline, deployment, field), window)
    if not points:  # a cluster whose Serve reports no target: judge what runs
        field = "running"
        points = series.within(series.deployment_series(timeline, deployment, field), window)
    if not points:
        return Measurement(value=None, unit="count", inputs={"why": f"no replica samples of deployment {deployment!r}"})
    changes, moves = series.direction_changes(points)
    return Measurement(value=float(changes), unit="count", inputs={
        "deployment": deployment, "series": field,
        "moves": [[round(t - window.start, 3), v] for t, v in moves],
    })


def start_episodes(target: list[series.Point], running: list[series.Point],
                   strict: bool = False) -> list[dict[str, float]]:
    """For each rise of the target: how long until running replicas reached it (NEVER if not).

    If the target falls again before it is reached, the lower target counts from then on;
    strict: such a rise stays unmet (NEVER, `fell_at` says when): its replicas never ran.
    """
    episodes = []
    for (_, before), (t0, goal) in pairwise(target):
        if goal <= before:
            continue
        episode: dict[str, float] = {"at": t0, "target": goal, "waited_s": NEVER}
        for t, count in running:
            if t < t0:
                continue
            later = series.value_before(target, t)
            later = goal if later is None else later
            if strict and later < goal and count < goal:
                episode["fell_at"] = t
                break
            if count >= min(goal, later):
                episode["waited_s"] = t - t0
                break
        episodes.append(episode)
    return episodes


@metric("replica_start_time", sampled=True, kind=SECONDS, window="run", subject="deployment")
def replica_start_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    deployment, _ = deployment_args("replica_start_time", args)
    target = series.within(series.deployment_series(timeline, deployment, "target"), window)
    running = series.within(series.deployment_series(timeline, deployment, "running"), window)
    episodes = start_episodes(target, running)
    if not episodes:
        return Measurement(value=None, unit="s", inputs={"why": f"the target of {deployment!r} never rose", "deployment": deployment})
    return slowest_rise(episodes, window, deployment, {"deployment": deployment})


def slowest_rise(episodes: list[dict[str, float]], window: Window, deployment: str,
                 inputs: dict[str, object]) -> Measurement:
    """The slowest of start_episodes' rises, every rise in the inputs."""
    slowest = max(episodes, key=lambda e: e["waited_s"])
    inputs["rises"] = [
        {"at_s": round(e["at"] - window.start, 3), "target": e["target"],
         "waited_s": None if math.isinf(e["waited_s"]) else round(e["waited_s"], 3)}
        for e in episodes
    ]
    if math.isinf(slowest["waited_s"]):
        inputs["why"] = (f"running replicas of {deployment} never reached the target "
                         f"{slowest['target']:g} set at {slowest['at'] - window.start:.1f}s")
        if "fell_at" in slowest:
            inputs["why"] += f" (the target was lowered again by {slowest['fell_at'] - window.start:.1f}s, before they ran)"
    return Measurement(value=slowest["waited_s"], unit="s", inputs=inputs)

TARGET_METRIC = ray_metrics.TARGET_METRIC


def target_labels(deployment: str) -> dict[str, str]:
    """Label filters of a deployment's autoscaling metrics: `App/Deployment` names its app too."""
    if "/" in deployment:
        app, name = deployment.split("/", 1)
        return {"application": app, "deployment": name}
    return {"deployment": deployment}


@metric("decision_to_running", kind=SECONDS, window="run", subject="deployment")
def decision_to_running(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    """Each rise of the autoscaler's exported target, until running replicas reached it (slowest)."""
    deployment, _ = deployment_args("decision_to_running", args)
    if ray_metrics.serve_families() and TARGET_METRIC not in ray_metrics.serve_families():
        raise SLOSyntaxError(f"expected a Ray whose Serve exports {TARGET_METRIC} (decision_to_running "
                             f"reads it); the installed Ray does not")
    labels = target_labels(deployment)
    exported = ray_metrics.summed(ray_metrics.series_by_key(timeline, TARGET_METRIC, labels))
    target = series.within(exported, window)
    running = series.within(series.deployment_series(timeline, deployment, "running"), window)
    inputs: dict[str, object] = {"deployment": deployment, "target_metric": TARGET_METRIC,
                                 "target": series.relative(target, window.start)}
    if not target:
        inputs["why"] = ray_metrics.why_no_data(timeline, TARGET_METRIC, labels)
        return Measurement(value=None, unit="s", inputs=inputs)
    episodes = start_episodes(target, running, strict=True)  # a decision withdrawn before it ran is unmet
    if not episodes:
        inputs["why"] = f"the autoscaler's target for {deployment!r} never rose in the window"
        return Measurement(value=None, unit="s", inputs=inputs)
    return slowest_rise(episodes, window, deployment, inputs)
