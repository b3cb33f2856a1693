"""Samples cluster and Serve state into the timeline while the run goes on.

Each `sample` record holds, per deployment of the app under test, replica counts by
state, `running`, `total` (live: all but STOPPING), the autoscaler's `target`
(Serve's target_num_replicas) and `min_replicas`/`max_replicas`; the app's status;
nodes alive and dead; total and available resources. At 2 Hz by default
(`recorder.interval_s`); autoscaling and recovery SLOs read these samples.

Runs on its own thread so that a slow poll never delays the runner's loop.
A poll that fails is retried with backoff; one that still fails is recorded as a
`sample_error` event rather than ending the run (state is eventually consistent).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tenacity import Retrying, stop_after_attempt, wait_exponential

from harness.measure.records import Memory, Sample, SampleError
from harness.model.context import RunContext
from harness.model.scenario import RecorderSpec
from harness.run.memory_sampler import MemorySampler, replica_pids
from harness.run.periodic import Periodic

# A poll must never hang the recorder (a controller being restarted by a fault).
CALL_TIMEOUT_S = 5.0
# Replicas in these states do not count as live (they are going away).
GONE_STATES = ("STOPPING",)
MAX_IN_FLIGHT = 3


def serve_details() -> dict[str, Any]:
    """Serve's instance details (as the dashboard shows them), bounded in time."""
    import ray
    from ray.serve.context import _get_global_client

    client = _get_global_client()
    ref = client._controller.get_serve_instance_details.remote()
    return ray.get(ref, timeout=CALL_TIMEOUT_S)


def enum_text(value: Any) -> str:
    """`RUNNING`, not `ReplicaState.RUNNING`: the details may hold enums or plain strings."""
    return str(getattr(value, "value", value))


def deployment_sample(details: dict[str, Any]) -> dict[str, Any]:
    """Replica counts by state, the autoscaler's target and the replica bounds of one deployment."""
    states: dict[str, int] = {}
    for replica in details.get("replicas") or []:
        state = enum_text(replica.get("state", "UNKNOWN"))
        states[state] = states.get(state, 0) + 1
    out: dict[str, Any] = {
        "status": enum_text(details.get("status", "UNKNOWN")),
        "replicas": states,
        "running": states.get("RUNNING", 0),
        "total": sum(n for state, n in states.items() if state not in GONE_STATES),
    }
    if isinstance(details.get("target_num_replicas"), int):
        out["target"] = details["target_num_replicas"]
    config = details.get("deployment_config") or {}
    autoscaling = config.get("autoscaling_config")
    if isinstance(autoscaling, dict):
        out["min_replicas"] = autoscaling.get("min_replicas")
        out["max_replicas"] = autoscaling.get("max_replicas")
    elif isinstance(config.get("num_replicas"), int):
        out["min_replicas"] = out["max_replicas"] = config["num_replicas"]
    return out


def serve_sample(app_names: str | list[str], details: dict[str, Any] | None = None) -> dict[str, Any]:
    """One app: deployments by name, as always. Several: `App/Deployment` keys and `apps` statuses."""
    details = serve_details() if details is None else details
    names = [app_names] if isinstance(app_names, str) else list(app_names)
    statuses: dict[str, str] = {}
    deployments: dict[str, Any] = {}
    for app_name in names:
        app = (details.get("applications") or {}).get(app_name)
        statuses[app_name] = "NOT_STARTED" if app is None else enum_text(app.get("status", "UNKNOWN"))
        for name, dep in ((app or {}).get("deployments") or {}).items():
            deployments[name if len(names) == 1 else f"{app_name}/{name}"] = deployment_sample(dep)
    out: dict[str, Any] = {"app_status": _overall(list(statuses.values())), "deployments": deployments}
    if len(names) > 1:
        out["apps"] = statuses
    return out


