"""Where `load.placement: cluster` puts its workers: one per distinct node, decided before any starts.

Pure and stdlib only (the config check uses it on the scenario's node list, the run on
the cluster's alive nodes). Order: worker nodes in the cluster's order, the head last;
with `load.node_resource`, only nodes offering that resource. Fewer such nodes than
workers, or a resource no node has, is a config error (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.model.node_info import NodeInfo


class PlacementError(ValueError):
    """The cluster cannot hold the placement asked for: a config error (exit 2)."""

    def __init__(self, key: str, expected: str):
        super().__init__(f"{key}: expected {expected}")
        self.key = key
        self.expected = expected


@dataclass(frozen=True)
class Placement:
    worker: int  # 1-based, as HARNESS_LOAD_WORKER
    node: NodeInfo


def eligible(nodes: list[NodeInfo], resource: str | None) -> list[NodeInfo]:
    """Nodes a worker may go to, in placement order: worker nodes first, the head last."""
    chosen = [n for n in nodes if resource is None or n.resources.get(resource, 0) > 0]
    return [n for n in chosen if not n.is_head] + [n for n in chosen if n.is_head]


def plan_placement(nodes: list[NodeInfo], workers: int, resource: str | None) -> list[Placement]:
    """One worker per distinct node; raises PlacementError when the nodes do not suffice."""
    if resource is not None and not any(n.resources.get(resource, 0) > 0 for n in nodes):
        raise PlacementError("load.node_resource", f"a resource some node offers, got {resource!r} "
                                                   f"(no node of the cluster has it)")
    pool = eligible(nodes, resource)
    if len(pool) < workers:
        which = f"nodes offering {resource!r}" if resource else "alive nodes"
        raise PlacementError("load.workers", f"at most {len(pool)} with load.placement: cluster (one worker "
                                             f"per node; the cluster has {len(pool)} {which}), got {workers}")
    return [Placement(k, node) for k, node in enumerate(pool[:workers], start=1)]


def static_problems(load: Any, cluster: Any) -> list[tuple[str, str]]:
    """The placement against the nodes a cluster the harness starts has when the load starts:
    its node list, or an autoscaling cluster's head and min_workers (workers go to nodes up then)."""
    if load is None or load.placement != "cluster" or cluster.address is not None:
        return []  # an existing cluster is checked once it is up
    if cluster.autoscaling is not None:
        spec = cluster.autoscaling
        nodes = [NodeInfo(name="head", resources=spec.head.offered(), is_head=True, node_id="head")]
        nodes += [NodeInfo(name=f"{t.name}-{k}", resources=t.offered(), node_id=f"{t.name}-{k}")
                  for t in spec.node_types for k in range(t.min_workers)]
    else:
        nodes = [NodeInfo(name=n.name, resources={**n.resources, "CPU": n.num_cpus}, is_head=i == 0, node_id=n.name)
                 for i, n in enumerate(cluster.nodes)]
    try:
        plan_placement(nodes, load.workers, load.node_resource)
    except PlacementError as exc:
        return [(exc.key, exc.expected)]
    return []
