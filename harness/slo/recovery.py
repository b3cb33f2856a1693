"""Recovery SLOs: how the service came back after a fault. Judge them over a window
that starts when the fault does and leaves time to recover, e.g. `fault-1 + 30s`.

    recovery_time < 10s                  from the window's start until requests succeed
                                         again: the first success after the last failure
                                         (0 when nothing failed; never if the window ends
                                         failing)
    replica_recovery_time(Echo) < 30s    from the window's start until running replicas
                                         are back to their level before it (its target,
                                         or N with `(Echo, N)`); 0 if they never dropped
    replica_outage(Echo) < 20s           the longest stretch of the window with fewer
                                         running replicas than that level, each drop
                                         timed on its own (one open at the window's end
                                         counts up to it); 0 if they never dropped
    failed_requests <= 20                requests that failed (error, timeout, connection
                                         error; not shed) in the window: a budget
    resource_recovery_time(CPU) < 30s    from the window's start until the available
                                         amount (or `(CPU, total)`) is back to its level
                                         before the window
"""

from __future__ import annotations

import math

from harness.measure import series
from harness.measure.records import Request
from harness.measure.stats import ERROR_OUTCOMES, OK, errors_of, outcome_counts, outcome_of
from harness.measure.timeline import Timeline, Window
from harness.slo.autoscaling_metrics import NEVER, deployment_args, no_samples
from harness.slo.registry import COUNT, SECONDS, Measurement, SLOSyntaxError, metric

# Resource amounts are floats summed by Ray: compare with a little slack.
RESOURCE_SLACK = 1e-6


@metric("recovery_time", "time_to_success", kind=SECONDS, args=False)
def recovery_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    requests = timeline.requests_in(window)
    if not requests:
        return Measurement(value=None, unit="s", inputs={"why": "no requests"})
    bad = [r for r in requests if outcome_of(r) != OK]
    inputs = {"requests": len(requests), "not_ok": len(bad)}
    if not bad:
        return Measurement(value=0.0, unit="s", inputs=inputs)
    last_bad = bad[-1][Request.t]
    first_ok = next((r[Request.t] for r in requests if r[Request.t] > last_bad and outcome_of(r) == OK), None)
    inputs.update(
        first_failure_s=round(bad[0][Request.t] - window.start, 3),
        last_failure_s=round(last_bad - window.start, 3),
        last_failure_outcome=bad[-1].get(Request.outcome),
    )
    if first_ok is None:
        inputs["why"] = f"requests still failed at the window's end ({bad[-1].get(Request.outcome)})"
        return Measurement(value=NEVER, unit="s", inputs=inputs)
    inputs["recovered_at_s"] = round(first_ok - window.start, 3)
    return Measurement(value=first_ok - window.start, unit="s", inputs=inputs)


