"""Memory read back from the recorder's `memory` records: series by subject, growth and peak.

A subject is a role (`raylet`, `gcs`, `replica`, `worker`, `load`, `driver`, ...), a
deployment (its replicas), `object_store` (use per node) or `all` (every process the run
owns). Each record holds, per subject, `mb` (summed over its processes, or its nodes),
`n` (how many) and `max_mb` (the largest one); MB are 10^6 bytes.

Growth is judged on the average process (`mb / n`): a replica replaced by a fresh one, or
an autoscaler adding replicas, changes the sum without anything leaking, and a leak in
every replica moves the average as much as the sum.

The trend (`growth`): the window is cut into equal buckets (at most MAX_BUCKETS, at
least MIN_SAMPLES_PER_BUCKET samples each), the lowest sample of each bucket is kept
(its time and value), and a Theil-Sen line goes through those minima: the slope is the
median of the slopes between every pair of minima, the intercept the median of
`value - slope * t`. Growth is `slope * window length / level at the window's start`
(the line's value there). Minima, because memory a garbage collector frees comes back
as a sawtooth whose peaks depend on where in its cycle a sample lands, while its floor
is what the process kept; Theil-Sen, because a few odd buckets (a replica restarted, a
burst of work) cannot tilt a median of slopes the way they tilt least squares (it
tolerates about 29% of them).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from harness.measure.records import Memory
from harness.measure.timeline import Timeline, Window

Point = tuple[float, float]
MB = 1_000_000
# Roles of the run's processes, as harness.run.memory_sampler names them.
ROLES = ("driver", "gcs", "raylet", "agent", "serve_controller", "proxy", "replica", "worker", "load", "other")
OBJECT_STORE = "object_store"
ALL = "all"
SUBJECT_WORDS = (*ROLES, OBJECT_STORE, ALL)
MAX_BUCKETS = 20
MIN_BUCKETS = 4
MIN_SAMPLES_PER_BUCKET = 2


def entry_of(record: dict[str, Any], subject: str) -> dict[str, Any] | None:
    """{mb, n, max_mb} of one subject in one record; None when the record has none of it."""
    if subject == OBJECT_STORE:
        nodes = record.get(Memory.object_store)
        if not isinstance(nodes, dict) or not nodes:
            return None
        values = [float(v) for v in nodes.values() if isinstance(v, (int, float))]
        return {"mb": sum(values), "n": len(values), "max_mb": max(values)} if values else None
    roles = record.get(Memory.roles) or {}
    if subject == ALL:
        entries = [e for e in roles.values() if isinstance(e, dict)]
        if not entries:
            return None
        return {"mb": sum(float(e.get("mb", 0)) for e in entries), "n": sum(int(e.get("n", 0)) for e in entries),
                "max_mb": max(float(e.get("max_mb", 0)) for e in entries)}
    if subject in ROLES:
        entry = roles.get(subject)
    else:
        deployments = record.get(Memory.deployments) or {}
        entry = deployments.get(deployment_key(deployments, subject))
    return entry if isinstance(entry, dict) and entry.get("n") else None


def deployment_key(deployments: dict[str, Any], name: str) -> str:
    """`Echo` finds `App/Echo` when only one app has it (as the replica samples do)."""
    if name in deployments or "/" in name:
        return name
    owners = [key for key in deployments if key.endswith("/" + name)]
    return owners[0] if len(owners) == 1 else name


def series(timeline: Timeline, subject: str, field: str = "avg") -> list[Point]:
    """(t, MB) of a subject in every memory record: `avg` (mb / n), `mb` (sum) or `max_mb`."""
    points = []
    for record in timeline.events_of(Memory):
        entry = entry_of(record, subject)
        if entry is None:
            continue
        value = float(entry["mb"]) / int(entry["n"]) if field == "avg" else float(entry.get(field, 0.0))
        points.append((float(record[Memory.t]), value))
    return points


def subjects_in(timeline: Timeline) -> dict[str, list[str]]:
    """Roles, deployments and nodes the run's memory records name (for messages and charts)."""
    roles: set[str] = set()
    deployments: set[str] = set()
    nodes: set[str] = set()
    for record in timeline.events_of(Memory):
        roles.update((record.get(Memory.roles) or {}).keys())
        deployments.update((record.get(Memory.deployments) or {}).keys())
        nodes.update((record.get(Memory.object_store) or {}).keys())
    return {"roles": sorted(roles), "deployments": sorted(deployments), "nodes": sorted(nodes)}


@dataclass(frozen=True, kw_only=True)
class Growth:
    growth: float  # slope * window length / start level (0.1: 10% over the window)
    slope_mb_per_s: float
    start_mb: float  # the line's value at the window's start
    end_mb: float  # ... and at its end
    buckets: int
    minima: list[Point]

    def as_inputs(self, origin: float) -> dict[str, Any]:
        return {
            "slope_mb_per_min": round(self.slope_mb_per_s * 60, 4),
            "start_mb": round(self.start_mb, 2),
            "end_mb": round(self.end_mb, 2),
            "buckets": self.buckets,
            "bucket_minima": [[round(t - origin, 2), round(v, 2)] for t, v in self.minima],
        }


def bucket_minima(points: list[Point], start: float, end: float) -> list[Point]:
    """The lowest point of each of up to MAX_BUCKETS equal buckets of [start, end]."""
    inside = sorted(p for p in points if start <= p[0] <= end)
    count = min(MAX_BUCKETS, len(inside) // MIN_SAMPLES_PER_BUCKET)
    if count < 1 or end <= start:
        return []
    width = (end - start) / count
    lowest: dict[int, Point] = {}
    for t, value in inside:
        index = min(count - 1, int((t - start) / width))
        if index not in lowest or value < lowest[index][1]:
            lowest[index] = (t, value)
    return [lowest[i] for i in sorted(lowest)]


def theil_sen(points: list[Point]) -> tuple[float, float]:
    """(slope, intercept): the median of pairwise slopes, the median of value - slope * t."""
    slopes = [(v2 - v1) / (t2 - t1) for (t1, v1), (t2, v2) in combinations(points, 2) if t2 != t1]
    slope = statistics.median(slopes) if slopes else 0.0
    intercept = statistics.median(v - slope * t for t, v in points)
    return slope, intercept


def growth(points: list[Point], window: Window) -> Growth | None:
    """The trend of a memory series over a window (module doc); None with fewer than MIN_BUCKETS."""
    minima = bucket_minima(points, window.start, window.end)
    if len(minima) < MIN_BUCKETS:
        return None
    slope, intercept = theil_sen([(t - window.start, v) for t, v in minima])  # t from the window's start
    start_mb = intercept
    end_mb = slope * window.duration + intercept
    if start_mb <= 0:
        return None
    return Growth(growth=(end_mb - start_mb) / start_mb, slope_mb_per_s=slope, start_mb=start_mb, end_mb=end_mb, buckets=len(minima), minima=minima)


def peak(points: list[Point], window: Window) -> Point | None:
    """The highest point inside the window (its time and MB)."""
    inside = [p for p in points if window.start <= p[0] <= window.end]
    return max(inside, key=lambda p: p[1]) if inside else None
