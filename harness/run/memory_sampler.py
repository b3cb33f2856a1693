"""Resident memory of every process the run owns, by role, and object-store use per node.

The recorder calls `MemorySampler.sample` on each of its rounds; the result is one
`memory` record (harness.measure.records.Memory; read back by harness.measure.memory_series).

Which processes: the harness itself (`driver`) and every process below it that the run
owns: the descendants of its children that were not there before the run (the ledger's
`foreign` ones: a test's own cluster when the harness runs inside pytest), plus the
node processes of the run's cluster and everything below them (a suite's shared
cluster was started before the run, yet it is the one the run stands on). A cluster the
run only connects to (`cluster.address`) has no process of the run: only the driver and
the load are sampled then. Nothing is found by name; names only say a process's role.

Roles, from Ray's process titles (`ray::ServeReplica:app:Echo`, `ray::IDLE`, ...):
`gcs` (gcs_server), `raylet`, `agent` (Ray's per-node helpers: dashboard and runtime-env
agents, log monitor, autoscaler monitor, dashboard), `serve_controller`, `proxy`,
`replica` (per deployment: the pids Serve reports for its replicas, else the title),
`worker` (every other Ray worker: tasks, actors, idle workers), `load` (Locust),
`driver`, `other` (a workload's script, `ray start`, ...).

Cost: the process tree is walked every `refresh_s` (one pass over /proc: its cost grows
with every process on the machine, not only the run's);
between walks a sample reads each known process's RSS (/proc/PID/statm, tens of
microseconds each) and the object store's use per node from the GCS (Ray lowers each
node's `object_store_memory` resource by what its plasma store holds, so used = total -
available). bench/recorder_poll.py times it (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psutil

from harness.measure.memory_series import MB
from harness.model.context import RunContext

REFRESH_S = 2.0
# Ray's per-node helper processes: their titles (Ray sets `ray::<Class>`) or the script they run.
AGENT_TITLES = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
AGENT_SCRIPTS = ("dashboard/agent.py", "dashboard/dashboard.py", "runtime_env/agent/main.py",
                 "_private/log_monitor.py", "autoscaler/_private/monitor.py")
REPLICA_TITLE = "ray::ServeReplica:"
# Roles a later walk may correct (see MemorySampler._refresh).
PROVISIONAL_ROLES = frozenset({"worker", "other"})


def role_of(name: str, cmdline: list[str], pid: int, driver_pid: int) -> tuple[str, str | None]:
    """(role, deployment) of a process from its name and command line (pure).

    A replica's deployment from its title `ray::ServeReplica:<app>:<deployment>[.<method>]`
    (the recorder prefers the pid Serve reports: `replica_pids`)."""
    if pid == driver_pid:
        return "driver", None
    title = cmdline[0] if cmdline else name
    if name == "gcs_server" or title.endswith("/gcs_server"):
        return "gcs", None
    if name == "raylet" or title.endswith("/raylet"):
        return "raylet", None
    if title.startswith(REPLICA_TITLE):
        rest = title[len(REPLICA_TITLE):].split(" ", 1)[0]
        deployment = rest.rsplit(":", 1)[-1].split(".", 1)[0] or None
        return "replica", deployment
    if title.startswith("ray::ServeController"):
        return "serve_controller", None
    if title.startswith("ray::ProxyActor"):
        return "proxy", None
    if title.startswith(AGENT_TITLES) or any(s in arg for arg in cmdline[:3] for s in AGENT_SCRIPTS):
        return "agent", None
    if any("locust" in arg for arg in cmdline[:4]):
        return "load", None
    if title.startswith("ray::"):
        return "worker", None
    return "other", None


def replica_pids(details: dict[str, Any], app_names: Iterable[str]) -> dict[int, str]:
    """pid -> deployment of every replica Serve reports (`App/Deployment` with several apps)."""
    names = list(app_names)
    out: dict[int, str] = {}
    for app_name in names:
        app = (details.get("applications") or {}).get(app_name) or {}
        for dep_name, dep in (app.get("deployments") or {}).items():
            key = dep_name if len(names) == 1 else f"{app_name}/{dep_name}"
            for replica in dep.get("replicas") or []:
                pid = replica.get("pid")
                if isinstance(pid, int) and pid > 0:
                    out[pid] = key
    return out


@dataclass
class Tracked:
    proc: psutil.Process
    role: str
    deployment: str | None


class MemorySampler:
    def __init__(self, refresh_s: float = REFRESH_S):
        self.refresh_s = refresh_s
        self.driver_pid = os.getpid()
        self._procs: dict[int, Tracked] = {}
        self._me: psutil.Process | None = None
        self._last_refresh = float("-inf")

    def _owned(self, ctx: RunContext) -> dict[int, psutil.Process]:
        """The harness's descendants (one pass over /proc) less what is not the run's: the
        subtrees of children it had before the run, unless they are the run's cluster nodes."""
        if self._me is None:
            self._me = psutil.Process(self.driver_pid)
        found = {p.pid: p for p in self._me.children(recursive=True)}
        nodes: set[int] = set()
        if ctx.cluster is not None:
            for node in ctx.cluster.nodes.values():
                for pids in node.process_pids().values():
                    nodes.update(pids)
        for pid in {pid for pid, _ in ctx.ledger.foreign} - nodes:
            if pid not in found:
                continue
            try:
                below = found[pid].children(recursive=True)
            except psutil.Error:
                below = []
            for proc in (found[pid], *below):
                if proc.pid not in nodes:
                    found.pop(proc.pid, None)
        for pid in ctx.ledger.excluded():
            found.pop(pid, None)
        found[self.driver_pid] = self._me
        return found

    def _refresh(self, ctx: RunContext) -> None:
        """Walk the tree again. A role is read once per process, except the provisional ones,
        read again at every walk: a `worker`'s title changes when an idle worker becomes an
        actor (replicas go by Serve's pids), and an `other` may be a child caught between fork
        and exec, still showing its parent's command line (Locust started while the machine is
        busy read as `other` for the whole run, and the run had no `load` samples)."""
        procs: dict[int, Tracked] = {}
        for pid, proc in self._owned(ctx).items():
            known = self._procs.get(pid)
            if known is not None and known.role not in PROVISIONAL_ROLES and known.proc == proc:
                procs[pid] = known  # same pid and start time: same process, same role
                continue
            try:
                with proc.oneshot():
                    role, deployment = role_of(proc.name(), proc.cmdline(), pid, self.driver_pid)
            except psutil.Error:
                continue
            procs[pid] = Tracked(proc, role, deployment)
        self._procs = procs

    def processes(self, ctx: RunContext) -> dict[int, Tracked]:
        now = time.monotonic()
        if now - self._last_refresh >= self.refresh_s:
            self._refresh(ctx)
            self._last_refresh = now
        return self._procs

    def sample(self, ctx: RunContext, replicas: dict[int, str] | None = None) -> dict[str, Any]:
        """One `memory` record's fields: RSS by role and deployment, object store per node."""
        started = time.perf_counter()
        roles: dict[str, dict[str, Any]] = {}
        deployments: dict[str, dict[str, Any]] = {}
        replicas = replicas or {}
        for pid, tracked in list(self.processes(ctx).items()):
            try:
                rss = tracked.proc.memory_info().rss
            except psutil.Error:
                self._procs.pop(pid, None)  # gone: the next walk settles it
                continue
            role, deployment = ("replica", replicas[pid]) if pid in replicas else (tracked.role, tracked.deployment)
            mb = rss / MB
            _add(roles, role, mb)
            if role == "replica" and deployment:
                _add(deployments, deployment, mb)
        out: dict[str, Any] = {"roles": _rounded(roles), "deployments": _rounded(deployments)}
        store = object_store_mb(ctx)
        if store:
            out["object_store"] = store
        out["sample_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return out


def _add(table: dict[str, dict[str, Any]], key: str, mb: float) -> None:
    entry = table.setdefault(key, {"mb": 0.0, "n": 0, "max_mb": 0.0})
    entry["mb"] += mb
    entry["n"] += 1
    entry["max_mb"] = max(entry["max_mb"], mb)


def _rounded(table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {"mb": round(v["mb"], 1), "n": v["n"], "max_mb": round(v["max_mb"], 1)} for k, v in table.items()}


def object_store_mb(ctx: RunContext) -> dict[str, float]:
    """MB in use in each live node's object store: its total minus what Ray reports available."""
    if ctx.cluster is None:
        return {}
    from ray._private import state

    total = state.total_resources_per_node()
    available = state.available_resources_per_node()
    names = {node.node_id: name for name, node in ctx.cluster.nodes.items()}
    out: dict[str, float] = {}
    for node_id, resources in total.items():
        capacity = resources.get("object_store_memory")
        free = (available.get(node_id) or {}).get("object_store_memory")
        if isinstance(capacity, (int, float)) and isinstance(free, (int, float)):
            out[names.get(node_id, node_id[:8])] = round(max(0.0, capacity - free) / MB, 2)
    return out
