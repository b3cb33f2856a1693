"""THE statistics module: request statistics of a window, computed one way for every consumer.

SLO metrics (harness.slo, harness.slo_recovery), the load report, summary.json's
metrics, history's key metrics (harness.gate.metrics), `harness compare`, the live
view and the report's charts all call these functions; none counts on its own.

A name says its population (docs/results.md, "Statistics"):

    p50_ms p90_ms p99_ms max_ms   every final request (final outcome, any outcome)
    p50_ok_ms p90_ok_ms p99_ok_ms successful final requests only
    sent_rps                      final requests made per second (any outcome)
    ok_rps                        successful final requests per second
    offered_rps                   final requests + dropped sends, per second

Percentiles are nearest-rank (exact, no buckets, no rounding). A percentile resting on
too few samples is flagged: p(q) needs at least 1 / (1 - q/100) samples (p99: 100,
p99.9: 1000) to have one sample above it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from harness.measure.records import Dropped, Phase, Request
from harness.measure.timeline import Timeline, Window

OK = "ok"
SHED = "shed"
ERROR_OUTCOMES = ("error", "timeout", "conn_error")
REPORTED_PERCENTILES = (50.0, 90.0, 99.0)

# Every statistic a window row holds, and what it counts (docs/results.md draws its table from this).
STATISTICS: dict[str, str] = {
    "requests": "final requests (one per request, whatever its outcome)",
    "attempts": "attempts, retries included",
    "retries": "attempts minus requests",
    "ok": "final requests that succeeded",
    "shed": "final requests shed (503)",
    "errors": "final requests that failed: error, timeout, conn_error",
    "dropped": "open model: sends the generator could not make on time",
    "by_outcome": "final requests by outcome",
    "offered_rps": "(requests + dropped) per second",
    "sent_rps": "requests per second, any outcome",
    "ok_rps": "successful requests per second",
    "success_ratio": "ok / requests",
    "p50_ms, p90_ms, p99_ms, max_ms": "latency of every final request (any outcome)",
    "p50_ok_ms, p90_ok_ms, p99_ok_ms": "latency of successful final requests",
    "samples, ok_samples": "latencies behind p*_ms and p*_ok_ms",
}
# Names older results used, and what they are now (summary.json, history, SLO aliases).
RENAMED = {
    "achieved_rps": "sent_rps",
    "load_achieved_rps": "load_sent_rps",
    "throughput_rps": "ok_rps",
    "rps": "ok_rps",
}


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


def rate(count: int, seconds: float) -> float | None:
    """Events per second, to 3 decimals; None over an empty span."""
    return round(count / seconds, 3) if seconds > 0 else None


def outcome_of(record: Mapping[str, Any]) -> str:
    return str(record.get(Request.outcome, "error"))


def outcome_counts(requests: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Requests by outcome (a record without one counts as an error)."""
    counts: dict[str, int] = {}
    for record in requests:
        outcome = outcome_of(record)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def errors_of(counts: Mapping[str, int]) -> int:
    return sum(counts.get(o, 0) for o in ERROR_OUTCOMES)


def latencies(requests: Iterable[Mapping[str, Any]], outcomes: Iterable[str] = (),
              attempts: bool = False) -> list[float]:
    """Sorted latencies of the records that have one; `outcomes` keeps only those.

    attempts: time each attempt alone (`attempt_ms`) instead of from the intended send time.
    """
    wanted = set(outcomes)
    key = Request.attempt_ms if attempts else Request.latency_ms
    values = [
        float(r.get(key, r[Request.latency_ms]))
        for r in requests
        if Request.latency_ms in r and (not wanted or r.get(Request.outcome) in wanted)
    ]
    values.sort()
    return values


def request_stats(finals: list[Mapping[str, Any]], seconds: float, dropped: int = 0,
                  attempts: int | None = None) -> dict[str, Any]:
    """Every statistic of STATISTICS over final requests (and dropped sends) in `seconds`."""
    counts = outcome_counts(finals)
    every = latencies(finals)
    ok_only = latencies(finals, (OK,))
    made = len(finals)
    tried = made if attempts is None else attempts
    stats: dict[str, Any] = {
        "requests": made,
        "attempts": tried,
        "retries": tried - made,
        "ok": counts.get(OK, 0),
        "shed": counts.get(SHED, 0),
        "errors": errors_of(counts),
        "dropped": dropped,
        "by_outcome": counts,
        "offered_rps": rate(made + dropped, seconds),
        "sent_rps": rate(made, seconds),
        "ok_rps": rate(counts.get(OK, 0), seconds),
        "success_ratio": round(counts.get(OK, 0) / made, 6) if made else None,
        "samples": len(every),
        "ok_samples": len(ok_only),
        "warnings": [],
    }
    for pct in REPORTED_PERCENTILES:
        stats[f"p{pct:g}_ms"] = percentile(every, pct) if every else None
        stats[f"p{pct:g}_ok_ms"] = percentile(ok_only, pct) if ok_only else None
        warning = sample_warning(pct, len(every))
        if warning and every:
            stats["warnings"].append(warning)
    stats["max_ms"] = every[-1] if every else None
    return stats


def window_stats(timeline: Timeline, window: Window) -> dict[str, Any]:
    """What the clients saw in one window, and what the generator offered."""
    finals = timeline.requests_in(window)
    attempts = len(timeline.requests_in(window, final_only=False))
    dropped = len(timeline.events_of(Dropped, window))
    seconds = window.duration
    return {"window": window.name, "start": window.start, "seconds": round(seconds, 3),
            **request_stats(finals, seconds, dropped, attempts)}


# History's key metrics of a run: both latency populations, both rates, the success ratio.
KEY_METRICS = ("p50_ms", "p99_ms", "p50_ok_ms", "p99_ok_ms", "ok_rps", "sent_rps", "success_ratio")


def key_metrics(timeline: Timeline) -> dict[str, float]:
    """KEY_METRICS of the `load` window (latencies to 3 decimals); {} without a load window."""
    window = timeline.window("load")
    if window is None or window.duration <= 0:
        return {}
    stats = window_stats(timeline, window)
    return {name: round(float(stats[name]), 6 if name == "success_ratio" else 3)
            for name in KEY_METRICS if stats[name] is not None}


def renamed(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics stored under an older name (summary.json of an older run) under today's name."""
    out = {k: v for k, v in metrics.items() if k not in RENAMED}
    for old, new in RENAMED.items():
        if old in metrics and new not in out:
            out[new] = metrics[old]
    return out


def load_windows(timeline: Timeline) -> list[Window]:
    """The `load` window and the windows of the load's shape, in time order."""
    names = {e.get(Phase.name) for e in timeline.events_of(Phase) if e.get(Phase.source) == "load"}
    names.add("load")
    found = [w for name, w in timeline.windows.items() if name in names]
    return sorted(found, key=lambda w: (w.name != "load", w.start))
