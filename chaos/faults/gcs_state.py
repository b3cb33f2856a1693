"""Cluster state the faults read, straight from the GCS (no dashboard needed)."""

from __future__ import annotations

from typing import Any

from harness.model.cluster_handle import NodeHandle


def actors(class_name: str | None = None, prefix: str | None = None, state: str = "ALIVE") -> list[dict[str, Any]]:
    """Actors of the cluster by class name (exact or prefix), sorted by name then id."""
    from ray._private import state as ray_state

    table = ray_state.actors(actor_state_name=state) or {}
    found = [
        info
        for info in table.values()
        if (class_name is None or info.get("ActorClassName") == class_name)
        and (prefix is None or str(info.get("ActorClassName", "")).startswith(prefix))
    ]
    return sorted(found, key=lambda a: (a.get("Name") or "", a["ActorID"]))


def actor(actor_id: str) -> dict[str, Any]:
    from ray._private import state as ray_state

    return ray_state.actors(actor_id=actor_id) or {}


def dead_nodes(node_ids: list[str]) -> list[str]:
    """Which of these node ids ray.nodes() reports as not alive."""
    import ray

    alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
    return [n for n in node_ids if n not in alive]


def alive_node(node_id: str) -> bool:
    return not dead_nodes([node_id])


def node_id_of(node: NodeHandle) -> str:
    """A node's hex id as the GCS knows it.

    For local nodes ClusterHandle.node_id holds ray_node.unique_id (a socket path,
    not the id), so read the started node's own id first.
    """
    own = getattr(node.ray_node, "node_id", None) if node.ray_node is not None else None
    return str(own or node.node_id)


def node_name(nodes: dict[str, NodeHandle], node_id: str | None) -> str | None:
    return next((name for name, n in nodes.items() if node_id_of(n) == node_id), None)
