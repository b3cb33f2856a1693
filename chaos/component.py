"""The chaos run component: plans the schedule, fires faults on time, records everything.

start():  load the named faults, plan the whole schedule (a pure function of the
          scenario and seed, stored in ctx.artifacts["chaos_schedule"]), start the
          fault proxy if a network fault is planned (load is rerouted through it),
          prepare each fault, and start the scheduler thread.
thread:   waits for load to start, then for each planned time; hands each shot to a
          small pool so a slow injection never delays the next one.
pool:     inject, then poll `noticed` with backoff and clean up when the fault's
          duration is over. Every step is a `chaos` timeline record; each injected
          fault is also a window (`fault-N`) from injection until it was noticed, or
          until it was cleaned up for faults with a duration.
stop():   records planned shots that never fired, cleans up active faults, stops the
          proxy. Nothing is dropped in silence.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from chaos import registry
from chaos.api import Fault, FaultEnv, FaultError, Injection, NoTarget, Shot
from chaos.faults.state import node_id_of
from chaos.guard import NotOwned, OwnershipGuard
from chaos.plan import NodeInfo, PlannedShot, Traits, nodes_of_scenario, plan
from chaos.proxy import FaultProxy
from harness.config import ChaosSpec
from harness.context import RunContext

BACKOFF_START_S = 0.05
BACKOFF_MAX_S = 1.0
LOAD_WAIT_POLL_S = 0.01


@dataclass
class _Active:
    """One injected fault being followed until noticed and cleaned up."""

    shot: PlannedShot
    fault: Fault
    injection: Injection
    record: dict[str, Any]
    cleaned: bool = False
    window_open: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)


class ChaosComponent:
    name = "chaos"

    def __init__(self, spec: ChaosSpec, pool_size: int = 16):
        self.spec = spec
        self.pool_size = pool_size
        self.shots: list[PlannedShot] = []
        self.results: dict[str, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._env: FaultEnv | None = None
        self._ctx: RunContext | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._fired: set[str] = set()
        self._active: dict[str, _Active] = {}
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
        return plan(self.spec, _nodes(ctx), ctx.scenario.duration_s, ctx.rng("chaos"), traits)

    # -- component seam ----------------------------------------------------

    def start(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self.shots = self.plan(ctx)
        ctx.artifacts["chaos_schedule"] = {
            "seed": ctx.seed,
            "relative_to": "load start",
            "faults": [f.describe() for f in self._faults],
            "shots": [s.as_dict() for s in self.shots],
        }
        proxy = None
        if any(f.target_kind == "network" for f in self._faults):
            port = ctx.http_port or int(ctx.app_url.split(":")[2].split("/")[0])
            proxy = FaultProxy(port, ctx.rng("chaos-network"))
            proxy.start()
            route = ctx.app_url.split(str(port), 1)[1]
            ctx.load_url = proxy.url + route
            ctx.timeline.emit("chaos", event="proxy", proxy=proxy.url, upstream_port=port)
        self._env = FaultEnv(ctx, OwnershipGuard(ctx.cluster, ctx.ledger), proxy)
        for index, fault in enumerate(self._faults):
            try:
                fault.prepare(self._env)
            except Exception as exc:  # its shots will fail and say why
                ctx.timeline.emit("chaos", event="prepare_failed", entry=index, fault=fault.name, detail=str(exc)[:300])
        self._pool = ThreadPoolExecutor(self.pool_size, thread_name_prefix="chaos")
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
        if self._thread is not None:
            self._thread.join(timeout=5)
        while not self._main_calls.empty():
            self._main_calls.get_nowait()[1].cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for shot in self.shots:
            if shot.id not in self._fired:
                self._finish(shot, {
                    "event": "not_injected", "outcome": "not_reached",
                    "reason": "the run ended before the planned time",
                    "planned_t": self._planned_t(shot),
                })
        for active in list(self._active.values()):
            active.record.setdefault("noticed", "not noticed before the run ended")
            if active.injection.duration_s:
                self._clean(active, reason="run ended")
            self._close_window(active, time.time())
            self._finish(active.shot, active.record)
        if self._env is not None and self._env.proxy is not None:
            self._env.proxy.stop()
        ctx.artifacts["chaos_results"] = [self.results[s.id] for s in self.shots if s.id in self.results]

    def metrics(self) -> dict[str, Any]:
        results = list(self.results.values())
        lags = sorted(r["lag_ms"] for r in results if r.get("lag_ms") is not None)
        dead_after = [r["noticed_after_s"] for r in results if r.get("noticed_after_s") is not None and r.get("kills_node")]
        out: dict[str, Any] = {
            "chaos_planned": len(self.shots),
            "chaos_injected": sum(1 for r in results if r.get("outcome") == "injected"),
            "chaos_not_injected": sum(1 for r in results if r.get("outcome") != "injected"),
            "chaos_noticed": sum(1 for r in results if r.get("noticed_t") is not None),
        }
        if lags:
            out["chaos_lag_p99_ms"] = lags[min(len(lags) - 1, max(0, int(len(lags) * 0.99 + 0.999) - 1))]
            out["chaos_lag_max_ms"] = lags[-1]
        if dead_after:
            out["chaos_node_dead_after_s_max"] = max(dead_after)
        return out

    # -- scheduling --------------------------------------------------------

    def _planned_t(self, shot: PlannedShot) -> float | None:
        t0 = self._ctx.load_started_at if self._ctx is not None else None
        return None if t0 is None else t0 + shot.offset_s

    def _schedule(self) -> None:
        ctx = self._ctx
        while ctx.load_started_at is None:
            if self._stop.wait(LOAD_WAIT_POLL_S):
                return
        for shot in self.shots:
            planned = ctx.load_started_at + shot.offset_s
            if self._stop.wait(max(0.0, planned - time.time())):
                return
            with self._lock:
                self._fired.add(shot.id)
            self._pool.submit(self._fire, shot, planned, time.time())

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
                injection = fault.inject(self._env, Shot(shot.id, planned, shot.nodes, shot.picks, shot.deployment))
        except NotOwned as exc:
            injection = Injection("refused", detail=str(exc))
        except NoTarget as exc:
            injection = Injection("no_target", detail=str(exc))
        except FaultError as exc:
            injection = Injection("failed", detail=str(exc))
        except Exception as exc:
            injection = Injection("failed", detail=f"{type(exc).__name__}: {exc}")
        record.update(
            event="injected" if injection.outcome == "injected" else "not_injected",
            outcome=injection.outcome, targets=_public(injection.targets), detail=injection.detail,
            duration_s=injection.duration_s,
        )
        self._emit(shot, record)
        if injection.outcome != "injected":
            self._finish(shot, record)
            return
        self._ctx.timeline.phase(shot.id, "start", t=actual, fault=shot.fault)
        active = _Active(shot, fault, injection, record)
        self._active[shot.id] = active
        self._follow(active, actual)

    def _follow(self, active: _Active, injected: float) -> None:
        """Poll `noticed` with backoff; clean up when the duration is over."""
        record, injection = active.record, active.injection
        duration = injection.duration_s
        clean_due = injected + duration
        notice_deadline = clean_due + self.spec.notice_timeout_s
        wait = BACKOFF_START_S
        noticed = False
        while not self._stop.is_set():
            now = time.time()
            if not noticed:
                try:
                    how = active.fault.noticed(self._env, injection)
                except Exception as exc:  # state polls are eventually consistent: try again
                    how, record["notice_errors"] = None, record.get("notice_errors", 0) + 1
                    record["last_notice_error"] = f"{type(exc).__name__}: {exc}"[:200]
                if how:
                    noticed = True
                    now = time.time()
                    record.update(noticed_t=now, noticed_after_s=round(now - injected, 3), noticed=how)
                    self._emit(active.shot, {"event": "noticed", "noticed_t": now,
                                             "noticed_after_s": record["noticed_after_s"], "noticed": how})
                    if not duration:
                        self._close_window(active, now)
                elif now >= notice_deadline:
                    record["noticed"] = f"not noticed within {self.spec.notice_timeout_s:g}s"
                    self._emit(active.shot, {"event": "not_noticed", "detail": record["noticed"]})
                    noticed = True
                    if not duration:
                        self._close_window(active, now)
            if duration and not active.cleaned and now >= clean_due:
                self._clean(active)
                self._close_window(active, record["cleaned_t"])
            if noticed and (active.cleaned or not duration):
                break
            if noticed:  # only the cleanup is left: sleep until it is due
                sleep = clean_due - now
            else:
                sleep = min(wait, clean_due - now) if duration and not active.cleaned else wait
                wait = min(wait * 2, BACKOFF_MAX_S)
            self._stop.wait(max(0.005, sleep))
        if self._stop.is_set():
            return  # stop() cleans up and records what is still active
        self._active.pop(active.shot.id, None)
        self._finish(active.shot, record)

    def _clean(self, active: _Active, reason: str = "duration over") -> None:
        with active.lock:
            if active.cleaned:
                return
            active.cleaned = True
        record = active.record
        try:
            active.fault.cleanup(self._env, active.injection)
            record.update(cleaned_t=time.time(), cleaned=reason)
        except Exception as exc:
            record.update(cleaned_t=time.time(), cleaned=f"cleanup failed: {type(exc).__name__}: {exc}"[:300])
        record["targets"] = _public(active.injection.targets)
        self._emit(active.shot, {"event": "cleaned", "cleaned_t": record["cleaned_t"], "cleaned": record["cleaned"]})

    def _close_window(self, active: _Active, t: float) -> None:
        with active.lock:
            if not active.window_open:
                return
            active.window_open = False
        self._ctx.timeline.phase(active.shot.id, "end", t=t, fault=active.shot.fault)

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
        self._ctx.timeline.emit("chaos", id=shot.id, fault=shot.fault, **fields)

    def _finish(self, shot: PlannedShot, record: dict[str, Any]) -> None:
        """The shot's final record: on the timeline (event `result`) and in the results."""
        with self._lock:
            if shot.id in self.results:
                return
            result = {"id": shot.id, "fault": shot.fault, "offset_s": shot.offset_s, **record}
            result.pop("event", None)
            self.results[shot.id] = result
        self._ctx.timeline.emit("chaos", event="result", **result)


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
            out.append(NodeInfo(handle.name, dict(info.get("Resources", {})), handle.is_head))
    return sorted(out, key=lambda n: n.name)
