"""What the autoscaler does, sampled onto the timeline; and the guard against node runaway.

`NodeRecorder` polls, at the recorder's rate (`recorder.interval_s`), on its own thread:
- the autoscaler's status (Ray's monitor writes it to the GCS key-value store as JSON
  each update: active nodes and pending launches per type, failed nodes, the unmet
  resource demand), asked with backoff (tenacity) and never trusted to exist yet;
- which nodes are alive (ray.nodes());
- the provider's own list (harness.cluster.fake_provider's state file: booting, hidden).

Each poll becomes one `nodes` record:
    {"types": {TYPE: {"alive": n, "pending": n, "terminating": n}}, "demand": [[{res: amt}, count]],
     "unmet": bool, "autoscaler": {...compact status...}, "refused": n, "wanted_max": n}
`alive`: Ray reports the node alive; `pending`: launched (or asked for) but not yet alive
(the provider's booting or hidden nodes, or the autoscaler's launches in flight, whichever is more);
`terminating`: alive in Ray, already dropped by the provider.

At stop it scans the monitor's logs and writes one `autoscaler_exception` record per
exception line it logged (harness.slo.node_metrics judges them).

`NodeGuard` ends the run as `host_guard` (exit 3) when the autoscaler keeps asking
for more nodes than the node cap allows.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tenacity import Retrying, stop_after_attempt, wait_exponential

from harness.cluster.autoscaling_cluster import head_process
from harness.cluster.fake_provider import read_json
from harness.measure.records import (
    AutoscalerException,
    HostGuardRecord,
    Nodes,
    NodeTypes,
    SampleError,
)
from harness.model.context import InfraError, RunContext
from harness.model.scenario import RecorderSpec
from harness.run.periodic import Periodic

STATUS_KEY = "__autoscaling_status"  # ray._private.ray_constants.DEBUG_AUTOSCALING_STATUS
HEAD_TYPE = "ray.head.default"
# A line a Python traceback ends with, or Ray's own error lines.
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+(?:Error|Exception|Reached)\b:|.*\bERROR\b.*|Traceback \(most recent call last\))")
MAX_EXCEPTION_RECORDS = 20


def autoscaler_status() -> dict[str, Any] | None:
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(STATUS_KEY)
    return None if not raw else json.loads(raw)


def nodes_record(status: dict[str, Any] | None, alive_ids: set[str], provider: dict[str, Any]) -> dict[str, Any]:
    """One `nodes` record from the three sources (pure: unit-tested on made-up inputs)."""
    report = (status or {}).get("autoscaler_report") or {}
    load = (status or {}).get("load_metrics_report") or {}
    listed: dict[str, dict[str, Any]] = provider.get("nodes") or {}
    types: dict[str, dict[str, int]] = {}

    def bump(node_type: str | None, field: str, n: int = 1) -> None:
        if node_type and node_type != HEAD_TYPE:
            entry = types.setdefault(node_type, {"alive": 0, "pending": 0, "terminating": 0})
            entry[field] += n

    mapping = dict(report.get("node_type_mapping") or {})
    mapping.update({node_id: info.get("type") for node_id, info in listed.items()})
    known = "nodes" in provider  # without the provider's list, nothing is known to be terminating
    for node_id in alive_ids:
        bump(mapping.get(node_id), "alive" if node_id in listed or not known else "terminating")
    booting: dict[str, int] = {}
    for node_id, info in listed.items():
        if node_id not in alive_ids and info.get("type"):
            booting[info["type"]] = booting.get(info["type"], 0) + 1
    # A launch in flight may already be listed by the provider: the larger count, not the sum.
    launches = {t: int(n) for t, n in (report.get("pending_launches") or {}).items()}
    for node_type in set(booting) | set(launches):
        bump(node_type, "pending", max(booting.get(node_type, 0), launches.get(node_type, 0)))
    demand = [[dict(shape), int(count)] for shape, count in (load.get("resource_demand") or [])]
    record: dict[str, Any] = {
        "types": types,
        "demand": demand,
        "unmet": bool(demand),
        "refused": int(provider.get("refused", 0)),
        "wanted_max": int(provider.get("wanted_max", 0)),
        "node_cap": provider.get("node_cap"),
    }
    if status is not None:
        record["autoscaler"] = {
            "active": report.get("active_nodes") or {},
            "pending_launches": report.get("pending_launches") or {},
            "failed": len(report.get("failed_nodes") or []),
            "updated_t": status.get("time"),
        }
    return record


class NodeRecorder:
    name = "node_recorder"

    def __init__(self, spec: RecorderSpec | None = None):
        spec = spec or RecorderSpec()
        self.interval_s = spec.interval_s
        self.retries = spec.retries
        self._periodic: Periodic | None = None
        self.samples = 0
        self.errors = 0
        self.exceptions: list[str] = []
        self.latest: dict[str, Any] = {}

    def start(self, ctx: RunContext) -> None:
        spec = ctx.scenario.cluster.autoscaling
        if spec is not None:  # the floors and ceilings node SLOs default to
            ctx.timeline.emit(NodeTypes, min_workers={t.name: t.min_workers for t in spec.node_types},
                              max_workers={t.name: t.max_workers for t in spec.node_types},
                              node_cap=spec.resolved_cap())
        self._periodic = Periodic(self.interval_s, lambda: self._sample(ctx), "node-recorder")
        self._periodic.start()

    def tick(self, ctx: RunContext) -> None:
        pass

    def poll(self, ctx: RunContext) -> dict[str, Any]:
        import ray

        head = head_process(ctx)
        retrying = Retrying(stop=stop_after_attempt(self.retries),
                            wait=wait_exponential(multiplier=0.05, max=0.5), reraise=True)
        status = retrying(autoscaler_status)
        alive = {n["NodeID"] for n in retrying(ray.nodes) if n.get("Alive")}
        provider = read_json(str(head.state_file)) if head is not None else {}
        record = nodes_record(status, alive, provider)
        record["t"] = time.time()
        return record

    def _sample(self, ctx: RunContext) -> None:
        try:
            record = self.poll(ctx)
            self.latest = record
            ctx.timeline.emit(Nodes, **record)
            self.samples += 1
        except Exception as exc:  # eventually consistent state: recorded, never fatal
            self.errors += 1
            ctx.timeline.emit(SampleError, source="nodes", error=f"{type(exc).__name__}: {exc}"[:300])

    def stop(self, ctx: RunContext) -> None:
        if self._periodic is not None:
            self._periodic.stop()
        head = head_process(ctx)
        if head is None:
            return
        for path in head.monitor_logs():
            for line in exception_lines(path):
                self.exceptions.append(line)
                if len(self.exceptions) <= MAX_EXCEPTION_RECORDS:
                    ctx.timeline.emit(AutoscalerException, line=line, log=path.name)

    def metrics(self) -> dict[str, Any]:
        return {"node_samples": self.samples, "node_sample_errors": self.errors,
                "autoscaler_exceptions": len(self.exceptions)}


def exception_lines(path: Path) -> list[str]:
    """Lines of a monitor log that name an exception (a traceback's last line, ERROR lines)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.strip()[:300] for line in text.splitlines() if _EXCEPTION_LINE.match(line.strip())
            and not line.strip().startswith("Traceback")]


class NodeGuard:
    """Ends the run when the autoscaler keeps asking for nodes past the node cap."""

    name = "node_guard"
    REFUSALS = 2  # asked past the cap on two updates: it keeps adding, not a one-off

    def __init__(self, recorder: NodeRecorder, node_cap: int):
        self.recorder = recorder
        self.node_cap = node_cap

    def start(self, ctx: RunContext) -> None:
        pass

    def tick(self, ctx: RunContext) -> None:
        head = head_process(ctx)
        state = read_json(str(head.state_file)) if head is not None else {}
        refused = int(state.get("refused", 0))
        if refused >= self.REFUSALS:
            wanted = int(state.get("wanted_max", 0))
            message = (f"node runaway: the autoscaler wanted {wanted} worker nodes, the node cap of this "
                       f"machine is {self.node_cap} ({refused} launches refused): the run was stopped, "
                       f"its results say nothing about the release")
            ctx.timeline.emit(HostGuardRecord, tripped="node_cap", value=wanted, bound=self.node_cap, refused=refused)
            raise InfraError("host_guard", message)

    def stop(self, ctx: RunContext) -> None:
        pass

    def metrics(self) -> dict[str, Any]:
        return {}
