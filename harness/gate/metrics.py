"""Key metrics of a finished run, read from its stored timeline (never re-measured live).

These are what history keeps per run and what regression checks compare with
the baseline: latency percentiles of successful requests and throughput over the
`load` window.
"""

from __future__ import annotations

from pathlib import Path

from harness.measure.timeline import Timeline
from harness.slo.core import percentile


def key_metrics(run_dir: Path) -> dict[str, float]:
    """p50_ms, p99_ms, throughput_rps and success_ratio of the load window; {} without one."""
    timeline = Timeline.load(run_dir)
    window = timeline.window("load")
    if window is None or window.duration <= 0:
        return {}
    requests = timeline.requests_in(window)
    ok = [r for r in requests if r.get("outcome") == "ok"]
    out: dict[str, float] = {"throughput_rps": round(len(ok) / window.duration, 3)}
    if requests:
        out["success_ratio"] = round(len(ok) / len(requests), 6)
    latencies = sorted(float(r["latency_ms"]) for r in ok if "latency_ms" in r)
    if latencies:
        out["p50_ms"] = round(percentile(latencies, 50), 3)
        out["p99_ms"] = round(percentile(latencies, 99), 3)
    return out
