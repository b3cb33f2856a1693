"""The user's own Locust class (`load.user_class: "pkg.module:MyUser"`) under the harness.

Closed model: Locust runs the class as it always does, under the harness's shape.
Open model: one dispatcher (a subclass of the user's class, so its client, host and
on_start are the user's) walks the seeded schedule; each arrival runs one of the
class's tasks, chosen by weight from the run's seed.

Every request the class makes reaches the timeline through Locust's own `request`
event. For an arrival the harness scheduled, the first request's latency counts
from the intended send time (no coordinated omission). A task that raises becomes
an `error` request record named `task:<name>`; the load process lives on.

`python -m locustfiles.userclass pkg.module:MyUser closed|open` checks a class in
a process of its own (harness.load.traffic calls it at validation: importing Locust
monkey-patches the importing process). Runs in the load process only: never import ray.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import time
import traceback
from typing import Any

import gevent
from locust import HttpUser, User
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser

from harness.measure.records import Request
from locustfiles.policy import classify


class UserClassError(Exception):
    pass


def load_user_class(spec: str) -> type[User]:
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UserClassError(f"expected an importable module {module_name!r} ({type(exc).__name__}: {exc})") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UserClassError(f"expected a class {class_name!r} in module {module_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, (HttpUser, FastHttpUser))):
        raise UserClassError(f"expected a Locust HttpUser or FastHttpUser subclass, got {spec!r} ({cls!r})")
    return cls


def task_functions(cls: type[User]) -> list[Any]:
    """The class's tasks, each repeated by its weight (as Locust lays them out)."""
    return list(getattr(cls, "tasks", []) or [])


def check(spec: str, model: str) -> str | None:
    try:
        cls = load_user_class(spec)
    except UserClassError as exc:
        return str(exc)
    tasks = task_functions(cls)
    if not tasks:
        return f"expected a user class with at least one @task, {spec!r} has none"
    if model == "open" and not all(callable(t) and not isinstance(t, type) for t in tasks):
        return f"expected @task functions (not TaskSets) for the open model in {spec!r}"
    return None


def task_name(task: Any) -> str:
    return getattr(task, "__name__", type(task).__name__)


class RequestRecorder:
    """Locust's request event -> one `request` record per request, final, on the run's timeline."""

    def __init__(self, state: Any):
        self.state = state

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, exception: Any = None, start_time: float | None = None,
                   **_kwargs: Any) -> None:
        state = self.state
        status = int(getattr(response, "status_code", 0) or 0)
        error = None if exception is None else f"{type(exception).__name__}: {exception}"[:200]
        outcome = classify(status, error) if status or error else "ok"
        if exception is not None and outcome == "ok":
            outcome = "error"  # marked failed by the user's own code (catch_response)
        record: dict[str, Any] = {"id": state.next_id(), "name": name or "",
                                  "status": status, "outcome": outcome, "bytes": int(response_length or 0),
                                  "attempt": 1, "final": True, **state.caller.extra}
        arrival = getattr(gevent.getcurrent(), "harness_arrival", None)
        now = time.perf_counter()
        if arrival is not None and not arrival.get("used"):
            arrival["used"] = True  # the arrival's first request: from the intended send time
            t = arrival["wall"]
            record["latency_ms"] = round((now - arrival["perf"]) * 1000.0, 3)
            record["lag_ms"] = round(max(0.0, record["latency_ms"] - float(response_time)), 3)
        else:
            t = start_time if start_time is not None else time.time() - response_time / 1000.0
            record["latency_ms"] = round(float(response_time), 3)
        record["attempt_ms"] = round(float(response_time), 3)
        if error is not None:
            record["error"] = error
        self._count(outcome)
        state.writer.write(Request.new(t=t, **record))

    def on_user_error(self, user_instance: Any = None, exception: Any = None, tb: Any = None,
                      **_kwargs: Any) -> None:
        """Closed model: Locust caught a task's exception; the task is the frame it called."""
        frames = traceback.extract_tb(tb) if tb is not None else []
        called = [after.name for before, after in itertools.pairwise(frames) if before.name == "execute_task"]
        self.task_failed(called[-1] if called else "task", exception, None)

    def task_failed(self, name: str, exception: Any, arrival: dict[str, Any] | None) -> None:
        """A task raised: an `error` record, so success ratios see it; the process lives on."""
        now_wall = time.time()
        record = Request.new(
            t=arrival["wall"] if arrival else now_wall, id=self.state.next_id(),
            name=f"task:{name}", status=0, outcome="error", bytes=0, attempt=1, final=True,
            latency_ms=round((time.perf_counter() - arrival["perf"]) * 1000.0, 3) if arrival else 0.0,
            user_error=True, error=f"{type(exception).__name__}: {exception}"[:200], **self.state.caller.extra)
        self._count("error")
        self.state.writer.write(record)

    def _count(self, outcome: str) -> None:
        tally = self.state.tally
        tally.requests += 1
        tally.attempts += 1
        tally.by_outcome[outcome] = tally.by_outcome.get(outcome, 0) + 1


class TaskCaller:
    """The open model's sender for a user class: each arrival runs one task, picked by weight."""

    def __init__(self, *, user: Any, tasks: list[Any], recorder: RequestRecorder, extra: dict[str, Any]):
        self.user = user
        self.tasks = tasks
        self.recorder = recorder
        self.extra = extra

    def pick(self, u: float) -> Any:
        return _Named(self.tasks[min(int(u * len(self.tasks)), len(self.tasks) - 1)])

    def call(self, _session: Any, _index: int, intended_wall: float, intended_perf: float,
             _scheduled: bool, task: Any) -> None:
        arrival = {"wall": intended_wall, "perf": intended_perf, "used": False}
        gevent.getcurrent().harness_arrival = arrival
        try:
            task.fn(self.user)
        except (StopUser, InterruptTaskSet, RescheduleTask, gevent.GreenletExit):
            pass
        except Exception as exc:  # the user's code: counted, never fatal
            self.recorder.task_failed(task.name, exc, arrival)


class _Named:
    __slots__ = ("fn", "name")

    def __init__(self, fn: Any):
        self.fn = fn
        self.name = task_name(fn)


def harness_classes(
    spec: str, state: Any, max_in_flight: int, mixin: type | None = None
) -> tuple[type[User], type[User]]:
    """(closed, open) subclasses of the user's class for the locustfile to expose.

    mixin: put before the user's class (the worker's own target host)."""
    cls = load_user_class(spec)
    tasks = task_functions(cls)
    bases: tuple[type, ...] = (mixin, cls) if mixin is not None else (cls,)
    closed = type("HarnessClosedUser", bases, {"__module__": "locustfiles.harness_locust"})

    def dispatch(self: Any) -> None:
        state.run_open_loop(self.client, TaskCaller(user=self, tasks=tasks, recorder=state.recorder, extra=state.caller.extra))
        raise StopUser()

    attrs: dict[str, Any] = {"__module__": "locustfiles.harness_locust"}
    if issubclass(cls, FastHttpUser):
        attrs["concurrency"] = max_in_flight
    opened = type("HarnessOpenUser", bases, attrs)
    # After the class exists: Locust's metaclass merges a base class's tasks into `tasks`,
    # and the dispatcher must run nothing but the schedule.
    opened.tasks = [dispatch]
    return closed, opened


if __name__ == "__main__":
    problem = check(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "closed")
    if problem:
        print(problem)
        sys.exit(2)
