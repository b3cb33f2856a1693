"""Samples cluster and Serve state into the timeline while the run goes on.

Runs on its own thread so that a slow poll never delays the runner's loop.
A poll that fails is retried with backoff; one that still fails is recorded as a
`sample_error` event rather than ending the run (state is eventually consistent).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tenacity import Retrying, stop_after_attempt, wait_exponential

from harness.context import RunContext


def serve_sample(app_name: str) -> dict[str, Any]:
    from ray import serve

    status = serve.status()
    app = status.applications.get(app_name)
    if app is None:
        return {"app_status": "NOT_STARTED", "deployments": {}}
    deployments = {}
    for name, dep in app.deployments.items():
        states = {str(getattr(k, "value", k)): int(v) for k, v in dep.replica_states.items()}
        deployments[name] = {
            "status": str(getattr(dep.status, "value", dep.status)),
            "replicas": states,
            "running": states.get("RUNNING", 0),
        }
    return {"app_status": str(getattr(app.status, "value", app.status)), "deployments": deployments}


def cluster_sample() -> dict[str, Any]:
    import ray

    nodes = ray.nodes()
    alive = [n for n in nodes if n.get("Alive")]
    return {
        "nodes_alive": len(alive),
        "nodes_dead": len(nodes) - len(alive),
        "alive_node_ids": sorted(n["NodeID"] for n in alive),
        "total_resources": ray.cluster_resources(),
        "available_resources": ray.available_resources(),
    }


class Recorder:
    name = "recorder"

    def __init__(self, interval_s: float = 0.5, ledger_every_s: float = 2.0):
        self.interval_s = interval_s
        self.ledger_every_s = ledger_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.errors = 0

    def start(self, ctx: RunContext) -> None:
        self._thread = threading.Thread(target=self._loop, args=(ctx,), name="recorder", daemon=True)
        self._thread.start()

    def tick(self, ctx: RunContext) -> None:
        pass

    def _poll(self, ctx: RunContext) -> dict[str, Any]:
        retrying = Retrying(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.05, max=0.5), reraise=True)
        sample: dict[str, Any] = {}
        sample.update(retrying(serve_sample, ctx.scenario.app.name))
        sample.update(retrying(cluster_sample))
        return sample

    def _loop(self, ctx: RunContext) -> None:
        last_ledger = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                ctx.timeline.emit("sample", **self._poll(ctx))
                self.samples += 1
            except Exception as exc:  # recorded, never fatal: state polls are eventually consistent
                self.errors += 1
                ctx.timeline.emit("sample_error", error=f"{type(exc).__name__}: {exc}"[:300])
            if ctx.cluster is not None and ctx.cluster.owned and started - last_ledger >= self.ledger_every_s:
                ctx.ledger.snapshot_descendants()
                last_ledger = started
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def stop(self, ctx: RunContext) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def metrics(self) -> dict[str, Any]:
        return {"recorder_samples": self.samples, "recorder_errors": self.errors}
