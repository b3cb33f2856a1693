"""kill_task_worker: SIGKILL the worker process running a task (not an actor).

Running tasks come from the GCS task events (no dashboard needed): a normal task
whose latest attempt is RUNNING and not yet finished or failed, with its worker
pid. They are sorted by (name, task id) for the planner's seeded draw. The
cluster has noticed once the attempt is marked FAILED or a retry starts.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from chaos.api import Fault, FaultArgs, FaultEnv, Injection, Shot, pick
from chaos.fault_errors import FaultError, NoTarget

if TYPE_CHECKING:
    from harness.model.scenario import FaultSpec, Scenario


def task_attempts() -> dict[tuple[str, int], dict[str, Any]]:
    """(task id, attempt) -> {name, type, states, pid, node_id} from the GCS task events."""
    from ray._private import state as ray_state
    from ray.core.generated import common_pb2

    status = common_pb2.TaskStatus
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for event in ray_state.state._get_all_task_events():
        key = (event.task_id.hex(), int(event.attempt_number))
        row = out.setdefault(key, {"task_id": key[0], "attempt": key[1], "states": set(), "pid": 0})
        if event.HasField("task_info"):
            row["name"] = event.task_info.name
            row["type"] = common_pb2.TaskType.Name(event.task_info.type)
        if event.HasField("state_updates"):
            updates = event.state_updates
            row["states"].update(status.Name(s) for s in updates.state_ts_ns)
            if updates.worker_pid:
                row["pid"] = int(updates.worker_pid)
            if updates.node_id:
                row["node_id"] = updates.node_id.hex()
    return out


def running_tasks() -> list[dict[str, Any]]:
    attempts = task_attempts()
    latest: dict[str, int] = {}
    for task_id, attempt in attempts:
        latest[task_id] = max(attempt, latest.get(task_id, -1))
    running = [
        row
        for (task_id, attempt), row in attempts.items()
        if attempt == latest[task_id]
        and row.get("type") == "NORMAL_TASK"
        and "RUNNING" in row["states"]
        and not row["states"] & {"FINISHED", "FAILED"}
        and row["pid"] > 0
    ]
    return sorted(running, key=lambda r: (r.get("name", ""), r["task_id"]))


class KillTaskWorker(Fault):
    """SIGKILL the worker process that runs a task."""

    name = "kill_task_worker"
    target_kind = "task_worker"

    @classmethod
    def scenario_problems(cls, scenario: Scenario, entry: FaultSpec, args: FaultArgs, key: str) -> list[tuple[str, str]]:
        """Tasks come from a tasks or script workload, or from the user's own app code."""
        if any(w.type in ("tasks", "script") for w in scenario.workloads):
            return []
        if scenario.app is not None and not scenario.app.is_builtin:
            return []  # the user's app may run tasks of its own
        runs = "the built-in app runs no task" if scenario.app is not None else "there is no app"
        return [(f"{key}.fault", (
            f"a tasks or script workload for {cls.name!r}: {runs} and no workload starts one, "
            "so it could never find a task to kill"))]

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        found = running_tasks()
        if not found:
            raise NoTarget("no task is running")
        targets = []
        for row in pick(found, shot.picks or [0.0]):
            target = {k: row.get(k) for k in ("task_id", "attempt", "name", "pid", "node_id")}
            try:
                env.guard.kill(row["pid"], signal.SIGKILL)
            except FaultError as exc:
                target["error"] = str(exc)
            targets.append(target)
        if all("error" in t for t in targets):
            raise FaultError("; ".join(t["error"] for t in targets))
        return Injection(outcome="injected", targets=targets)

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        attempts = task_attempts()
        seen = []
        for target in injection.targets:
            if "error" in target:
                continue
            row = attempts.get((target["task_id"], target["attempt"]), {})
            if "FAILED" in row.get("states", set()):
                seen.append("attempt failed")
            elif (target["task_id"], target["attempt"] + 1) in attempts:
                seen.append("retried")
            else:
                return None
        return "task " + ", ".join(sorted(set(seen)))