@metric("failed_requests", kind=COUNT, args=False)
def failed_requests(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    requests = timeline.requests_in(window)
    counts = outcome_counts(requests)
    by_outcome = {outcome: n for outcome, n in counts.items() if outcome in ERROR_OUTCOMES}
    return Measurement(value=float(errors_of(counts)), unit="count", inputs={"requests": len(requests), "by_outcome": by_outcome})


def time_back(points: list[series.Point], window: Window, level: float) -> tuple[float, float | None]:
    """Seconds from the window's start until the series, once below `level`, is back (0: never dropped)."""
    seen = series.within(points, window)
    dropped = series.first_time(seen, lambda v: v < level - RESOURCE_SLACK)
    if dropped is None:
        return 0.0, None
    back = series.first_time(seen, lambda v: v >= level - RESOURCE_SLACK, after=dropped)
    return (NEVER, dropped) if back is None else (back - window.start, dropped)


def replica_level(timeline: Timeline, window: Window, deployment: str, wanted: int | None,
                  running: list[series.Point]) -> tuple[float | None, str]:
    """The running-replica level a window is judged against, and where it came from: N when
    given, else the deployment's target before the window, else what ran before it."""
    if wanted is not None:
        return float(wanted), "given"
    target = series.value_before(series.deployment_series(timeline, deployment, "target"), window.start)
    if target is not None:
        return target, "target before the window"
    return series.value_before(running, window.start), "running before the window"


@metric("replica_recovery_time", sampled=True, kind=SECONDS, subject="deployment")
def replica_recovery_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    deployment, wanted = deployment_args("replica_recovery_time", args, "N")
    running = series.deployment_series(timeline, deployment, "running")
    seen = series.within(running, window)
    if not seen:
        return no_samples(deployment)
    level, source = replica_level(timeline, window, deployment, wanted, running)
    if level is None:
        return Measurement(value=None, unit="s", inputs={"why": f"no sample of {deployment!r} before the window"})
    value, dropped = time_back(running, window, level)
    inputs = {
        "deployment": deployment, "level": level, "level_from": source,
        "dropped_at_s": None if dropped is None else round(dropped - window.start, 3),
        "running": series.relative(seen, window.start),
    }
    if math.isinf(value):
        inputs["why"] = f"{deployment} stayed below {level:g} running replicas (lowest {min(v for _, v in seen):g})"
    return Measurement(value=value, unit="s", inputs=inputs)


@metric("replica_outage", sampled=True, kind=SECONDS, subject="deployment")
def replica_outage(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    """The longest stretch of the window with fewer running replicas than their level.

    Each drop is judged on its own, from when it was seen to when the level was back, so a
    fault late in the window is not charged for the time before it (replica_recovery_time
    counts from the window's start). An outage still open at the window's end counts up to
    that end: at least that long, so a bound it already passed fails."""
    deployment, wanted = deployment_args("replica_outage", args, "N")
    running = series.deployment_series(timeline, deployment, "running")
    if not series.within(running, window):
        return no_samples(deployment)
    level, source = replica_level(timeline, window, deployment, wanted, running)
    if level is None:  # a window from the first sample on (`load`): the first target seen in it
        targets = series.within(series.deployment_series(timeline, deployment, "target"), window)
        level, source = (targets[0][1], "first target in the window") if targets else (None, "")
    if level is None:
        return Measurement(value=None, unit="s", inputs={"why": f"no target of {deployment!r} sampled"})
    stretches = series.stretches_below(running, window, level - RESOURCE_SLACK)
    longest = max(stretches, key=lambda o: o[1] - o[0], default=None)
    inputs: dict = {
        "deployment": deployment, "level": level, "level_from": source,
        "outages": [[round(a - window.start, 3), round(b - window.start, 3)] for a, b, _ in stretches],
    }
    if longest is None:
        return Measurement(value=0.0, unit="s", inputs=inputs)
    if longest[2]:
        inputs["why"] = (f"{deployment} was still below {level:g} running replicas at the window's end "
                         f"(counted to the end: at least {longest[1] - longest[0]:.1f}s)")
    return Measurement(value=longest[1] - longest[0], unit="s", inputs=inputs)


@metric("resource_recovery_time", sampled=True, kind=SECONDS)
def resource_recovery_time(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    if not args or len(args) > 2 or (len(args) == 2 and args[1] not in ("available", "total")):
        raise SLOSyntaxError(
            f"expected resource_recovery_time(Resource[, available|total]), got ({', '.join(args)})"
        )
    resource, which = args[0], (args[1] if len(args) == 2 else "available")
    points = series.resource_series(timeline, resource, which)
    level = series.value_before(points, window.start)
    if level is None:
        return Measurement(value=None, unit="s", inputs={"why": f"no sample of {which} {resource} before the window"})
    value, dropped = time_back(points, window, level)
    seen = series.within(points, window)
    inputs = {
        "resource": resource, "which": which, "level_before": level,
        "dropped_at_s": None if dropped is None else round(dropped - window.start, 3),
        which: series.relative(seen, window.start),
    }
    if math.isinf(value):
        lowest = min((v for _, v in seen), default=level)
        inputs["why"] = f"{which} {resource} stayed below {level:g} (lowest {lowest:g})"
    return Measurement(value=value, unit="s", inputs=inputs)
