"""What a run stands on, as data: the cluster handle and its nodes' handles.

`ClusterHandle` and `NodeHandle` are what every part of a run reads of the cluster
(addresses, nodes, ports); the lease that started the cluster (harness.cluster) fills
them and gives the handle its `backend` (Ray's `Cluster`, an autoscaling head process)
and, where nodes can be added, its `node_starter`. `NodeInfo` is one node as planners
see it (chaos schedule, load worker placement): a name, its resources, whether it is
the head, and where known its Ray node id and address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # below this floor too: harness.model.scenario
    from harness.model.scenario import NodeSpec

# Ports each node's processes listen on (attributes `<kind>_port` of Ray's Node).
NODE_PORTS = ("node_manager", "metrics_export", "metrics_agent", "runtime_env_agent", "dashboard_agent_listen")


@dataclass(kw_only=True)
class NodeHandle:
    name: str
    spec: NodeSpec | None
    node_id: str
    is_head: bool
    ray_node: Any = None  # ray._private.node.Node for local clusters
    alive: bool = True
    # Where the node's Prometheus endpoint listens (127.0.0.1): set when the harness started it.
    metrics_export_port: int | None = None

    @property
    def metrics_port(self) -> int | None:
        """The node's metrics export port, when this run knows it (its own nodes only)."""
        port = getattr(self.ray_node, "metrics_export_port", None) if self.ray_node is not None else None
        port = port if isinstance(port, int) and port > 0 else self.metrics_export_port
        return port if isinstance(port, int) and port > 0 else None

    def process_pids(self) -> dict[str, list[int]]:
        """The node's own processes by type (raylet, gcs_server, ...)."""
        if self.ray_node is None:
            return {}
        out: dict[str, list[int]] = {}
        for kind, infos in self.ray_node.all_processes.items():
            out[kind] = [info.process.pid for info in infos if info.process is not None]
        return out


@dataclass(kw_only=True)
class ClusterHandle:
    """What the rest of the run needs to know about the cluster."""

    address: str
    owned: bool  # True when this run started it (and must stop it)
    nodes: dict[str, NodeHandle] = field(default_factory=dict)
    temp_dir: Path | None = None
    # Worker node name -> the port its Serve proxy binds (RAY_SERVE_WORKER_PROXY_HTTP_PORT), so
    # proxies of nodes sharing this host are reachable one by one (load.target: node_proxy).
    proxy_ports: dict[str, int] = field(default_factory=dict)
    # What the lease started: ray.cluster_utils.Cluster (local), the head process (autoscaling).
    backend: Any = None
    # Starts one more worker node of a cluster this run started (harness.cluster.local).
    node_starter: Callable[[NodeSpec], NodeHandle] | None = None

    @property
    def head(self) -> NodeHandle | None:
        return next((n for n in self.nodes.values() if n.is_head), None)

    def workers(self) -> list[NodeHandle]:
        return [n for n in self.nodes.values() if not n.is_head]

    def ports(self) -> dict[str, int]:
        """Every TCP port the run's own Ray processes listen on, by component."""
        out: dict[str, int] = {}
        if self.address.rpartition(":")[2].isdigit():
            out["gcs"] = int(self.address.rpartition(":")[2])
        for name, node in self.nodes.items():
            ray_node = node.ray_node
            if ray_node is None or not node.alive:
                continue
            for kind in NODE_PORTS:
                port = getattr(ray_node, f"{kind}_port", None)
                if isinstance(port, int) and port > 0:
                    out[f"{name}.{kind}"] = port
        return out

    def remove_node(self, name: str, graceful: bool = False) -> None:
        """Kill every process of a worker node of a local cluster."""
        node = self.nodes[name]
        if not self.owned or node.is_head or node.ray_node is None:
            raise ValueError(f"node {name!r} is not a worker node this run started")
        self.backend.remove_node(node.ray_node, allow_graceful=graceful)
        node.alive = False

    def add_node(self, spec: NodeSpec) -> NodeHandle:
        """Start one more worker node (e.g. a replacement after a fault)."""
        if not self.owned or self.node_starter is None:
            raise ValueError("cannot add nodes to a cluster this run did not start")
        handle = self.node_starter(spec)
        self.nodes[spec.name] = handle
        return handle
