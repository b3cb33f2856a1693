"""Memory SLOs, judged on the recorder's `memory` records (harness.run.memory_sampler).

    memory_growth(Echo) < 10%          the trend of Echo's average replica over the window
                                       (default: after 10s of load, the warm-up left out):
                                       a Theil-Sen line through per-bucket minima, robust to
                                       a garbage collector's sawtooth (harness.measure.memory_series);
                                       growth = slope x window length / the line's start level
    peak_memory(Echo) < 500MB          the most resident memory any one replica of Echo
                                       held (default window: the run), as Ray's release
                                       tests report peak memory
    peak_memory(raylet, total) < 1GB   ... summed over the subject's processes (or nodes)
    peak_memory < 4GB                  every process the run owns, summed (`all`)

A subject is a deployment (its replicas) or a role: driver, gcs, raylet, agent,
serve_controller, proxy, replica (every deployment), worker (Ray's task and actor
workers), load (Locust), other; `object_store` (use per node: the fullest node, or the
sum with `total`); `all`. Bounds take MB, GB, MiB or GiB (MB = 10^6 bytes).
"""

from __future__ import annotations

import difflib
from typing import Any

from harness.measure import memory_series
from harness.measure.timeline import Timeline, Window
from harness.slo.registry import GROWTH, MEMORY, Measurement, SLOSyntaxError, metric

# The default window of memory_growth: the load without its first seconds (imports, caches and
# allocator arenas fill while a process warms up; that is not a leak).
WARM_WINDOW = "after 10s of load"


def _subject(name: str, args: list[str], usage: str, most: int) -> str:
    if not args and name == "peak_memory":
        return memory_series.ALL
    if not args or len(args) > most:
        raise SLOSyntaxError(f"expected {usage}, got {name}({', '.join(args)})")
    return args[0]


def _no_data(timeline: Timeline, subject: str, unit: str) -> Measurement:
    seen = memory_series.subjects_in(timeline)
    if not any(seen.values()):
        why = "no memory samples in this run (recorder.memory: false, or the recorder never sampled)"
    else:
        known = seen["roles"] + seen["deployments"] + ([memory_series.OBJECT_STORE] if seen["nodes"] else [])
        why = f"no memory samples of {subject!r} (sampled: {', '.join(known)})"
    return Measurement(value=None, unit=unit, inputs={"subject": subject, "why": why})


@metric("memory_growth", kind=GROWTH, window=WARM_WINDOW, subject="memory", sampled=True)
def memory_growth(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    subject = _subject("memory_growth", args, "memory_growth(Deployment or role)", 1)
    points = memory_series.series(timeline, subject, "avg")
    if not points:
        return _no_data(timeline, subject, "ratio")
    inside = [p for p in points if window.start <= p[0] <= window.end]
    trend = memory_series.growth(points, window)
    inputs: dict[str, Any] = {
        "subject": subject, "samples": len(inside),
        "series": "object store per node (MB / nodes)" if subject == memory_series.OBJECT_STORE
        else "average process (MB / processes)",
        "rule": "Theil-Sen slope through per-bucket minima x window length / start level",
    }
    if trend is None:
        inputs["why"] = (f"{len(inside)} memory samples of {subject!r} in the window: a trend needs "
                         f"{memory_series.MIN_BUCKETS * memory_series.MIN_SAMPLES_PER_BUCKET} or more (a longer window)")
        return Measurement(value=None, unit="ratio", inputs=inputs)
    inputs.update(trend.as_inputs(window.start))
    if trend.growth > 0:
        inputs["why"] = (f"{subject}'s {'node' if subject == memory_series.OBJECT_STORE else 'average process'} grew "
                         f"from {trend.start_mb:.1f}MB to {trend.end_mb:.1f}MB ({trend.growth * 100:.1f}%) "
                         f"over {window.duration:.0f}s")
    return Measurement(value=trend.growth, unit="ratio", inputs=inputs)


@metric("peak_memory", kind=MEMORY, window="run", subject="memory", sampled=True)
def peak_memory(timeline: Timeline, window: Window, args: list[str]) -> Measurement:
    subject = _subject("peak_memory", args, "peak_memory([Deployment or role[, total]])", 2)
    total = len(args) == 2 or subject == memory_series.ALL
    if len(args) == 2 and args[1] != "total":
        close = difflib.get_close_matches(args[1], ["total"], n=1)
        hint = " (did you mean 'total'?)" if close else ""
        raise SLOSyntaxError(f"expected peak_memory({args[0]}[, total]), got {args[1]!r}{hint}")
    points = memory_series.series(timeline, subject, "mb" if total else "max_mb")
    if not points:
        return _no_data(timeline, subject, "MB")
    top = memory_series.peak(points, window)
    what = "summed over its processes" if total else "the largest single process"
    if subject == memory_series.OBJECT_STORE:
        what = "summed over the nodes" if total else "the fullest node"
    inputs: dict[str, Any] = {"subject": subject, "what": what}
    if top is None:
        inputs["why"] = f"no memory sample of {subject!r} in the window"
        return Measurement(value=None, unit="MB", inputs=inputs)
    inputs.update(peak_at_s=round(top[0] - window.start, 2), samples=len(memory_series.series(timeline, subject)))
    inputs["why"] = f"{subject} ({what}) peaked at {top[1]:.1f}MB, {top[0] - window.start:.0f}s into the window"
    return Measurement(value=round(top[1], 2), unit="MB", inputs=inputs)
