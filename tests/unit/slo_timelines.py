"""Synthetic timelines for SLO unit tests: records as the harness writes them."""

from __future__ import annotations

from typing import Any

from harness.measure import records
from harness.measure.records import Chaos, Phase, Request, Sample, WorkloadRecord
from harness.measure.timeline import Timeline

T0 = 1_000_000.0  # an arbitrary epoch second; tests speak in seconds after it


def phase(name: str, start: float, end: float) -> list[dict[str, Any]]:
    return [
        Phase.new(t=T0 + start, name=name, edge="start"),
        Phase.new(t=T0 + end, name=name, edge="end"),
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
    extra = {Sample.available_resources: available, Sample.total_resources: resources}
    return Sample.new(t=T0 + at, deployments={deployment: dep} if dep else {},
                      **{k: v for k, v in extra.items() if v is not None})


def samples(points: list[tuple[float, int, int]], **extra: Any) -> list[dict[str, Any]]:
    """(at, running, target) triples to samples."""
    return [sample(at, running=r, target=tg, **extra) for at, r, tg in points]


def request(at: float, outcome: str = "ok", latency_ms: float = 10.0) -> dict[str, Any]:
    return Request.new(t=T0 + at, outcome=outcome, latency_ms=latency_ms, final=True)


def workload_result(at: float, name: str, **fields: Any) -> dict[str, Any]:
    return WorkloadRecord.new(t=T0 + at, name=name, event="result", **fields)


def timeline(*groups: Any) -> Timeline:
    found: list[dict[str, Any]] = []
    for group in groups:
        found.extend(group if isinstance(group, list) else [group])
    return Timeline([records.check(dict(r)) for r in found])  # strict: every record as declared


def chaos_result(at: float, shot: str, fault: str, outcome: str = "injected", **fields: Any) -> dict[str, Any]:
    """A shot's final `result` record as chaos.component writes it (planned at `at`)."""
    return Chaos.new(t=T0 + at + 0.1, event="result", id=shot, fault=fault, outcome=outcome,
                     offset_s=at, planned_t=T0 + at, **fields)
