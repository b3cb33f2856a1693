"""The harness watching its own parts: a failure of one is an infrastructure error with its cause.

HealthGuard is a run component; on every check it looks at
  - the results disk: free space below `health.min_free_disk_mb`, or a timeline
    write that failed, ends the run as `disk_full` (before the results cannot
    be written any more);
  - the cluster: the head's GCS or raylet process gone (a cluster this run
    started), or the GCS port refusing connections for `health.cluster_lost_after_s`,
    ends the run as `cluster_lost` (the driver would otherwise hang on Ray calls
    and Ray would end the driver process itself after its reconnect timeout).
The Locust process is watched by the runner's loop; `describe_load_exit` names
why its end is an infrastructure error.
"""

from __future__ import annotations

import errno
import shutil
import signal
import socket
import time
from typing import Any

import psutil

from harness.model.context import InfraError, RunContext
from harness.model.scenario import HealthSpec

MB = 1024 * 1024
HEAD_VITAL = ("gcs_server", "raylet")


def describe_load_exit(code: int | None, ran_s: float, duration_s: float) -> str | None:
    """Why the load process's end is an infrastructure error, or None when it ended normally."""
    if code is not None and code < 0:
        try:
            how = signal.Signals(-code).name
        except ValueError:
            how = f"signal {-code}"
        return f"locust process died (killed by {how}) after {ran_s:.1f}s of {duration_s:g}s of load"
    if code:
        return f"locust exited with code {code} after {ran_s:.1f}s of {duration_s:g}s of load"
    # Locust stops itself after -t; far earlier means something stopped it (e.g. a SIGTERM).
    if ran_s < duration_s - max(2.0, 0.1 * duration_s):
        return f"locust stopped after {ran_s:.1f}s of {duration_s:g}s of load"
    return None


def gcs_reachable(address: str, timeout_s: float = 0.5) -> str | None:
    """None if the GCS port accepts a connection, else why not."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return None
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


class HealthGuard:
    name = "health"

    def __init__(self, spec: HealthSpec):
        self.spec = spec
        self.checks = 0
        self._next_check = 0.0
        self._unreachable_since: float | None = None

    def start(self, ctx: RunContext) -> None:
        self.check(ctx)

    def tick(self, ctx: RunContext) -> None:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.spec.check_interval_s
            self.check(ctx)

    def check(self, ctx: RunContext) -> None:
        self.checks += 1
        self._check_disk(ctx)
        self._check_cluster(ctx)

    def _check_disk(self, ctx: RunContext) -> None:
        error = ctx.timeline.write_error
        if error is not None:
            kind = "disk_full" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "results_write"
            raise InfraError(kind, f"writing the timeline failed: {error}")
        free_mb = shutil.disk_usage(ctx.run_dir).free / MB
        if free_mb < self.spec.min_free_disk_mb:
            raise InfraError(
                "disk_full",
                f"results disk of {ctx.run_dir} has {free_mb:.1f} MB free, below "
                f"health.min_free_disk_mb={self.spec.min_free_disk_mb:g}",
            )

    def _check_cluster(self, ctx: RunContext) -> None:
        cluster = ctx.cluster
        if cluster is None:
            return
        head = cluster.head
        if cluster.owned and head is not None:
            for kind, pids in head.process_pids().items():
                if kind not in HEAD_VITAL:
                    continue
                for pid in pids:
                    if not _running(pid):
                        raise InfraError("cluster_lost", f"the head node's {kind} (pid {pid}) exited")
        problem = gcs_reachable(cluster.address) if cluster.address else None
        if problem is None:
            self._unreachable_since = None
            return
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
        elif now - self._unreachable_since >= self.spec.cluster_lost_after_s:
            raise InfraError(
                "cluster_lost",
                f"GCS at {cluster.address} unreachable for {now - self._unreachable_since:.1f}s ({problem})",
            )

    def stop(self, ctx: RunContext) -> None:
        pass

    def metrics(self) -> dict[str, Any]:
        return {"health_checks": self.checks}


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
