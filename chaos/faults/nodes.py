"""Node faults: a raylet killed, an instance terminated, a spot preemption (drain, then stop).

Targets are node names the planner chose (never the head). Every pid is checked
by the ownership guard before a signal goes out. The cluster has noticed once
ray.nodes() reports the node as not alive (after Ray's health checks fail).
"""

from __future__ import annotations

import signal
import time
from typing import Any

import psutil
from pydantic import Field

from chaos.api import Fault, FaultArgs, FaultEnv, Injection, Shot
from chaos.fault_errors import FaultError, NoTarget
from chaos.faults.gcs_state import dead_nodes, node_id_of
from chaos.guard import NotOwned
from harness.cluster.local import LOOPBACK
from harness.model.cluster_handle import NodeHandle


def _node(env: FaultEnv, name: str) -> NodeHandle:
    cluster = env.ctx.cluster
    node = cluster.nodes.get(name) if cluster is not None else None
    if node is None or not node.alive:
        raise NoTarget(f"node {name!r} is not a live node of the cluster")
    if node.is_head:
        raise FaultError(f"node {name!r} is the head node: never a target")
    return node


def _injected(targets: list[dict[str, Any]], duration_s: float = 0.0, detail: str = "") -> Injection:
    failed = [t for t in targets if "error" in t]
    if len(failed) == len(targets):
        error = NotOwned if all(t.get("refused") for t in failed) else FaultError
        raise error("; ".join(t["error"] for t in failed))
    return Injection(outcome="injected", targets=targets, detail=detail, duration_s=duration_s)


class _NodeFault(Fault):
    target_kind = "node"
    kills_node = True

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        targets = []
        for name in shot.nodes:
            node = _node(env, name)
            target: dict[str, Any] = {"node": name, "node_id": node_id_of(node)}
            try:
                self.kill(env, node, target)
                node.alive = False
            except NotOwned as exc:  # nothing was signalled
                target.update(error=str(exc), refused=True)
            except FaultError as exc:
                target["error"] = str(exc)
            targets.append(target)
        return _injected(targets)

    def kill(self, env: FaultEnv, node: NodeHandle, target: dict[str, Any]) -> None:
        """Kill one node's processes, noting what was hit in `target`; raise FaultError."""
        raise NotImplementedError

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        ids = [t["node_id"] for t in injection.targets if "error" not in t]
        return "node marked dead in ray.nodes()" if len(dead_nodes(ids)) == len(ids) else None


class KillRaylet(_NodeFault):
    """SIGKILL a worker node's raylet: the node dies, its workers with it."""

    name = "kill_raylet"

    def kill(self, env: FaultEnv, node: NodeHandle, target: dict[str, Any]) -> None:
        if not env.ctx.cluster.owned:  # no pid is provably ours: ask the raylet to die
            target["via"] = shutdown_raylet(node_id_of(node), graceful=False)
            return
        pids = node.process_pids().get("raylet", [])
        if not pids:
            raise FaultError(f"node {node.name!r} has no raylet pid")
        env.guard.kill(pids[0], signal.SIGKILL)
        target["pid"] = pids[0]


class TerminateNode(_NodeFault):
    """Every process of a node at once (raylet, agents, workers): an instance termination."""

    name = "terminate_node"

    def kill(self, env: FaultEnv, node: NodeHandle, target: dict[str, Any]) -> None:
        if not env.ctx.cluster.owned:
            raise NotOwned("terminate_node kills a node's processes: this run did not start the cluster")
        procs = [env.guard.check(pid) for pid in _node_tree(node)]  # every pid checked first
        if not procs:
            raise FaultError(f"node {node.name!r} has no live process")
        for proc in procs:  # then all signals at once
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        target["pids"] = sorted(p.pid for p in procs)
        _forget(env, node.name)


class DrainArgs(FaultArgs):
    grace_s: float = Field(default=5.0, ge=0, le=600)


