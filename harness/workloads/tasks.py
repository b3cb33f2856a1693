"""Many Ray tasks with retries beside the traffic, as Ray's chaos_many_tasks tests run them.

Tasks are submitted evenly over `spread_s` with the SPREAD strategy, so some of them
are running on whichever node a fault hits. Each task sleeps `task_s`, optionally
starts `children` child tasks, and returns a value the driver can compute on its
own: a result that raised or never came is lost, one that differs is wrong.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from harness.model.context import RunContext
from harness.model.scenario import TasksWorkloadSpec
from harness.workloads.base import Workload

WAIT_S = 0.2  # how long one collection round waits for results
LOST_NAMED = 20  # lost tasks named in a result (the count says how many in all)


def leaf_value(seed: int, key: int) -> int:
    return (key * 2654435761 + seed) % 2_147_483_647


def expected_value(seed: int, index: int, children: int) -> int:
    """What task `index` must return: its own leaf value plus its children's."""
    base = index * (children + 1)
    return sum(leaf_value(seed, base + j) for j in range(children + 1))


def remote_task(seed: int, options: dict[str, Any]) -> Any:
    """The remote function, built in a closure so workers need not import the harness."""
    import ray

    def leaf(key: int) -> int:  # same as leaf_value; kept inside for pickling by value
        return (key * 2654435761 + seed) % 2_147_483_647

    @ray.remote
    def child(key: int, sleep_s: float) -> int:
        time.sleep(sleep_s)
        return leaf(key)

    @ray.remote
    def task(index: int, children: int, sleep_s: float) -> tuple[int, str]:
        base = index * (children + 1)
        refs = [child.options(**options).remote(base + j, sleep_s) for j in range(1, children + 1)]
        time.sleep(sleep_s)
        return leaf(base) + sum(ray.get(refs)), ray.get_runtime_context().get_node_id()

    return task.options(scheduling_strategy="SPREAD", **options)


class TasksWorkload(Workload):
    def __init__(self, spec: TasksWorkloadSpec, default_spread_s: float):
        super().__init__(spec.name, spec.timeout_s)
        self.spec = spec
        self.spread_s = spec.spread_s or default_spread_s
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.nodes: Counter[str] = Counter()  # where the tasks that answered ran
        self._pending: dict[Any, int] = {}
        self._failed: dict[int, str] = {}  # task index -> the error it raised

    def partial(self) -> dict[str, Any]:
        return self._fields()

    def _fields(self) -> dict[str, Any]:
        submitted = self.counts["submitted"]
        done = self.counts["ok"] + self.counts["wrong"] + self.counts["failed"]
        unfinished = submitted - done
        return {
            "workload": "tasks",
            "planned": self.spec.num_tasks,
            "submitted": submitted,
            "ok": self.counts["ok"],
            "wrong": self.counts["wrong"],
            "failed": self.counts["failed"],
            "unfinished": unfinished,
            "lost": self.counts["failed"] + unfinished + (self.spec.num_tasks - submitted),
            "errors": dict(self.errors),
            "nodes": dict(self.nodes),
            "max_retries": self.spec.max_retries,
            "lost_tasks": self.lost_tasks()[:LOST_NAMED],
        }

    def lost_tasks(self) -> list[int]:
        """Indices of the tasks that raised, never answered, or were never submitted."""
        never = range(self.counts["submitted"], self.spec.num_tasks)
        return sorted([*self._failed, *self._pending.values(), *never])

    def run(self, ctx: RunContext) -> dict[str, Any]:
        import ray

        self.connected_ray()
        spec = self.spec
        options: dict[str, Any] = {"max_retries": spec.max_retries, "num_cpus": spec.num_cpus}
        if spec.resources:
            options["resources"] = dict(spec.resources)
        seed = self.seed(ctx)
        task = remote_task(seed, options)
        started = time.monotonic()
        interval = self.spread_s / spec.num_tasks
        while self._pending or self.counts["submitted"] < spec.num_tasks:
            if self.should_stop():
                break
            due = min(spec.num_tasks, int((time.monotonic() - started) / interval) + 1)
            for index in range(self.counts["submitted"], due):
                self._pending[task.remote(index, spec.children, spec.task_s)] = index
                self.counts["submitted"] += 1
            if self._pending:
                ready, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=WAIT_S)
                for ref in ready:
                    self._collect(seed, ref)
            else:
                time.sleep(min(WAIT_S, interval))
            self.progress(**{k: v for k, v in self._fields().items() if isinstance(v, int)})
        fields = self._fields()
        fields["passed"] = fields["lost"] == 0 and fields["wrong"] == 0
        fields["seconds"] = round(time.monotonic() - started, 3)
        if not fields["passed"]:
            fields["why"] = (
                f"{fields['lost']} of {spec.num_tasks} tasks lost ({fields['failed']} raised, "
                f"{fields['unfinished']} unfinished), {fields['wrong']} wrong; errors: {dict(self.errors)}"
            )
            if fields["lost"]:
                fields["why"] += f"; lost: {self._name_lost()}"
        return fields

    def _collect(self, seed: int, ref: Any) -> None:
        import ray

        index = self._pending.pop(ref)
        try:
            value, node_id = ray.get(ref, timeout=0)
        except Exception as exc:  # each task's failure is counted by type, never raised
            self.counts["failed"] += 1
            self.errors[type(exc).__name__] += 1
            self._failed[index] = type(exc).__name__
            return
        self.nodes[str(node_id)[:12]] += 1
        outcome = "ok" if value == expected_value(seed, index, self.spec.children) else "wrong"
        self.counts[outcome] += 1

    def _name_lost(self) -> str:
        """`task 3 (WorkerCrashedError), task 17 (no answer), ...`: the first LOST_NAMED."""
        lost = self.lost_tasks()
        submitted = self.counts["submitted"]

        def how(i: int) -> str:
            return self._failed.get(i) or ("not submitted" if i >= submitted else "no answer")

        named = ", ".join(f"task {i} ({how(i)})" for i in lost[:LOST_NAMED])
        return named + (f" and {len(lost) - LOST_NAMED} more" if len(lost) > LOST_NAMED else "")

    def cleanup(self, ctx: RunContext) -> None:
        import ray

        for ref in list(self._pending):
            try:
                ray.cancel(ref, force=True)
            except Exception:
                pass
