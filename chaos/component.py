"""The chaos run component: plans the schedule, fires faults on time, records everything.

start():  load the named faults, plan the whole schedule (a pure function of the
          scenario and seed, stored in ctx.artifacts.chaos_schedule), start the
          fault proxy if a network fault is planned (load is rerouted through it),
          prepare each fault, and start the scheduler thread.
thread:   waits for load to start, then for each planned time; starts one thread per
          shot (chaos.threads) so a slow injection never delays the next one.
shot:     injects (and records the planned and actual time, target and outcome);
          chaos.watch then follows each injected fault until the cluster noticed it
          and its duration is over. Every step is a `chaos` timeline record; each
          injected fault is also a window (`fault-N`).
stop():   records planned shots that never fired, cleans up active faults, stops the
          proxy. Nothing is dropped in silence.

With `chaos.resource_killer: true` the schedule's origin is not the load's start but
the moment a script called `ResourceKiller.run()` (chaos.killer relays it), and the
script's `stop_run()` ends the schedule: shots not yet due are `not_reached`.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from chaos import fault_registry as registry
from chaos.api import Fault, FaultEnv, Injection, Shot
from chaos.fault_errors import FaultError, NoTarget
from chaos.faults.gcs_state import node_id_of
from chaos.guard import NotOwned, OwnershipGuard
from chaos.killer import KillerRelay
from chaos.plan import (
    PlannedShot,
    Traits,
    nodes_of_scenario,
    plan,
    unplanned_entries,
)
from chaos.proxy import FaultProxy
from chaos.threads import ThreadGroup
from chaos.watch import Active, Watcher
from harness.measure.records import Chaos
from harness.measure.stats import percentile
from harness.model.context import RunContext
from harness.model.node_info import NodeInfo
from harness.model.scenario import ChaosSpec
from harness.seed import stream

LOAD_WAIT_POLL_S = 0.01


class ChaosComponent:
    name = "chaos"

    def __init__(self, spec: ChaosSpec, join_timeout_s: float = 60.0, relay: KillerRelay | None = None):
        self.spec = spec
        self.join_timeout_s = join_timeout_s  # at stop: for injections still in flight
        self.shots: list[PlannedShot] = []
        self.results: dict[str, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._env: FaultEnv | None = None
        self._ctx: RunContext | None = None
        self._stop = threading.Event()
        # The schedule fires nothing more: the run is ending, or the script called stop_run().
        self._halt = threading.Event()
        # The ResourceKiller relay (its own component, started before the workloads);
        # one of our own when none is handed in.
        self._own_relay = spec.resource_killer and relay is None
        self._relay: KillerRelay | None = KillerRelay() if self._own_relay else relay
        if self._relay is not None:
            self._relay.bind(self._injected_count, self._halt.set)
        self._origin: float | None = None  # offsets count from here (load start or run())
        self._injected = 0  # faults injected so far (replacements are not faults)
        self._thread: threading.Thread | None = None
        self._jobs = ThreadGroup("chaos-shot")
        self._watcher: Watcher | None = None
        self._lock = threading.Lock()
        self._cluster_lock = threading.Lock()  # node kills and replacements, one at a time
        # Ray starts nodes only from the main thread (it installs signal handlers):
        # replacements wait here for the runner's next tick.
        self._main_calls: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()

    # -- planning ----------------------------------------------------------

    def plan(self, ctx: RunContext) -> list[PlannedShot]:
        classes = registry.load_named([f.fault for f in self.spec.faults])
        self._faults = [classes[e.fault](classes[e.fault].Args.model_validate(e.args)) for e in self.spec.faults]
        traits = {name: Traits(cls.target_kind, cls.kills_node) for name, cls in classes.items()}
        return plan(self.spec, _nodes(ctx), ctx.scenario.duration_s, stream(ctx.seed, "chaos"), traits)

    # -- component seam ----------------------------------------------------

    def start(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self.shots = self.plan(ctx)
        ctx.artifacts.chaos_schedule = {
            "seed": ctx.seed,
            "relative_to": self._origin_name(ctx),
            "faults": [f.describe() for f in self._faults],
            "shots": [s.as_dict() for s in self.shots],
        }
        for index in unplanned_entries(self.spec, self.shots):  # judged by `faults injected as planned`
            entry = self.spec.faults[index]
            end = entry.schedule.end(ctx.scenario.duration_s)
            ctx.timeline.emit(Chaos, event="unplanned", entry=index, fault=entry.fault, optional=entry.optional,
                              reason=f"its schedule planned no shot between {entry.schedule.start_s:g} s and {end:g} s")
        proxy = None
        if any(f.target_kind == "network" for f in self._faults):
            port = ctx.http_port or int(ctx.app_url.split(":")[2].split("/")[0])
            proxy = FaultProxy(port, stream(ctx.seed, "chaos-network"))
            proxy.start()
            route = ctx.app_url.split(str(port), 1)[1]
            ctx.load_url = proxy.url + route
            ctx.timeline.emit(Chaos, event="proxy", proxy=proxy.url, upstream_port=port)
        self._env = FaultEnv(ctx, OwnershipGuard(ctx.cluster, ctx.ledger), proxy)
        if self._own_relay:
            self._relay.start(ctx)
        for index, fault in enumerate(self._faults):
            try:
                fault.prepare(self._env)
            except Exception as exc:  # its shots will fail and say why
                ctx.timeline.emit(Chaos, event="prepare_failed", entry=index, fault=fault.name, detail=str(exc)[:300])
        self._watcher = Watcher(env=self._env, timeline=ctx.timeline, jobs=self._jobs,
                                notice_timeout_s=self.spec.notice_timeout_s, emit=self._emit, finish=self._finish)
        self._watcher.start()
        self._thread = threading.Thread(target=self._schedule, name="chaos-schedule", daemon=True)
        self._thread.start()

    def tick(self, ctx: RunContext) -> None:
        """Runs on the main thread: carry out the calls that must happen there."""
        while True:
            try:
                call, future = self._main_calls.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except Exception as exc:
                    future.set_exception(exc)

    def _on_main_thread(self, call: Callable[[], Any]) -> Any:
        future: Future[Any] = Future()
        self._main_calls.put((call, future))
        while not future.done():
            if self._stop.is_set() and future.cancel():
                raise FaultError("the run ended before the main thread could run it")
            try:
                return future.result(timeout=0.1)
            except FutureTimeout:
                continue
        return future.result()

    def stop(self, ctx: RunContext) -> None:
        self._stop.set()
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        while not self._main_calls.empty():
            self._main_calls.get_nowait()[1].cancel()
        if self._watcher is not None:
            self._watcher.stop()
        stuck = self._jobs.join(self.join_timeout_s)
        if stuck:
            ctx.timeline.emit(Chaos, event="stuck", threads=stuck)
        still_active = self._watcher.remaining() if self._watcher is not None else []
        for active in still_active:
            active.record.setdefault("noticed", "not noticed before the run ended")
            if active.injection.duration_s:
                self._watcher.clean(active, reason="run ended")
            self._watcher.close_window(active, time.time())
            self._finish(active.shot, active.record)
        reason = self._unfired_reason()
        # The script's stop_run() ends the schedule on purpose: like max_to_kill, a limit, not a miss.
        stopped = self._relay is not None and self._relay.started.is_set() and self._relay.stopped.is_set()
        for shot in self.shots:  # never fired, or queued when the run ended
            if shot.id not in self.results:
                self._finish(shot, {
                    "event": "not_injected", "outcome": "not_reached",
                    "reason": self._when_ended(shot, ctx) or reason,
                    "planned_t": self._planned_t(shot),
                    **({"capped": True} if stopped else {}),
                })
        if self._own_relay:
            self._relay.stop(ctx)
        if self._env is not None and self._env.proxy is not None:
            self._env.proxy.stop()

    def metrics(self) -> dict[str, Any]:
        results = list(self.results.values())
        lags = sorted(r[Chaos.lag_ms] for r in results if r.get(Chaos.lag_ms) is not None)
        dead_after = [r[Chaos.noticed_after_s] for r in results
                      if r.get(Chaos.noticed_after_s) is not None and r.get(Chaos.kills_node)]
        out: dict[str, Any] = {
            "chaos_planned": len(self.shots),
            "chaos_injected": sum(1 for r in results if r.get(Chaos.outcome) == "injected"),
            "chaos_not_injected": sum(1 for r in results if r.get(Chaos.outcome) != "injected"),
            "chaos_noticed": sum(1 for r in results if r.get(Chaos.noticed_t) is not None),
        }
        if lags:
            out["chaos_lag_p99_ms"] = percentile(lags, 99)
            out["chaos_lag_max_ms"] = lags[-1]
        if dead_after:
            out["chaos_node_dead_after_s_max"] = max(dead_after)
        return out

    # -- scheduling --------------------------------------------------------

    def _planned_t(self, shot: PlannedShot) -> float | None:
        return None if self._origin is None else self._origin + shot.offset_s

    def _origin_name(self, ctx: RunContext) -> str:
        if self.spec.resource_killer:
            return "the script's ResourceKiller.run() call"
        return "workloads start" if ctx.scenario.workload_only else "load start"

    def _unfired_reason(self) -> str:
        if self._relay is not None and not self._relay.started.is_set():
            return "the script never started the ResourceKiller (no call to run())"
        if self._relay is not None and self._relay.stopped.is_set():
            return "the script stopped the ResourceKiller (stop_run()) before the shot was due"
        return "the run ended before the shot could fire"

    def _when_ended(self, shot: PlannedShot, ctx: RunContext) -> str | None:
        """Why a shot due after the run's end never fired, in seconds after the origin."""
        if self._origin is None or self._relay is not None:
            return None
        ended = time.time() - self._origin
        if shot.offset_s <= ended:
            return None  # due, but still queued when the run ended
        load = "" if ctx.load_ended_at is None else f"; the load ended at {ctx.load_ended_at - self._origin:.1f} s"
        return f"the run ended at {ended:.1f} s after {self._origin_name(ctx)}{load}, before the shot was due"

    def _injected_count(self) -> int:
        with self._lock:
            return self._injected

    def _wait_origin(self) -> float | None:
        """The schedule's time zero: the load's start, or the script's run() call."""
        ctx = self._ctx
        while True:
            if self._relay is not None and self._relay.started.is_set():
                return self._relay.run_t
            if self._relay is None and ctx.load_started_at is not None:
                return ctx.load_started_at
            if self._halt.wait(LOAD_WAIT_POLL_S):
                return None

    def _schedule(self) -> None:
        origin = self._wait_origin()
        if origin is None:
            return
        self._origin = origin
        for shot in self.shots:
            planned = origin + shot.offset_s
            if self._halt.wait(max(0.0, planned - time.time())):
                return
            self._jobs.spawn(self._fire, shot, planned, time.time())

    def _fire(self, shot: PlannedShot, planned: float, woke: float) -> None:
        actual = time.time()
        base = {
            "planned_t": planned, "actual_t": actual, "lag_ms": round((actual - planned) * 1000, 3),
            "wake_lag_ms": round((woke - planned) * 1000, 3),
        }
        if shot.action == "skip":
            record = {**base, "event": "skipped", "outcome": "skipped", "reason": shot.reason}
            self._emit(shot, record)
            self._finish(shot, record)
            return
        if shot.action == "replace":
            self._replace(shot, base)
            return
        fault = self._faults[shot.entry]
        record = {**base, "kills_node": fault.kills_node}
        try:
            with self._cluster_lock if fault.kills_node else contextlib.nullcontext():
                injection = fault.inject(self._env, Shot(id=shot.id, planned_t=planned, nodes=shot.nodes, picks=shot.picks, deployment=shot.deployment))
        except NotOwned as exc:
            injection = Injection(outcome="refused", detail=str(exc))
        except NoTarget as exc:
            injection = Injection(outcome="no_target", detail=str(exc))
        except FaultError as exc:
            injection = Injection(outcome="failed", detail=str(exc))
        except Exception as exc:
            injection = Injection(outcome="failed", detail=f"{type(exc).__name__}: {exc}")
        record.update(
            event="injected" if injection.outcome == "injected" else "not_injected",
            outcome=injection.outcome, targets=_public(injection.targets), detail=injection.detail,
            duration_s=injection.duration_s,
        )
        self._emit(shot, record)
        if injection.outcome != "injected":
            self._finish(shot, record)
            return
        with self._lock:
            self._injected += 1
        self._watcher.add(Active(shot=shot, fault=fault, injection=injection, record=record, injected_t=actual))

    def _replace(self, shot: PlannedShot, base: dict[str, Any]) -> None:
        """Bring up a node with the killed node's spec under a new name, as an autoscaler would."""
        ctx = self._ctx
        record = {**base, "replaces": shot.replaces, "node": shot.nodes[0]}
        root = next((n for n in ctx.scenario.cluster.nodes if n.name == _root(shot.replaces, ctx)), None)
        try:
            if root is None or ctx.cluster is None:
                raise FaultError(f"no node spec to replace {shot.replaces!r} with")
            spec = root.model_copy(update={"name": shot.nodes[0]})
            with self._cluster_lock:
                handle = self._on_main_thread(lambda: ctx.cluster.add_node(spec))
            ctx.ledger.snapshot_descendants()
            now = time.time()
            record.update(event="replaced", outcome="injected", node_id=node_id_of(handle),
                          noticed_t=now, noticed_after_s=round(now - base["actual_t"], 3), noticed="node registered")
        except Exception as exc:
            record.update(event="not_injected", outcome="failed", detail=f"{type(exc).__name__}: {exc}"[:300])
        self._emit(shot, record)
        self._finish(shot, record)

    # -- records -----------------------------------------------------------

    def _emit(self, shot: PlannedShot, fields: dict[str, Any]) -> None:
        self._ctx.timeline.emit(Chaos, id=shot.id, fault=shot.fault, **fields)

    def _finish(self, shot: PlannedShot, record: dict[str, Any]) -> None:
        """The shot's final record: on the timeline (event `result`) and in the results."""
        with self._lock:
            if shot.id in self.results:
                return
            result = {"id": shot.id, "fault": shot.fault, "offset_s": shot.offset_s, **record}
            if shot.optional:
                result["optional"] = True
            if shot.capped:
                result["capped"] = True
            if shot.replaces is not None:
                result.setdefault("replaces", shot.replaces)
            result.pop("event", None)
            self.results[shot.id] = result
        self._ctx.timeline.emit(Chaos, event="result", **result)


def _public(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in t.items() if not k.startswith("_")} for t in targets]


def _root(name: str | None, ctx: RunContext) -> str | None:
    """The scenario node a (possibly replaced) node descends from: `a40-node-r2` -> `a40-node`."""
    names = {n.name for n in ctx.scenario.cluster.nodes}
    while name is not None and name not in names and "-r" in name:
        name = name.rsplit("-r", 1)[0]
    return name


def _nodes(ctx: RunContext) -> list[NodeInfo]:
    """The nodes to plan on: the scenario's for a local cluster, the live ones otherwise."""
    if ctx.cluster is None or ctx.cluster.owned:
        return nodes_of_scenario(ctx.scenario)
    import ray

    by_id = {n.node_id: n for n in ctx.cluster.nodes.values()}
    out = []
    for info in ray.nodes():
        handle = by_id.get(info["NodeID"])
        if info.get("Alive") and handle is not None:
            out.append(NodeInfo(name=handle.name, resources=dict(info.get("Resources", {})), is_head=handle.is_head))
    return sorted(out, key=lambda n: n.name)
