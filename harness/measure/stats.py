"""Request statistics of one timeline window: exact percentiles, rates, outcome counts.

Percentiles are nearest-rank over every final request's latency (no buckets, no
rounding). A percentile resting on too few samples is flagged: p(q) needs at
least 1 / (1 - q/100) samples (p99: 100, p99.9: 1000) to have one sample above it.
"""

from __future__ import annotations

import math
from typing import Any

from harness.measure.timeline import Timeline, Window

ERROR_OUTCOMES = ("error", "timeout", "conn_error")
REPORTED_PERCENTILES = (50.0, 90.0, 99.0)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (exact, no interpolation)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def min_samples(pct: float) -> int:
    """Samples a percentile needs before it says anything about the tail it names."""
    if pct >= 100:
        return 1
    return math.ceil(1.0 / (1.0 - pct / 100.0) - 1e-9)


def sample_warning(pct: float, samples: int) -> str | None:
    needed = min_samples(pct)
    if samples >= needed:
        return None
    return f"p{pct:g} rests on {samples} samples (needs >= {needed})"


def window_stats(timeline: Timeline, window: Window) -> dict[str, Any]:
    """What the clients saw in one window, and what the generator offered."""
    finals = timeline.requests_in(window)
    attempts = timeline.requests_in(window, final_only=False)
    dropped = timeline.events_of("dropped", window)
    latencies = sorted(float(r["latency_ms"]) for r in finals if "latency_ms" in r)
    outcomes: dict[str, int] = {}
    for record in finals:
        outcome = record.get("outcome", "error")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    seconds = window.duration
    stats: dict[str, Any] = {
        "window": window.name,
        "start": window.start,
        "seconds": round(seconds, 3),
        "requests": len(finals),
        "attempts": len(attempts),
        "retries": len(attempts) - len(finals),
        "ok": outcomes.get("ok", 0),
        "shed": outcomes.get("shed", 0),
        "errors": sum(outcomes.get(o, 0) for o in ERROR_OUTCOMES),
        "dropped": len(dropped),
        "by_outcome": outcomes,
        "offered_rps": _rate(len(finals) + len(dropped), seconds),
        "achieved_rps": _rate(len(finals), seconds),
        "ok_rps": _rate(outcomes.get("ok", 0), seconds),
        "samples": len(latencies),
        "warnings": [],
    }
    for pct in REPORTED_PERCENTILES:
        value = percentile(latencies, pct) if latencies else None
        stats[f"p{pct:g}_ms"] = value
        warning = sample_warning(pct, len(latencies))
        if warning and latencies:
            stats["warnings"].append(warning)
    stats["max_ms"] = latencies[-1] if latencies else None
    return stats


def _rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 3) if seconds > 0 else None


def load_windows(timeline: Timeline) -> list[Window]:
    """The `load` window and the windows of the load's shape, in time order."""
    names = {e.get("name") for e in timeline.events_of("phase") if e.get("source") == "load"}
    names.add("load")
    found = [w for name, w in timeline.windows.items() if name in names]
    return sorted(found, key=lambda w: (w.name != "load", w.start))