def _overall(states: list[str]) -> str:
    """RUNNING when every app runs, else the first other state."""
    return next((s for s in states if s != "RUNNING"), "RUNNING") if states else "NOT_STARTED"


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

    def __init__(self, spec: RecorderSpec | None = None, ledger_every_s: float = 2.0):
        spec = spec or RecorderSpec()
        self.interval_s = spec.interval_s
        self.retries = spec.retries
        self.ledger_every_s = ledger_every_s
        self._periodic: Periodic | None = None
        self._last_ledger = 0.0
        # Polls overlap: one slow answer (a busy controller) must not stall the cadence.
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="recorder-poll")
        self._in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._count_lock = threading.Lock()
        self.samples = 0
        self.errors = 0
        self.skipped = 0
        # Memory by role (harness.run.memory_sampler), one sample per round, never two at once.
        self.memory = MemorySampler() if spec.memory else None
        self._memory_lock = threading.Lock()
        self._replicas: dict[int, str] = {}  # pid -> deployment, from Serve's latest answer
        self.memory_samples = 0
        self.memory_ms: list[float] = []

    def start(self, ctx: RunContext) -> None:
        self._periodic = Periodic(self.interval_s, lambda: self._round(ctx), "recorder")
        self._periodic.start()

    def tick(self, ctx: RunContext) -> None:
        pass

    def _poll(self, ctx: RunContext) -> dict[str, Any]:
        # Transient errors (a GCS or controller hiccup) are retried with backoff within one poll.
        retrying = Retrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=0.05, max=min(0.5, self.interval_s)),
            reraise=True,
        )
        asked = time.time()
        sample: dict[str, Any] = {}
        if ctx.scenario.app is not None:  # a workload-only run has no Serve to ask
            details = retrying(serve_details)
            names = self._app_names(ctx)
            sample.update(serve_sample(names, details))
            self._replicas = replica_pids(details, names)
            # Stamped when Serve answered: replica SLOs are measured against this moment.
            sample["t"] = time.time()
        cluster = retrying(cluster_sample)
        sample.setdefault("t", time.time())  # no Serve: when the cluster answered (resource SLOs)
        sample["poll_ms"] = round((sample["t"] - asked) * 1000, 1)
        sample.update(cluster)
        return sample

    @staticmethod
    def _app_names(ctx: RunContext) -> list[str]:
        """Every app of the run's Serve config is sampled."""
        config = ctx.scenario.app.serve_config
        return [a.name for a in config.apps] if config is not None else [ctx.scenario.app.name]

    def _sample(self, ctx: RunContext) -> None:
        try:
            record = self._poll(ctx)
            if not self._stopping():
                ctx.timeline.emit(Sample, **record)
                with self._count_lock:
                    self.samples += 1
        except Exception as exc:  # recorded, never fatal: state polls are eventually consistent
            with self._count_lock:
                self.errors += 1
            ctx.timeline.emit(SampleError, error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            self._sample_memory(ctx)
            self._in_flight.release()

    def _sample_memory(self, ctx: RunContext) -> None:
        if self.memory is None or self._stopping() or not self._memory_lock.acquire(blocking=False):
            return  # off, stopping, or the previous memory sample is still being taken
        try:
            record = self.memory.sample(ctx, self._replicas)
            if not self._stopping():
                ctx.timeline.emit(Memory, **record)
                self.memory_samples += 1
                self.memory_ms.append(record["sample_ms"])
        except Exception as exc:  # as any poll: recorded, never fatal
            with self._count_lock:
                self.errors += 1
            ctx.timeline.emit(SampleError, error=f"{type(exc).__name__}: {exc}"[:300], source="memory")
        finally:
            self._memory_lock.release()

    def _stopping(self) -> bool:
        return self._periodic is not None and self._periodic.stopping.is_set()

    def _round(self, ctx: RunContext) -> None:
        started = time.monotonic()
        if self._in_flight.acquire(blocking=False):
            self._pool.submit(self._sample, ctx)
        else:
            self.skipped += 1  # every poller is still waiting for an answer
        if ctx.cluster is not None and ctx.cluster.owned and started - self._last_ledger >= self.ledger_every_s:
            ctx.ledger.snapshot_descendants()
            self._last_ledger = started

    def stop(self, ctx: RunContext) -> None:
        if self._periodic is not None:
            self._periodic.stop()
        # Polls are bounded by CALL_TIMEOUT_S and retries; do not wait for them here.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def metrics(self) -> dict[str, Any]:
        out = {"recorder_samples": self.samples, "recorder_errors": self.errors,
               "recorder_skipped": self.skipped}
        if self.memory_ms:  # what sampling memory cost the recorder, per sample
            ordered = sorted(self.memory_ms)
            out.update(memory_samples=self.memory_samples,
                       memory_sample_ms_p50=ordered[len(ordered) // 2],
                       memory_sample_ms_max=ordered[-1])
        return out