class DrainNode(_NodeFault):
    """A spot preemption: ask the GCS to drain the node, wait the grace period, then stop it."""

    name = "drain_node"
    Args = DrainArgs

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        grace = self.args.grace_s  # type: ignore[attr-defined]
        targets = []
        notes = []
        for name in shot.nodes:
            node = _node(env, name)
            target: dict[str, Any] = {"node": name, "node_id": node_id_of(node)}
            try:
                accepted, message = _drain(env, node_id_of(node), grace)
                target["drain_accepted"] = accepted
                if not accepted:
                    notes.append(f"{name}: drain rejected ({message}); stopping after the grace period")
            except Exception as exc:  # the DrainNode API is private and may change
                target["drain_accepted"] = False
                notes.append(f"{name}: DrainNode unavailable ({type(exc).__name__}: {exc}); fallback: graceful stop")
            targets.append(target)
        return _injected(targets, duration_s=grace, detail="; ".join(notes))

    def cleanup(self, env: FaultEnv, injection: Injection) -> None:
        """The grace period is over: stop the node (SIGTERM, then SIGKILL)."""
        if injection.state.get("stopped"):
            return
        injection.state["stopped"] = True
        for target in injection.targets:
            node = env.ctx.cluster.nodes.get(target["node"]) if env.ctx.cluster else None
            if node is None or not node.alive:
                continue
            try:
                if env.ctx.cluster.owned:
                    for pid in _node_tree(node):
                        env.guard.check(pid)
                    env.ctx.cluster.remove_node(target["node"], graceful=True)
                else:
                    target["via"] = shutdown_raylet(node_id_of(node), graceful=True)
                    node.alive = False
                target["stopped_t"] = time.time()
            except Exception as exc:
                target["error"] = f"stop failed: {exc}"


def _drain(env: FaultEnv, node_id: str, grace_s: float) -> tuple[bool, str]:
    import ray
    from ray.core.generated import autoscaler_pb2

    client = ray._raylet.GcsClient(address=env.ctx.cluster.address)
    deadline_ms = int((time.time() + grace_s) * 1000)
    accepted, message = client.drain_node(
        node_id, autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"),
        "harness chaos: drain_node (spot preemption)", deadline_ms,
    )
    return bool(accepted), str(message)


def shutdown_raylet(node_id: str, graceful: bool) -> str:
    """Ray's own ShutdownRaylet RPC (as its RayletKiller sends), for a cluster on loopback."""
    import grpc
    import ray
    from ray.core.generated import node_manager_pb2, node_manager_pb2_grpc

    info = next((n for n in ray.nodes() if n["NodeID"] == node_id and n.get("Alive")), None)
    if info is None:
        raise NoTarget(f"node {node_id} is not alive")
    if info["NodeManagerAddress"] != LOOPBACK:  # this harness never talks to another host
        raise FaultError(f"node {node_id} is at {info['NodeManagerAddress']}, not {LOOPBACK}")
    try:
        from ray._private.test_utils import auth_token_grpc_metadata

        metadata = auth_token_grpc_metadata()
    except ImportError:
        metadata = ()
    with grpc.insecure_channel(f"{LOOPBACK}:{info['NodeManagerPort']}") as channel:
        stub = node_manager_pb2_grpc.NodeManagerServiceStub(channel)
        try:
            stub.ShutdownRaylet(node_manager_pb2.ShutdownRayletRequest(graceful=graceful),
                                metadata=metadata, timeout=10)
        except grpc.RpcError as exc:  # an ungraceful shutdown may not answer at all
            if graceful or exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise FaultError(f"ShutdownRaylet failed: {exc.code().name}") from exc
    return f"ShutdownRaylet(graceful={graceful})"


def _node_tree(node: NodeHandle) -> list[int]:
    """The node's own processes and their descendants (its Ray workers)."""
    pids: set[int] = set()
    for group in node.process_pids().values():
        for pid in group:
            try:
                proc = psutil.Process(pid)
                pids.add(pid)
                pids.update(child.pid for child in proc.children(recursive=True))
            except psutil.NoSuchProcess:
                continue
    return sorted(pids)


def _forget(env: FaultEnv, name: str) -> None:
    """Take a killed node out of the local Cluster's books so teardown does not trip on it."""
    try:
        env.ctx.cluster.remove_node(name, graceful=False)
    except Exception:
        pass  # its processes are gone already; the ledger sweep covers any straggler
