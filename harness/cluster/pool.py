"""One local cluster shared by the scenarios of a suite that can share it.

Starting a 3-node cluster costs ~15-20 s here; a suite of short scenarios spends
most of its time on that unless consecutive scenarios reuse it. A scenario may
reuse the running cluster when its cluster spec (nodes, system config, dashboard)
and the Python path its app needs are the same, and it does not destroy nodes.
Anything else gets a fresh cluster that its own Runner starts and stops.

The pool owns the shared cluster: each run deploys and deletes its own app and
kills its own load; the pool stops the cluster (and sweeps every process it
recorded) when the spec changes, after an infrastructure error, and at close().
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from harness.cluster import local as cluster_mod
from harness.cluster.local import ClusterHandle
from harness.gate.config import ResolvedEntry
from harness.procs.ledger import OWNED_FILE, ProcessLedger
from harness.procs.reaper import RunWatch
from harness.scenario.config import Scenario


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
    return json.dumps({
        "nodes": [n.model_dump(mode="json") for n in spec.nodes],
        "system_config": spec.system_config,
        "dashboard": spec.dashboard,
        "python_path": scenario.python_path,
    }, sort_keys=True)


def can_reuse(entry: ResolvedEntry, scenario: Scenario) -> bool:
    if entry.entry.reuse_cluster is False or reuse_key(scenario) is None:
        return False
    if entry.entry.reuse_cluster is True:
        return True  # the suite author vouches that its faults leave nodes alone
    return not destroys_nodes(scenario)


class ClusterPool:
    """Holds at most one running shared cluster (one at a time keeps the machine calm)."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = ProcessLedger(f"pool-{work_dir.name}", work_dir / OWNED_FILE)
        self.handle: ClusterHandle | None = None
        self.started = 0  # clusters this pool started (for the summary)
        self.start_seconds: list[float] = []
        self._key: str | None = None
        self._temp_root: Path | None = None
        # The shared cluster outlives each run: its own reaper covers a SIGKILLed suite.
        self._watch: RunWatch | None = None

    def acquire(self, scenario: Scenario) -> ClusterHandle:
        """The running cluster if it matches, else a fresh one; raises ClusterStartError."""
        key = reuse_key(scenario)
        if key is None:
            raise ValueError(f"scenario {scenario.name!r} cannot share a cluster")
        if self.handle is not None and key == self._key:
            return self.handle
        self.release()
        self._temp_root = cluster_mod.make_temp_root(self.work_dir.name)
        try:
            if self._watch is None:
                self._watch = RunWatch.start(f"pool-{self.work_dir.name}", self.work_dir, self.ledger)
            self._watch.set_temp_root(self._temp_root)
        except OSError:
            pass  # unprotected against a SIGKILL only; teardown still sweeps the ledger
        cluster_mod.prepare_process_env(self._temp_root, scenario.python_path)
        t0 = time.monotonic()
        self.handle = cluster_mod.start_local_cluster(scenario.cluster, self.ledger, self._temp_root)
        self.start_seconds.append(round(time.monotonic() - t0, 3))
        self.started += 1
        self._key = key
        return self.handle

    def release(self) -> list[str]:
        """Stop the shared cluster, if any; returns processes that had to be killed."""
        if self.handle is None:
            return []
        handle, self.handle, self._key = self.handle, None, None
        killed = cluster_mod.stop_cluster(handle, self.ledger)
        try:
            cluster_mod.copy_ray_logs(handle, self.work_dir / "ray_logs" / f"cluster-{self.started}")
        except OSError:
            pass  # logs are a convenience; the runs' own results are complete
        if self._temp_root is not None:
            shutil.rmtree(self._temp_root, ignore_errors=True)
            self._temp_root = None
        return killed

    def close(self) -> list[str]:
        killed = self.release()
        survivors = self.ledger.kill_survivors()
        if self._watch is not None:
            self._watch.finish()
            self._watch = None
        return killed + [f"{p.name}({p.pid})" for p in survivors]
