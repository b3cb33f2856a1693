"""An existing cluster (`cluster.address`): only connected to.

Nothing is started there and nothing of it is stopped: release() disconnects the
driver; the run removes its own app from the cluster first (`outlives_run`).
"""

from __future__ import annotations

from harness.cluster.lease import ClusterLease, LeaseSite, Released
from harness.cluster.local import (
    LOOPBACK,
    ClusterStartError,
    prepare_driver,
    stop_cluster,
    unfence_ray_init,
)
from harness.model.cluster_handle import ClusterHandle, NodeHandle
from harness.model.scenario import ClusterSpec


def connect_existing(spec: ClusterSpec) -> ClusterHandle:
    prepare_driver()
    import ray
    from tenacity import Retrying, stop_after_delay, wait_exponential

    def connect() -> None:
        try:
            ray.init(address=spec.address, _node_ip_address=LOOPBACK, logging_level="WARNING", log_to_driver=False)
        except Exception:
            ray.shutdown()  # leave no half-made connection before the next try
            raise

    unfence_ray_init()
    # A cluster that is still coming up refuses the first tries: retry with backoff.
    retrying = Retrying(stop=stop_after_delay(spec.start_timeout_s),
                        wait=wait_exponential(multiplier=0.5, max=5), reraise=True)
    try:
        retrying(connect)
    except Exception as exc:
        raise ClusterStartError(
            f"could not connect to cluster at {spec.address} within {spec.start_timeout_s:g}s: {exc}"
        ) from exc
    handle = ClusterHandle(address=spec.address, owned=False)
    for info in ray.nodes():
        if not info.get("Alive"):
            continue
        name = info.get("NodeName") or info["NodeID"][:8]
        is_head = "node:__internal_head__" in info.get("Resources", {})
        handle.nodes.setdefault(name, NodeHandle(name=name, spec=None, node_id=info["NodeID"], is_head=is_head))
    return handle


class ExistingLease(ClusterLease):
    kind = "existing"
    outlives_run = True

    def __init__(self, spec: ClusterSpec):
        super().__init__()
        self.spec = spec

    def acquire(self, site: LeaseSite) -> ClusterHandle:
        self.handle = connect_existing(self.spec)
        return self.handle

    def release(self, site: LeaseSite, failed: bool = False, keep_logs: bool = True) -> Released:
        handle, self.handle = self.handle, None
        if handle is not None:
            stop_cluster(handle, site.ledger)  # not owned: disconnects (and fences ray.init) only
        return Released()
