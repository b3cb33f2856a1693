"""One local cluster shared by the scenarios of a suite that can share it.

Starting a 3-node cluster costs ~15-20 s here; a suite of short scenarios spends
most of its time on that unless consecutive scenarios reuse it. A scenario may
reuse the running cluster when its cluster spec (nodes, system config, dashboard)
and the Python path its app needs are the same, and it does not destroy nodes.
Anything else gets a fresh cluster that its own Runner starts and stops.

The pool owns the shared cluster (a LocalLease held in the pool's name, so it is
started and stopped as a run's own is): each run holds a `PoolLease` on it, deploys
and deletes its own app (asked for at teardown; the next run waits for it only before
its own deploy, so the deletion overlaps judging, reports and history) and kills its
own load; the pool stops the cluster (and
sweeps every process it recorded) when the spec changes, when a scenario that may
not share comes (it gets a fresh cluster of its own: one at a time on this
machine), after a run's infrastructure error, and at close().
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from harness.cluster.lease import ClusterLease, LeaseSite, Released
from harness.cluster.local import LocalLease
from harness.cluster.pick import own_lease
from harness.model.cluster_handle import ClusterHandle
from harness.model.scenario import Scenario
from harness.procs.ledger import OWNED_FILE, ProcessLedger
from harness.procs.reaper import RunWatch


def destroys_nodes(scenario: Scenario) -> bool:
    """A scenario with a chaos section may kill nodes or Serve's controller: never share."""
    chaos = scenario.model_dump().get("chaos")
    if isinstance(chaos, dict):
        return any(bool(v) for v in chaos.values() if isinstance(v, (list, dict)))
    return bool(chaos)


def reuse_key(scenario: Scenario) -> str | None:
    """What must match for two scenarios to share a cluster; None: cannot share."""
    spec = scenario.cluster
    if spec.address is not None:
        return None  # an existing cluster: the Runner only connects to it
    if spec.autoscaling is not None:
        return None  # Ray's autoscaler over fake nodes: its own lease starts and stops it
    return json.dumps({
        "nodes": [n.model_dump(mode="json") for n in spec.nodes],
        "system_config": spec.system_config,
        "dashboard": spec.dashboard,
        "python_path": scenario.python_path,
    }, sort_keys=True)


def may_share(scenario: Scenario, share: bool | None = None) -> bool:
    """share: a suite entry's `reuse_cluster` (None: share unless the scenario destroys nodes)."""
    if share is False or reuse_key(scenario) is None:
        return False
    if share is True:
        return True  # the suite author vouches that its faults leave nodes alone
    return not destroys_nodes(scenario)


class ClusterPool:
    """Holds at most one running shared cluster (one at a time keeps the machine calm)."""

    def __init__(self, work_dir: Path, console: Console | None = None):
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.console = console
        self.ledger = ProcessLedger(f"pool-{work_dir.name}", work_dir / OWNED_FILE)
        self.started = 0  # clusters this pool started (for the summary)
        self.start_seconds: list[float] = []
        # Why the shared cluster could not be used (the runs fell back to their own): summary.json.
        self.start_failures: list[str] = []
        self._key: str | None = None
        self._lease: LocalLease | None = None
        self._site: LeaseSite | None = None  # the running cluster's
        # The shared cluster outlives each run: its own reaper covers a SIGKILLed suite.
        self._watch: RunWatch | None = None

    @property
    def handle(self) -> ClusterHandle | None:
        return None if self._lease is None else self._lease.handle

    def lease(self, scenario: Scenario, share: bool | None = None,
              on_connected: Callable[[], None] | None = None) -> ClusterLease:
        """A run's lease: on the shared cluster where the scenario may share it, else its own.

        The shared cluster is started (or reused) now, before the run's clock starts; a fresh one
        calls on_connected once the driver is connected, while its worker nodes join (the run
        starts Serve's controller there meanwhile, as on a cluster of its own). If
        it does not start, for whatever reason (a harness bug included), the run gets a
        cluster of its own, which reports its own error as the run's (exit 3), never an
        exception out of the suite.
        """
        if may_share(scenario, share):
            try:
                return PoolLease(self, self.acquire(scenario, on_connected))
            except Exception as exc:  # noqa: BLE001 - the run's own lease reports what is wrong
                reason = f"{scenario.name}: shared cluster not used ({type(exc).__name__}: {exc})"
                self.start_failures.append(reason)
                if self.console is not None:
                    self.console.print(f"[yellow]{reason}; the run starts its own[/]")
        else:
            self.release()  # one cluster at a time on this machine
        return own_lease(scenario)

    def acquire(self, scenario: Scenario, on_connected: Callable[[], None] | None = None) -> ClusterHandle:
        """The running cluster if it matches, else a fresh one; raises ClusterStartError."""
        key = reuse_key(scenario)
        if key is None:
            raise ValueError(f"scenario {scenario.name!r} cannot share a cluster")
        if self._lease is not None and self._lease.handle is not None and key == self._key:
            return self._lease.handle
        self.release()
        lease = LocalLease(scenario.cluster, scenario.python_path)
        site = self._next_site()
        site.on_connected = on_connected
        t0 = time.monotonic()
        try:
            handle = lease.acquire(site)
        except BaseException:
            lease.release(site)  # the temp root of a start that failed
            raise
        self.start_seconds.append(round(time.monotonic() - t0, 3))
        self.started += 1
        self._lease, self._site, self._key = lease, site, key
        return handle

    def _next_site(self) -> LeaseSite:
        try:
            if self._watch is None:
                self._watch = RunWatch.start(f"pool-{self.work_dir.name}", self.work_dir, self.ledger)
        except OSError:
            pass  # unprotected against a SIGKILL only; teardown still sweeps the ledger
        logs = self.work_dir / "ray_logs" / f"cluster-{self.started + 1}"
        return LeaseSite(name=self.work_dir.name, ledger=self.ledger, logs_dir=logs, watch=self._watch)

    def release(self) -> list[str]:
        """Stop the shared cluster, if any; returns processes that had to be killed."""
        if self._lease is None or self._site is None:
            return []
        lease, site = self._lease, self._site
        self._lease, self._site, self._key = None, None, None
        return lease.release(site).killed  # logs are a convenience: the runs' own results are complete

    def close(self) -> list[str]:
        killed = self.release()
        survivors = self.ledger.kill_survivors()
        if self._watch is not None:
            self._watch.finish()
            self._watch = None
        return killed + [f"{p.name}({p.pid})" for p in survivors]


class PoolLease(ClusterLease):
    """A run's hold on the pool's running cluster: released, it stays up for the next run."""

    kind = "pool"
    outlives_run = True
    shared = True

    def __init__(self, pool: ClusterPool, handle: ClusterHandle):
        super().__init__()
        self.pool = pool
        self.handle = handle

    def acquire(self, site: LeaseSite) -> ClusterHandle:
        assert self.handle is not None  # the pool acquired it when it made this lease
        return self.handle

    def release(self, site: LeaseSite, failed: bool = False, keep_logs: bool = True) -> Released:
        if failed and self.pool.handle is self.handle:
            self.pool.release()  # the cluster may be what broke: the next run gets a fresh one
        return Released()
