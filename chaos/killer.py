"""A ResourceKiller that Ray's release chaos scripts can start and stop, run by the harness.

Ray's chaos scripts (`release/nightly_tests/chaos_test/test_chaos.py`) look up the
named actor `ResourceKiller` in namespace `release_test_namespace`, call `run()` before
their workload, then `stop_run()` and `get_total_killed()`. With
`chaos.resource_killer: true` the harness registers an actor with that interface, but
the actor kills nothing: it only records when the script called run() and stop_run().
The harness's driver polls it (KillerRelay), and the chaos component starts the
scenario's seeded schedule at the run() call (offsets count from it) and stops it at
stop_run(); faults are still injected by the harness (ownership guard, timeline
records). Each poll hands the actor the number of faults injected so far, which
get_total_killed() returns (after stop_run(), once the harness has settled it).

The actor holds no CPU (Ray's scripts check that available CPU equals total CPU) and
is pinned to the head node, which node faults never hit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from harness.measure.records import Chaos
from harness.measure.timeline import TimelineWriter
from harness.model.context import InfraError, RunContext

ACTOR_NAME = "ResourceKiller"
NAMESPACE = "release_test_namespace"
POLL_S = 0.1
CALL_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 60.0
# get_total_killed() after stop_run() waits this long for the harness's final count.
SETTLE_TIMEOUT_S = 10.0


def killer_actor_class() -> Any:
    """The actor class, built in a closure so Ray's workers need not import the harness."""
    import asyncio

    import ray

    @ray.remote(num_cpus=0, max_restarts=0)
    class ResourceKiller:
        """Relays a script's run()/stop_run() to the harness; kills nothing itself."""

        def __init__(self, settle_timeout_s: float) -> None:
            self.run_t: float | None = None
            self.stop_t: float | None = None
            self.killed = 0
            self.settle_timeout_s = settle_timeout_s
            self.settled = asyncio.Event()

        def ready(self) -> bool:
            return True

        async def run(self) -> bool:
            if self.run_t is None:
                self.run_t = time.time()
            return True

        async def stop_run(self) -> bool:
            was_running = self.run_t is not None and self.stop_t is None
            if self.stop_t is None:
                self.stop_t = time.time()
            return was_running

        async def get_total_killed(self) -> int:
            if self.stop_t is not None:
                try:
                    await asyncio.wait_for(self.settled.wait(), self.settle_timeout_s)
                except asyncio.TimeoutError:
                    pass
            return self.killed

        async def harness_poll(self, killed: int, final: bool) -> tuple[float | None, float | None]:
            """The harness's side: hand over the count, read the script's calls."""
            self.killed = killed
            if final:
                self.settled.set()
            return self.run_t, self.stop_t

    return ResourceKiller


class KillerRelay:
    """RunComponent: registers the ResourceKiller and polls it on its own thread.

    It starts before the workloads (a script looks the actor up as soon as it runs) and
    stops after them (a script may still call get_total_killed() while it is joined).
    The chaos component binds itself to it: the injected count goes to the actor, and
    the script's stop_run() halts the schedule.
    """

    name = "resource_killer"

    def __init__(self, poll_s: float = POLL_S):
        self.timeline: TimelineWriter | None = None
        self.injected: Callable[[], int] = lambda: 0  # faults injected so far
        self.on_stop: Callable[[], None] = lambda: None  # the script called stop_run()
        self.poll_s = poll_s
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.run_t: float | None = None
        self.stop_t: float | None = None
        self.poll_errors = 0
        self._actor: Any = None
        self._settled = False
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def bind(self, injected: Callable[[], int], on_stop: Callable[[], None]) -> None:
        self.injected, self.on_stop = injected, on_stop

    # -- RunComponent -------------------------------------------------------

    def start(self, ctx: RunContext) -> None:
        from chaos.faults.gcs_state import node_id_of

        self.timeline = ctx.timeline
        head = ctx.cluster.head if ctx.cluster is not None else None
        try:
            self.register(node_id_of(head) if head is not None else None)
        except Exception as exc:
            raise InfraError("resource_killer", f"could not register the ResourceKiller actor: {type(exc).__name__}: {exc}") from exc

    def tick(self, ctx: RunContext) -> None:
        pass

    def stop(self, ctx: RunContext) -> None:
        self.close()
        ctx.artifacts.resource_killer = self.describe()

    def metrics(self) -> dict[str, Any]:
        return {"resource_killer_started": int(self.started.is_set()), "resource_killer_poll_errors": self.poll_errors}

    # -- the actor -----------------------------------------------------------

    def register(self, head_node_id: str | None) -> None:
        """Register the named actor on the head node and start polling it."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options: dict[str, Any] = {"name": ACTOR_NAME, "namespace": NAMESPACE}
        if head_node_id:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(head_node_id, soft=False)
        self._actor = killer_actor_class().options(**options).remote(SETTLE_TIMEOUT_S)
        ray.get(self._actor.ready.remote(), timeout=READY_TIMEOUT_S)
        assert self.timeline is not None
        self.timeline.emit(Chaos, event="killer_ready", name=ACTOR_NAME, namespace=NAMESPACE)
        self._thread = threading.Thread(target=self._loop, name="chaos-killer-relay", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed.wait(self.poll_s):
            self.poll()

    def poll(self) -> None:
        """One round trip: the count goes in, the script's run()/stop_run() times come back."""
        import ray

        final = self.stopped.is_set()
        try:
            run_t, stop_t = ray.get(self._actor.harness_poll.remote(self.injected(), final), timeout=CALL_TIMEOUT_S)
        except Exception as exc:  # the next poll tries again; the count says how often
            self.poll_errors += 1
            if self.poll_errors == 1 and self.timeline is not None:
                self.timeline.emit(Chaos, event="killer_poll_error", detail=f"{type(exc).__name__}: {exc}"[:300])
            return
        self._settled = self._settled or final
        assert self.timeline is not None
        if run_t is not None and not self.started.is_set():
            self.run_t = run_t
            self.timeline.emit(Chaos, t=run_t, event="killer_run", name=ACTOR_NAME)
            self.started.set()
        if stop_t is not None and not self.stopped.is_set():
            self.stop_t = stop_t
            self.timeline.emit(Chaos, t=stop_t, event="killer_stop", name=ACTOR_NAME)
            self.stopped.set()
            self.on_stop()

    def close(self) -> None:
        """Stop polling (one last settled count for a waiting get_total_killed), then drop the actor."""
        import ray

        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=CALL_TIMEOUT_S + 1)
        if self._actor is None:
            return
        if self.stopped.is_set() and not self._settled:
            self.poll()
        try:
            ray.kill(self._actor, no_restart=True)
        except Exception:
            pass

    def describe(self) -> dict[str, Any]:
        return {"name": ACTOR_NAME, "namespace": NAMESPACE, "run_t": self.run_t, "stop_t": self.stop_t,
                "poll_errors": self.poll_errors}
