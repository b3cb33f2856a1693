"""Host guard: stops a run that is saturating the machine it runs on.

A load generator or an autoscaler that runs away can starve the harness itself
(and, on a shared machine, everyone else). Then the measurements say nothing
about the release, so the guard ends the run as an infrastructure error
(`host_guard`), not as a verdict. It samples on the runner's tick, at most every
`interval_s`: the whole machine's CPU (all cores averaged) and memory, and the
resident memory of the run's own processes (harness, Ray, load). A bound must be
exceeded by every sample for `for_s` seconds in a row; one sample under it resets
the clock. Samples go to the timeline as `host` records.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

from harness.measure.records import Host, HostGuardRecord
from harness.model.context import InfraError, RunContext
from harness.model.scenario import HostGuardSpec

MB = 1024 * 1024


def own_rss_mb(ctx: RunContext) -> float:
    """Resident memory of the harness and every live process the run owns."""
    procs = [psutil.Process(), *ctx.ledger.alive()]
    total = 0
    for proc in {p.pid: p for p in procs}.values():
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / MB


class Saturation:
    """Tracks how long one measure has stayed above its bound, without a break."""

    def __init__(self, label: str, bound: float, unit: str):
        self.label, self.bound, self.unit = label, bound, unit
        self.since: float | None = None
        self.peak = 0.0

    def update(self, value: float, now: float) -> float:
        """Record a sample; returns seconds above the bound so far (0 if under it)."""
        if value < self.bound:
            self.since, self.peak = None, 0.0
            return 0.0
        if self.since is None:
            self.since = now
        self.peak = max(self.peak, value)
        return now - self.since

    def describe(self, held_s: float) -> str:
        return (f"{self.label} stayed at or above {self.bound:g}{self.unit} for {held_s:.1f}s "
                f"(peak {self.peak:.1f}{self.unit})")


class HostGuard:
    name = "host_guard"

    def __init__(self, spec: HostGuardSpec):
        self.spec = spec
        self.bounds: dict[str, Saturation] = {}
        if spec.cpu_percent is not None:
            self.bounds["cpu_percent"] = Saturation("host CPU", spec.cpu_percent, "%")
        if spec.memory_percent is not None:
            self.bounds["memory_percent"] = Saturation("host memory", spec.memory_percent, "%")
        if spec.own_memory_mb is not None:
            self.bounds["own_memory_mb"] = Saturation("the run's own memory", spec.own_memory_mb, " MB")
        self._last = 0.0
        self.samples = 0
        self.peaks: dict[str, float] = {}
        self.tripped: str | None = None

    def start(self, ctx: RunContext) -> None:
        psutil.cpu_percent(interval=None)  # the first call only sets the baseline
        self._last = time.monotonic()

    def measure(self, ctx: RunContext) -> dict[str, float]:
        values = {}
        if "cpu_percent" in self.bounds:
            values["cpu_percent"] = psutil.cpu_percent(interval=None)
        if "memory_percent" in self.bounds:
            values["memory_percent"] = psutil.virtual_memory().percent
        if "own_memory_mb" in self.bounds:
            values["own_memory_mb"] = round(own_rss_mb(ctx), 1)
        return values

    def tick(self, ctx: RunContext) -> None:
        now = time.monotonic()
        if now - self._last < self.spec.interval_s:
            return
        self._last = now
        values = self.measure(ctx)
        self.samples += 1
        ctx.timeline.emit(Host, **values)
        for key, value in values.items():
            self.peaks[key] = max(self.peaks.get(key, 0.0), value)
            held = self.bounds[key].update(value, now)
            if held >= self.spec.for_s:
                self.tripped = key
                message = f"{self.bounds[key].describe(held)}: the run was stopped, its results say nothing about the release"
                ctx.timeline.emit(HostGuardRecord, tripped=key, value=value, bound=self.bounds[key].bound, held_s=round(held, 3))
                raise InfraError("host_guard", message)

    def stop(self, ctx: RunContext) -> None:
        pass

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host_guard_samples": self.samples}
        out.update({f"host_peak_{k}": v for k, v in self.peaks.items()})
        return out
