"""The cluster a run stands on, as a lease: acquire() gives its handle, release() gives it back.

    own local        harness.cluster.local.LocalLease              started at acquire, stopped at release
    autoscaling      harness.cluster.autoscaling_cluster.AutoscalingLease  the same, Ray's autoscaler over fake nodes
    existing address harness.cluster.existing.ExistingLease        connected to; never started, never stopped
    shared pool      harness.cluster.pool.PoolLease                a suite's running cluster; the pool stops it

The runner asks `lease_for` for its scenario's lease (a suite or calibration passes
its pool) and uses it without knowing which it got: what differs is in the facts
a lease states (`outlives_run`, `shared`) and the handle's (`owned`, the nodes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.model.cluster_handle import ClusterHandle
from harness.model.scenario import Scenario
from harness.procs.ledger import ProcessLedger


class TempRootWatch(Protocol):
    """The reaper of whoever holds the cluster (harness.procs.reaper.RunWatch)."""

    def set_temp_root(self, temp_root: Path) -> None: ...


@dataclass(kw_only=True)
class LeaseSite:
    """Who holds a lease: the ledger that records what it starts, where its Ray logs go."""

    name: str  # a run id or a pool's name
    ledger: ProcessLedger
    logs_dir: Path
    watch: TempRootWatch | None = None  # told the temp root, so a SIGKILLed holder's is swept too
    # Called once this driver is connected to a cluster being started, before its worker nodes
    # join (a local cluster only): the runner starts Serve's controller there meanwhile.
    on_connected: Callable[[], None] | None = None


@dataclass
class Released:
    """What a release did: processes that had to be killed after Ray's shutdown, notes."""

    killed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step of the release


class ClusterLease(ABC):
    """One run's hold on a cluster."""

    kind: str  # "local", "autoscaling", "existing", "pool": for messages and tests
    # The cluster stays up after release(): the run removes its own app from it first.
    outlives_run: bool = False
    # The cluster came from a pool, started by someone else and kept for the next run.
    shared: bool = False

    def __init__(self) -> None:
        self.handle: ClusterHandle | None = None

    @abstractmethod
    def acquire(self, site: LeaseSite) -> ClusterHandle:
        """Start or connect; raises harness.cluster.local.ClusterStartError (or PortConflict)."""

    @abstractmethod
    def release(self, site: LeaseSite, failed: bool = False, keep_logs: bool = True) -> Released:
        """Give the cluster back; `failed`: the run ended in an error (the cluster may be what broke).

        Must not raise, and is called even when acquire() failed or never ran.
        """


class LeasePool(Protocol):
    """A holder of shared clusters (harness.cluster.pool.ClusterPool)."""

    def lease(self, scenario: Scenario, share: bool | None = None,
              on_connected: Callable[[], None] | None = None) -> ClusterLease: ...
