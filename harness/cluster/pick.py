"""Which lease a run stands on: an address to connect to, an autoscaling cluster, a local
cluster of its own, or a suite pool's shared cluster (harness.cluster.lease holds the
lease's interface, each implementation its own module)."""

from __future__ import annotations

from collections.abc import Callable

from harness.cluster.autoscaling_cluster import AutoscalingLease
from harness.cluster.existing import ExistingLease
from harness.cluster.lease import ClusterLease, LeasePool
from harness.cluster.local import LocalLease
from harness.model.scenario import Scenario


def own_lease(scenario: Scenario) -> ClusterLease:
    """The lease of a run that holds its cluster alone: connect to an address, or start one."""
    spec = scenario.cluster
    if spec.address is not None:
        return ExistingLease(spec)
    if spec.autoscaling is not None:
        return AutoscalingLease(spec, scenario.python_path)
    return LocalLease(spec, scenario.python_path)


def lease_for(scenario: Scenario, pool: LeasePool | None = None, share: bool | None = None,
              on_connected: Callable[[], None] | None = None) -> ClusterLease:
    """The lease a run of `scenario` stands on; with a pool, its shared cluster where allowed.

    share: the suite entry's `reuse_cluster` (None: share unless the scenario destroys nodes);
    on_connected: for a pool that starts its shared cluster now (LeaseSite.on_connected).
    """
    if pool is not None:
        return pool.lease(scenario, share, on_connected)
    return own_lease(scenario)

