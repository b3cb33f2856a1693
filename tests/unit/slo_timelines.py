"""Synthetic timelines for SLO unit tests: records as the harness writes them."""

from __future__ import annotations

from typing import Any

from harness.measure.timeline import Timeline

T0 = 1_000_000.0  # an arbitrary epoch second; tests speak in seconds after it


def phase(name: str, start: float, end: float) -> list[dict[str, Any]]:
    return [
        {"t": T0 + start, "kind": "phase", "name": name, "edge": "start"},
        {"t": T0 + end, "kind": "phase", "name": name, "edge": "end"},
    ]


def sample(at: float, running: int | None = None, target: int | None = None, total: int | None = None,
           deployment: str = "Echo", available: dict[str, float] | None = None,
           resources: dict[str, float] | None = None, min_replicas: int | None = None) -> dict[str, Any]:
    dep: dict[str, Any] = {}
    if running is not None:
        dep["running"] = running
        dep["total"] = running if total is None else total
    if target is not None:
        dep["target"] = target
    if min_replicas is not None:
        dep["min_replicas"] = min_replicas
    record: dict[str, Any] = {"t": T0 + at, "kind": "sample", "deployments": {deployment: dep} if dep else {}}
    if available is not None:
        record["available_resources"] = available
    if resources is not None:
        record["total_resources"] = resources
    return record


def samples(points: list[tuple[float, int, int]], **extra: Any) -> list[dict[str, Any]]:
    """(at, running, target) triples to samples."""
    return [sample(at, running=r, target=tg, **extra) for at, r, tg in points]


def request(at: float, outcome: str = "ok", latency_ms: float = 10.0) -> dict[str, Any]:
    return {"t": T0 + at, "kind": "request", "outcome": outcome, "latency_ms": latency_ms, "final": True}


def workload_result(at: float, name: str, **fields: Any) -> dict[str, Any]:
    return {"t": T0 + at, "kind": "workload", "name": name, "event": "result", **fields}


def timeline(*groups: Any) -> Timeline:
    records: list[dict[str, Any]] = []
    for group in groups:
        records.extend(group if isinstance(group, list) else [group])
    return Timeline([dict(r) for r in records])
