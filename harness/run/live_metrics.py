"""`--metrics-port N`: the run's live counters for Prometheus, on 127.0.0.1 while the run goes on.

A RunComponent that, like the live view, never talks to Ray: it tails the timeline
(harness.run.live.TimelineTail) on its own thread and folds the new records into
prometheus-client metrics of a registry of its own, served by prometheus-client's HTTP
server on 127.0.0.1:N. docs/prometheus.md lists the names; docs/grafana-live.json draws them.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from harness.cluster.local import LOOPBACK
from harness.measure import stats
from harness.measure.chaos_events import is_chaos_event
from harness.measure.records import Chaos, Dropped, Request, Sample
from harness.measure.timeline import TIMELINE_DIR
from harness.model.context import InfraError, RunContext
from harness.run.live import TimelineTail

# Latency buckets (seconds): 1 ms to 60 s, dense where a Serve app's latencies are.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LIVE_LABELS = ("scenario", "run", "seed")


class LiveMetrics:
    """The live exposition. `fold()` is the whole mapping from records to metrics (tested alone)."""

    def __init__(self, scenario: str, run_id: str, seed: int):
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"scenario": scenario, "run": run_id, "seed": str(seed)}
        names = list(labels)

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> Any:
            return Counter(name, doc, [*names, *extra], registry=self.registry)

        self._labels = labels
        self.sent = counter("harness_live_requests_sent", "final requests made (whatever their outcome)")
        self.outcomes = counter("harness_live_requests", "final requests by outcome", ("outcome",))
        self.dropped = counter("harness_live_dropped", "open model: sends the generator could not make on time")
        self.chaos = counter("harness_live_chaos_events", "chaos events (injected, noticed, cleaned, ...)",
                             ("fault", "event"))
        self.latency = Histogram("harness_live_request_latency_seconds",
                                 "final requests' latency from the intended send time",
                                 [*names, "outcome"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.replicas = Gauge("harness_live_replicas", "replicas of a deployment (running; target: the autoscaler's)",
                              [*names, "deployment", "state"], registry=self.registry)
        self.nodes = Gauge("harness_live_nodes", "Ray nodes by state", [*names, "state"], registry=self.registry)
        self.last_record = Gauge("harness_live_last_record_timestamp_seconds",
                                 "time of the newest record folded", names, registry=self.registry)
        for outcome in ("ok", "shed", "error", "timeout", "conn_error"):  # present from the first scrape
            self.outcomes.labels(**labels, outcome=outcome)
        self.sent.labels(**labels)
        self.dropped.labels(**labels)

    def fold(self, records: list[dict[str, Any]]) -> None:
        lab = self._labels
        newest = None
        for record in records:
            kind = record.get(Request.kind)
            newest = record.get(Request.t) if newest is None else max(newest, record.get(Request.t, newest))
            if kind == Request.KIND and record.get(Request.final, True):
                outcome = stats.outcome_of(record)
                self.sent.labels(**lab).inc()
                self.outcomes.labels(**lab, outcome=outcome).inc()
                latency = record.get(Request.latency_ms)
                if isinstance(latency, (int, float)):
                    self.latency.labels(**lab, outcome=outcome).observe(latency / 1000.0)
            elif kind == Dropped.KIND:
                self.dropped.labels(**lab).inc()
            elif kind == Sample.KIND:
                self._sample(record)
            elif kind == Chaos.KIND and is_chaos_event(record):
                self.chaos.labels(**lab, fault=str(record.get(Chaos.fault) or ""),
                                  event=str(record.get(Chaos.event) or "")).inc()
        if newest is not None:
            self.last_record.labels(**lab).set(newest)

    def _sample(self, record: dict[str, Any]) -> None:
        lab = self._labels
        for name, dep in (record.get(Sample.deployments) or {}).items():
            if not isinstance(dep, dict):
                continue
            self.replicas.labels(**lab, deployment=name, state="running").set(dep.get("running") or 0)
            if isinstance(dep.get("target"), (int, float)):
                self.replicas.labels(**lab, deployment=name, state="target").set(dep["target"])
        if isinstance(record.get(Sample.nodes_alive), int):
            self.nodes.labels(**lab, state="alive").set(record[Sample.nodes_alive])
            self.nodes.labels(**lab, state="dead").set(record.get(Sample.nodes_dead) or 0)


class LiveMetricsServer:
    """RunComponent: serves LiveMetrics on 127.0.0.1:port, refreshed from the timeline at 2 Hz."""

    name = "live_metrics"

    def __init__(self, port: int, period_s: float = 0.5):
        self.port = port
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self.folds = 0
        self.failures = 0

    def start(self, ctx: RunContext) -> None:
        self.live = LiveMetrics(ctx.scenario.name, ctx.run_id, ctx.scenario.seed)
        self.tail = TimelineTail(ctx.run_dir / TIMELINE_DIR)
        try:
            self._server, _ = start_http_server(self.port, addr=LOOPBACK, registry=self.live.registry)
        except OSError as exc:
            raise InfraError("port_conflict", f"--metrics-port {self.port}: cannot listen on "
                                              f"{LOOPBACK}:{self.port} ({exc})") from exc
        self._thread = threading.Thread(target=self._loop, name="live-metrics", daemon=True)
        self._thread.start()

    def tick(self, ctx: RunContext) -> None:
        pass

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self._refresh()

    def _refresh(self) -> None:
        try:
            self.live.fold(self.tail.read_new())
            self.folds += 1
        except Exception:  # never end or slow a run: count and go on
            self.failures += 1

    def stop(self, ctx: RunContext) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._refresh()  # the final counts are served until the server closes
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def metrics(self) -> dict[str, Any]:
        return {"live_metrics_folds": self.folds, "live_metrics_failures": self.failures}
