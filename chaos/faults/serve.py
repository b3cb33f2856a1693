"""Serve faults: a replica, a proxy or the controller dies.

Serve's actors are found in the GCS actor table (no dashboard needed) and sorted by
name, so the planner's seeded draws pick the same position every run. On a cluster
this run started they die by SIGKILL of their pid (a crash; the pid passes the
ownership guard first); on an existing cluster, by ray.kill on their handle.
The cluster has noticed once Serve runs a replacement (a replica: once serve.status()
shows as many RUNNING replicas of its deployment as before the kill).
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any, Literal

from chaos.api import Fault, FaultArgs, FaultEnv, Injection, Shot, pick
from chaos.fault_errors import FaultError, NoTarget
from chaos.faults.gcs_state import actor, actors, node_name

if TYPE_CHECKING:
    from harness.model.scenario import FaultSpec, Scenario

SERVE_NAMESPACE = "serve"
CONTROLLER_CLASS = "ServeController"
PROXY_CLASS = "ProxyActor"


class KillArgs(FaultArgs):
    # sigkill: a crash of the process (owned clusters); ray_kill: through Ray (any cluster).
    method: Literal["auto", "sigkill", "ray_kill"] = "auto"


class _ActorFault(Fault):
    Args = KillArgs

    @classmethod
    def scenario_problems(cls, scenario: Scenario, entry: FaultSpec, args: FaultArgs, key: str) -> list[tuple[str, str]]:
        if scenario.cluster.address is not None and getattr(args, "method", "auto") == "sigkill":
            return [(f"{key}.args.method", (
                "auto or ray_kill on cluster.address: sigkill signals a pid, and no pid of a cluster this run "
                "did not start can be proven its own, so every shot would be refused"))]
        return []

    def candidates(self, env: FaultEnv, shot: Shot) -> list[dict[str, Any]]:
        raise NotImplementedError

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        found = self.candidates(env, shot)
        if not found:
            raise NoTarget(f"no live {self.target_kind} to kill")
        chosen = pick(found, shot.picks or [0.0])
        targets = [self._kill(env, info) for info in chosen]
        if all("error" in t for t in targets):
            raise FaultError("; ".join(t["error"] for t in targets))
        by_class: dict[str, int] = {}
        for info in found:
            by_class[info.get("ActorClassName")] = by_class.get(info.get("ActorClassName"), 0) + 1
        return Injection(outcome="injected", targets=targets, state={"by_class": by_class})

    def _kill(self, env: FaultEnv, info: dict[str, Any]) -> dict[str, Any]:
        target = {
            "actor_id": info["ActorID"],
            "actor": info.get("Name") or info.get("ActorClassName"),
            "class": info.get("ActorClassName"),
            "pid": info.get("Pid"),
            "node_id": info.get("Address", {}).get("NodeID"),
            "node": _node_name(env, info.get("Address", {}).get("NodeID")),
        }
        method = self.args.method  # type: ignore[attr-defined]
        if method == "auto":
            method = "sigkill" if env.ctx.cluster is not None and env.ctx.cluster.owned else "ray_kill"
        target["method"] = method
        try:
            if method == "sigkill":
                env.guard.kill(int(info["Pid"]), signal.SIGKILL)
            else:
                import ray

                ray.kill(ray.get_actor(info["Name"], namespace=SERVE_NAMESPACE), no_restart=False)
        except FaultError as exc:
            target["error"] = str(exc)
        except Exception as exc:
            target["error"] = f"{type(exc).__name__}: {exc}"
        return target


def _node_name(env: FaultEnv, node_id: str | None) -> str | None:
    return None if env.ctx.cluster is None else node_name(env.ctx.cluster.nodes, node_id)


def _gone(targets: list[dict[str, Any]]) -> bool:
    """Every killed actor is no longer the live incarnation it was (dead, or a new pid)."""
    for target in targets:
        if "error" in target:
            continue
        info = actor(target["actor_id"])
        if info.get("State") == "ALIVE" and info.get("Pid") == target["pid"]:
            return False
    return True


class KillReplica(_ActorFault):
    """Kill a Serve replica (of one deployment with targets.deployment)."""

    name = "kill_replica"
    target_kind = "replica"

    def _class_prefix(self, env: FaultEnv, shot: Shot) -> tuple[str | None, str | None]:
        app, deployment = env.app_of(shot.deployment)
        if deployment:
            return f"ServeReplica:{app}:{deployment}", None
        return None, f"ServeReplica:{app}:"

    def candidates(self, env: FaultEnv, shot: Shot) -> list[dict[str, Any]]:
        exact, prefix = self._class_prefix(env, shot)
        return actors(class_name=exact, prefix=prefix)

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        running = _running_replicas(env.app_of(shot.deployment)[0])  # before the kill: the level to come back to
        injection = super().inject(env, shot)
        deployments = {str(t.get("class", "")).rsplit(":", 1)[-1] for t in injection.targets}
        injection.state["running_before"] = {d: running.get(d, 0) for d in deployments}
        return injection

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        if not _gone(injection.targets):
            return None
        # A new replica actor must exist: serve.status() alone may not have seen the death yet.
        killed = {t["actor_id"] for t in injection.targets}
        classes = {t.get("class") for t in injection.targets}
        fresh = [a for c in classes for a in actors(class_name=c) if a["ActorID"] not in killed]
        if len(fresh) < sum(injection.state["by_class"].get(c, 0) for c in classes):
            return None
        app = str(next(iter(injection.targets), {}).get("class", "")).split(":")[1:2] or [env.app_name]
        running = _running_replicas(app[0])
        before = injection.state["running_before"]
        if any(running.get(d, 0) < n for d, n in before.items()):
            return None
        counts = ", ".join(f"{d}={running.get(d, 0)}" for d in sorted(before))
        return f"replica replaced: serve.status() shows {counts} RUNNING again"


def _running_replicas(app_name: str) -> dict[str, int]:
    """RUNNING replicas per deployment of the app, as serve.status() reports them."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    if app is None:
        return {}
    # replica_states is keyed by ReplicaState, a str enum: "RUNNING" finds it.
    return {name: int(dep.replica_states.get("RUNNING", 0)) for name, dep in app.deployments.items()}


class KillProxy(_ActorFault):
    """Kill a Serve proxy (the HTTP ingress of one node)."""

    name = "kill_proxy"
    target_kind = "proxy"

    def candidates(self, env: FaultEnv, shot: Shot) -> list[dict[str, Any]]:
        return actors(class_name=PROXY_CLASS)

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        if not _gone(injection.targets):
            return None
        nodes = {t["node_id"] for t in injection.targets if "error" not in t}
        killed = {t["actor_id"] for t in injection.targets}
        back = {a["Address"]["NodeID"] for a in actors(class_name=PROXY_CLASS) if a["ActorID"] not in killed}
        return "proxy replaced on its node" if nodes <= back else None


class KillController(_ActorFault):
    """Kill the Serve controller; Ray restarts it (max_restarts=-1)."""

    name = "kill_controller"
    target_kind = "controller"

    def candidates(self, env: FaultEnv, shot: Shot) -> list[dict[str, Any]]:
        return actors(class_name=CONTROLLER_CLASS)

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        for target in injection.targets:
            if "error" in target:
                continue
            info = actor(target["actor_id"])
            if info.get("State") != "ALIVE" or info.get("Pid") == target["pid"]:
                return None
        return "controller restarted (new pid)"
