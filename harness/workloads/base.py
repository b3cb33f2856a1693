"""What every workload shares: its own thread, a deadline, one result on the timeline.

A workload is a RunComponent. It starts beside the traffic, runs on its own thread
(the runner's loop is never blocked by it), and writes `workload` records to the
timeline: `start`, `progress` now and then, and exactly one `result` whose fields
the workload SLOs read (harness.slo.workload). Its name is also a window (phase)
from its start to its result.

At stop(), a workload whose run ended normally gets until its deadline to finish;
after an infrastructure error or interrupt (no `load_ended_at`) it is cut short and
reports what it saw, marked `aborted`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from harness.measure.records import WorkloadRecord
from harness.model.context import RunContext
from harness.seed import derive

PROGRESS_EVERY_S = 2.0
JOIN_SLACK_S = 10.0


class Workload:
    kind = WorkloadRecord.KIND

    def __init__(self, name: str, timeout_s: float):
        self.workload_name = name
        self.name = f"workload:{name}"
        self.timeout_s = timeout_s
        self.deadline = float("inf")  # monotonic; set at start
        self.abort = threading.Event()
        self.result: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ctx: RunContext | None = None
        self._last_progress = 0.0

    def seed(self, ctx: RunContext) -> int:
        """This workload's seed: the run seed's `workload.<name>` stream (harness.seed)."""
        return derive(ctx.seed, "workload.{name}", name=self.workload_name)

    # -- for subclasses -----------------------------------------------------

    def prepare(self, ctx: RunContext) -> None:
        """Runs in start(), in the runner's thread (e.g. start a subprocess)."""

    def run(self, ctx: RunContext) -> dict[str, Any]:
        """The workload itself, on its own thread; returns the result fields."""
        raise NotImplementedError

    def partial(self) -> dict[str, Any]:
        """What the workload saw so far, for a result written when it did not finish."""
        return {}

    def cleanup(self, ctx: RunContext) -> None:
        """Release what the workload holds (actors, tasks, processes); must not raise."""

    @staticmethod
    def connected_ray() -> None:
        """Refuse to run without the run's cluster: Ray would start a local one of its own."""
        import ray

        if not ray.is_initialized():
            raise RuntimeError("not connected to the run's Ray cluster")

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def should_stop(self) -> bool:
        return self.abort.is_set() or self.time_left() <= 0

    def progress(self, **fields: Any) -> None:
        """A `progress` record, at most every PROGRESS_EVERY_S."""
        now = time.monotonic()
        if self._ctx is None or now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        self._ctx.timeline.emit(WorkloadRecord, name=self.workload_name, event="progress", **fields)

    # -- RunComponent -------------------------------------------------------

    def start(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self.deadline = time.monotonic() + self.timeout_s
        ctx.timeline.phase(self.workload_name, "start", workload=type(self).__name__)
        ctx.timeline.emit(WorkloadRecord, name=self.workload_name, event="start", timeout_s=self.timeout_s)
        self.prepare(ctx)
        self._thread = threading.Thread(target=self._main, args=(ctx,), name=self.name, daemon=True)
        self._thread.start()

    def _main(self, ctx: RunContext) -> None:
        try:
            fields = self.run(ctx)
        except Exception as exc:  # a broken workload is a failed workload, with the reason
            fields = {**self.partial(), "passed": False, "why": f"{type(exc).__name__}: {exc}"[:500]}
        self._report(ctx, fields)

    def _report(self, ctx: RunContext, fields: dict[str, Any]) -> None:
        with self._lock:
            if self.result is not None:
                return
            self.result = fields
        ctx.timeline.emit(WorkloadRecord, name=self.workload_name, event="result", **fields)
        ctx.timeline.phase(self.workload_name, "end")

    def tick(self, ctx: RunContext) -> None:
        pass

    def stop(self, ctx: RunContext) -> None:
        if ctx.load_ended_at is None:  # the run is ending early: do not wait for the deadline
            self.abort.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, self.time_left()) + JOIN_SLACK_S)
            if self._thread.is_alive():
                self.abort.set()
                self._thread.join(timeout=JOIN_SLACK_S)
        if self.result is None:
            why = "aborted: the run ended before the workload" if self.abort.is_set() else "did not finish"
            self._report(ctx, {**self.partial(), "passed": False, "aborted": True, "why": why})
        try:
            self.cleanup(ctx)
        except Exception:  # stop() must not raise
            pass

    def metrics(self) -> dict[str, Any]:
        result = self.result or {}
        numbers = {k: v for k, v in result.items() if isinstance(v, (int, float))}
        numbers.update({k: v for k, v in (result.get("metrics") or {}).items() if isinstance(v, (int, float))})
        return {f"workload.{self.workload_name}.{k}": v for k, v in numbers.items()}
