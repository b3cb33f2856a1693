"""One scenario run, start to teardown: the spine every other part plugs into.

    cluster -> app ready -> components start -> load (+ ticks) -> cooldown
      -> teardown (always) -> SLOs on the timeline -> junit.xml, summary.json, table

A workload-only scenario (`app: none`) deploys no app and starts no load: its
components start, and the run lasts until every workload has reported (each within
its own timeout_s), then the cooldown; the `workloads` window spans that drive.

Whatever happens (an SLO fails, an exception, SIGINT/SIGTERM, the scenario's hard
timeout) teardown runs and the results measured so far are written.
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import yaml
from rich.console import Console

from harness.app import deploy as app_deploy
from harness.app.serve_config import http_options as serve_options
from harness.cluster import local as cluster_mod
from harness.cluster.lease import LeasePool, LeaseSite
from harness.cluster.pick import lease_for
from harness.files import write_atomic
from harness.load.cluster_workers import ClusterWorkers, place_workers
from harness.load.process import LoadError, LoadProcess
from harness.load.traffic import resolve_requests
from harness.load.window_report import report_load_windows
from harness.measure.records import Error, Teardown
from harness.measure.stats import key_metrics, window_stats
from harness.measure.timeline import EVENTS_FILE, TIMELINE_DIR, Timeline, TimelineWriter
from harness.model.context import AbortRun, InfraError, RunComponent, RunContext, RunReporter
from harness.model.outcome import CONFIG_ERROR, RunOutcome
from harness.model.scenario import Scenario
from harness.procs.ledger import OWNED_FILE, ProcessLedger
from harness.procs.reaper import RunWatch, protect_run
from harness.run.components import build_components
from harness.run.failfast import mark_aborted
from harness.run.health import describe_load_exit
from harness.scenario.loader import attach_serve_config
from harness.scenario.paths import relative_paths
from harness.scenario.workload_only import DRIVE_WINDOW
from harness.slo import targets as slo_targets
from harness.slo.core import evaluate
from harness.slo.implicit import implicit_slos
from harness.workloads import Workload

TICK_S = 0.2


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: stop, tear down, write what was measured."""


class HardTimeout(BaseException):
    """The scenario's timeout_s elapsed."""


def new_run_id(scenario: Scenario) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def _signals_raise(timeout_s: float) -> Iterator[None]:
    """Turn SIGINT/SIGTERM and the hard timeout into exceptions, in the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise HardTimeout(f"scenario timeout of {timeout_s:g}s elapsed")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _signals_deferred(ctx: RunContext) -> Iterator[None]:
    """During teardown a second Ctrl-C must not leave processes behind: note it, go on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, _frame: Any) -> None:
        ctx.console.print(f"[yellow]{signal.Signals(signum).name}: teardown in progress, please wait[/]")

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Runner:
    """Runs one scenario. Build it, call run(), read the RunOutcome."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        scenario_file: str,
        results_root: Path,
        reporter: RunReporter,
        overrides: list[str] | None = None,
        console: Console | None = None,
        components: list[RunComponent] | None = None,
        run_id: str | None = None,
        pool: LeasePool | None = None,
        share_cluster: bool | None = None,
        metrics_port: int | None = None,
        release: str = "",
    ):
        """reporter: writes the run's results at its end, whatever happened, and shows them
        (harness.report.run_results.RunResults: summary.json, junit.xml, report.html, ...);
        pool: a suite's (or calibration's) shared clusters; share_cluster: the entry's reuse_cluster;
        metrics_port: serve the live counters for Prometheus on 127.0.0.1 (harness.run.live_metrics);
        release: the release label (`--label`), in summary.json and on every exported metric."""
        self.release = release
        self.reporter = reporter
        if scenario.app is not None and scenario.app.serve_config is None:
            # A Scenario built in code (not by the loader) still needs its Serve config.
            attach_serve_config(scenario, scenario_file, [])
        self.scenario = scenario
        # The cluster this run stands on (own, existing, a pool's): acquired at start, released at
        # teardown. A pool's shared cluster starts here, as a suite's setup, outside the run's clock;
        # a fresh one starts Serve for this run while its worker nodes join, as a run's own does.
        self._serve_port = 0
        early = self._serve_starter(for_pool=True) if pool is not None else None
        self.lease = lease_for(scenario, pool, share_cluster, on_connected=early.begin if early else None)
        if early is not None and not self.lease.shared:
            early.join(timeout_s=30)  # begun on a shared cluster that then failed: let it end first
            early = None
        self._early_serve = early if early is not None else self._serve_starter(False)
        self.run_id = run_id or new_run_id(scenario)
        run_dir = (results_root / self.run_id).resolve()
        run_dir.mkdir(parents=True, exist_ok=False)
        ledger = ProcessLedger(self.run_id, run_dir / OWNED_FILE)
        self.ctx = RunContext(
            scenario=scenario,
            scenario_file=scenario_file,
            run_id=self.run_id,
            run_dir=run_dir,
            timeline=TimelineWriter(run_dir / TIMELINE_DIR / EVENTS_FILE),
            ledger=ledger,
            console=console or Console(),
            overrides=list(overrides or []),
        )
        self.components: list[RunComponent] = (
            components if components is not None else build_components(scenario, metrics_port)
        )
        self.results_root = results_root
        self.outcome = RunOutcome(
            run_id=self.run_id,
            scenario_name=scenario.name,
            scenario_file=scenario_file,
            seed=scenario.seed,
            run_dir=str(run_dir),
            started_at=time.time(),
        )
        self._load: LoadProcess | None = None
        self.aborted: AbortRun | None = None  # fail-fast ended the run (harness.run.failfast)
        self._started: list[RunComponent] = []
        self._watch: RunWatch | None = None
        self._part = "setup"  # what the run was doing: an unexpected error names it

    # -- phases ------------------------------------------------------------

    def _site(self) -> LeaseSite:
        ctx = self.ctx
        early = self._early_serve.begin if self._early_serve is not None else None
        return LeaseSite(name=self.run_id, ledger=ctx.ledger, logs_dir=ctx.run_dir / "ray_logs", watch=self._watch, on_connected=early)

    def _serve_starter(self, for_pool: bool) -> app_deploy.EarlyServe | None:
        """Serve's start, begun while the cluster's worker nodes join: a cluster of the run's own, or
        (for_pool, before the lease exists) a pool's shared cluster, should it start one for this run
        (on a running one, result() starts Serve itself: it connects to the running controller).
        Not on an existing cluster; load workers on the nodes' own proxies need the nodes first."""
        app, load = self.scenario.app, self.scenario.load
        if app is None or self.scenario.workload_only:
            return None
        if not for_pool and (self.lease.outlives_run or self.lease.shared):
            return None
        if load is not None and load.placement == "cluster":
            return None

        def start() -> Any:
            self._serve_port = cluster_mod.free_port()  # picked just before Serve binds it
            return app_deploy.start_serve(self._serve_port, owned_cluster=True,
                                          http_options=serve_options(app.serve_config, self._serve_port))

        return app_deploy.EarlyServe(start)

    def _start_cluster(self) -> None:
        ctx = self.ctx
        t0 = time.monotonic()
        self._part = "cluster start"
        ctx.timeline.phase("cluster_start", "start")
        try:
            ctx.cluster = self.lease.acquire(self._site())
        except cluster_mod.PortConflict as exc:
            raise InfraError("port_conflict", str(exc)) from exc
        except cluster_mod.ClusterStartError as exc:
            raise InfraError("cluster", str(exc)) from exc
        ctx.artifacts.ports = ctx.cluster.ports()
        ctx.timeline.phase("cluster_start", "end", nodes=sorted(ctx.cluster.nodes))
        self.outcome.timings["cluster_start_s"] = round(time.monotonic() - t0, 3)

    def _deploy_app(self) -> None:
        ctx, app = self.ctx, self.scenario.app
        t0 = time.monotonic()
        self._part = "app deploy"
        ctx.timeline.phase("app_deploy", "start")
        try:
            if not ctx.cluster.owned:
                ctx.artifacts.serve_was_running = app_deploy.serve_is_running()
            serve_config = app.serve_config
            since = time.time()
            if self._early_serve is not None and ctx.cluster.owned:  # begun during the cluster start
                client = self._early_serve.result(app.ready_timeout_s)
                wanted_port = self._serve_port
            else:
                wanted_port = cluster_mod.free_port()
                client = app_deploy.start_serve(
                    wanted_port, owned_cluster=ctx.cluster.owned,
                    http_options=serve_options(serve_config, wanted_port), every_node=self._node_proxies_wanted(),
                )
            serve_started = time.time() - since
            previous_deleted = 0.0
            if self.lease.shared:  # the previous run on this cluster left its deletion running
                # The cluster is the suite's own: a finished built-in app need not stop gracefully.
                previous_deleted = app_deploy.wait_deleted(self._app_names(), end_idle_builtin=True)
            ctx.http_port = app_deploy.serve_http_port(client, wanted_port)
            # A cluster the harness started (the run's own, a suite's shared one): the built-in app is
            # built here, as serve.run builds it; on a cluster it did not start every app is a config file's.
            ctx.artifacts.serve_config = app_deploy.deploy(client, serve_config, from_driver=ctx.cluster.owned)
            deploy_sent = time.time() - since
            ctx.artifacts.serve_config_notes = serve_config.notes
            for note in serve_config.notes:
                ctx.console.print(f"[yellow]{serve_config.source}: {note}[/]", highlight=False, soft_wrap=True)
            # Every request's path is absolute (its app's route prefix included): load goes to the root.
            ctx.app_url = f"http://127.0.0.1:{ctx.http_port}"
            self._prestart_load()
            trace = app_deploy.ReadyTrace()
            waited = app_deploy.wait_ready(serve_config, ctx.app_url, app.ready_timeout_s, trace, since=since)
            # Where the wait for the app went (seconds since Serve's start was asked for).
            ctx.artifacts.app_ready_steps = {
                "serve_started_s": round(serve_started, 3), "deploy_sent_s": round(deploy_sent, 3),
                # Serve's start that ran during the cluster start, on its own thread (0: none).
                "serve_start_overlapped_s": round(self._early_serve.ran_s, 3) if self._early_serve else 0.0,
                # A shared cluster: the wait for the previous run's app of the same name to be gone.
                "previous_app_deleted_s": round(previous_deleted, 3),
                **trace.as_dict()}
        except app_deploy.AppNotReady as exc:
            raise InfraError("app_not_ready", str(exc)) from exc
        except InfraError:
            raise
        except Exception as exc:
            raise InfraError("app_deploy", f"{type(exc).__name__}: {exc}") from exc
        if ctx.cluster.owned and not self.lease.shared:  # its processes are in this run's ledger
            try:  # the port was free when picked: is it our proxy that answers on it?
                cluster_mod.check_ports_owned({"serve_http": ctx.http_port}, ctx.ledger)
            except cluster_mod.PortConflict as exc:
                raise InfraError("port_conflict", str(exc)) from exc
        if not app.is_builtin:  # its deployments are known only now: check the SLOs that name one
            deployed = {(a.name, d) for a in serve_config.apps for d in app_deploy.deployment_names(a.name)}
            names = {d for _, d in deployed}
            if len(serve_config.apps) > 1:  # several apps: an SLO may also name App/Deployment
                names |= {f"{a}/{d}" for a, d in deployed}
            self._check_slo_subjects(sorted(names))
        ctx.timeline.phase("app_deploy", "end", ready_after_s=round(waited, 3))
        self.outcome.timings["app_ready_s"] = round(time.monotonic() - t0, 3)

    def _new_load(self, target_url: str, workers: ClusterWorkers | None) -> LoadProcess:
        ctx, scenario = self.ctx, self.scenario
        return LoadProcess(
            run_dir=ctx.run_dir, spec=scenario.load, target_url=target_url, duration_s=scenario.duration_s,
            seed=scenario.seed, ledger=ctx.ledger, requests=resolve_requests(scenario), cluster_workers=workers,
        )

    def _prestart_load(self) -> None:
        """One load process on this machine: start it now, to import Locust while the app becomes
        ready; it sends nothing before _run_load's go (the load window is the same)."""
        if self.scenario.load is None or self.scenario.load.placement == "cluster":
            return
        load = self._new_load(self.ctx.app_url, None)
        if load.can_prestart:
            self._load = load
            load.prestart()

    def _node_proxies_wanted(self) -> bool:
        """Load workers on the cluster's nodes that send to their own node's proxy, on a cluster this
        run started whose worker nodes bind proxy ports of their own (harness.cluster)."""
        load, cluster = self.scenario.load, self.ctx.cluster
        return (load is not None and load.placement == "cluster" and load.target == "node_proxy"
                and not self.lease.shared and not self.lease.outlives_run and cluster is not None and cluster.owned
                and bool(cluster.proxy_ports))

    def _cluster_workers(self) -> ClusterWorkers | None:
        """placement cluster: where each worker goes and where it sends (exit 2 if the cluster cannot)."""
        ctx, spec = self.ctx, self.scenario.load
        if spec.placement != "cluster":
            return None
        try:
            workers = place_workers(ctx, spec, node_proxies=self._node_proxies_wanted())
        except ValueError as exc:  # PlacementError: the cluster up now cannot hold it
            raise InfraError(CONFIG_ERROR, f"{ctx.scenario_file}: {exc}") from exc
        self.outcome.notes.extend(workers.notes())
        return workers

    def _worker_losses(self) -> None:
        """A cluster-placed worker lost (its node died): on_worker_loss decides."""
        assert self._load is not None
        for message in self._load.worker_losses():
            if self.scenario.load.on_worker_loss == "fail":
                raise InfraError("load_invalid", f"{message} (load.on_worker_loss: fail)")
            self.outcome.notes.append(f"{message}; the run went on with the remaining workers "
                                      f"(load.on_worker_loss: continue)")

    def _check_slo_subjects(self, deployments: list[str]) -> None:
        """An SLO naming a deployment the app does not have is a config error (exit 2), not a verdict."""
        problems = slo_targets.subject_problems(self.scenario, deployments)
        if self.scenario.chaos.faults:  # a replica fault's deployment, too: it could never fire
            from chaos.fault_registry import deployment_problems

            problems += deployment_problems(self.scenario, set(deployments))
        if problems:
            key, what = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise InfraError(CONFIG_ERROR, f"{self.ctx.scenario_file}: {key}: {what}{more}")

    def _start_components(self) -> None:
        for component in self.components:
            self._part = f"{component.name} start"
            component.start(self.ctx)
            self._started.append(component)
        self._part = "load"

    def _run_load(self) -> None:
        ctx, scenario = self.ctx, self.scenario
        ctx.load_url = ctx.app_url  # a component (e.g. a fault proxy) may reroute it in start()
        t0 = time.monotonic()
        self._start_components()
        workers = self._cluster_workers()
        if self._load is None:  # not prestarted (_prestart_load)
            self._load = self._new_load(ctx.load_url, workers)
        try:
            self._load.start(ctx.load_url)
            self._load.wait_started(scenario.load.start_timeout_s)
        except LoadError as exc:
            raise InfraError("load", str(exc)) from exc
        ctx.load_started_at = time.time()
        self.outcome.timings["load_start_s"] = round(time.monotonic() - t0, 3)  # components + Locust
        cpu_meter = CpuMeter()
        load_started = time.monotonic()
        # Locust ends itself after duration_s; allow it time to stop its users.
        deadline = time.monotonic() + scenario.duration_s + self._load.stop_timeout_s() + 15
        while True:
            code = self._load.poll()
            if code is not None:
                break
            if time.monotonic() > deadline:
                raise InfraError("load", "locust did not stop after the scenario's duration")
            self._worker_losses()
            try:
                self._tick()
            except AbortRun as exc:  # fail-fast: an SLO surely failed; stop the load, judge as usual
                self._abort(exc)
                break
            self._load.wait(TICK_S)  # a tick's pause, cut short when Locust exits
        if self.aborted is not None:
            self._load.stop()
        ctx.load_ended_at = time.time()
        self.outcome.metrics["harness_cpu_percent_during_load"] = round(cpu_meter.percent(), 2)
        problem = None if self.aborted is not None else describe_load_exit(
            code, time.monotonic() - load_started, scenario.duration_s)
        if problem:
            raise InfraError("load", f"{problem}: {self._load.cause()}")
        # A generator that could not send on schedule says nothing about the release.
        self._load.stop()
        self._worker_losses()  # lost while the workers drained
        if workers is not None:
            ctx.artifacts.load_workers = workers.counts()
        invalid = self._load.invalid_reason()
        if invalid is not None:
            raise InfraError("load_invalid", invalid)
        self._cooldown()

    def _run_workloads(self) -> None:
        """A workload-only run: no app, no load; it lasts until every workload reported."""
        ctx = self.ctx
        self._start_components()
        workloads = [c for c in self._started if isinstance(c, Workload)]
        # The drive's start and end stand where a load's would: the chaos schedule counts
        # from the start, and a workload stopped after the end is not cut short.
        ctx.load_started_at = time.time()
        ctx.timeline.phase(DRIVE_WINDOW, "start", t=ctx.load_started_at, workloads=[w.workload_name for w in workloads])
        while any(w.result is None for w in workloads):
            self._tick()
            time.sleep(TICK_S)
        ctx.load_ended_at = time.time()
        ctx.timeline.phase(DRIVE_WINDOW, "end", t=ctx.load_ended_at)
        self._cooldown()

    def _cooldown(self) -> None:
        ctx, scenario = self.ctx, self.scenario
        cooldown_end = time.monotonic() + scenario.cooldown_s
        if scenario.cooldown_s and self.aborted is None:
            ctx.timeline.phase("cooldown", "start")
            while time.monotonic() < cooldown_end:
                try:
                    self._tick()
                except AbortRun as exc:
                    self._abort(exc)
                    break
                time.sleep(TICK_S)
            ctx.timeline.phase("cooldown", "end")

    def _abort(self, exc: AbortRun) -> None:
        self.aborted = exc
        for decision in exc.decisions:
            self.ctx.console.print(f"fail-fast: {decision}; stopping the run", style="bold red",
                                   markup=False, highlight=False, soft_wrap=True)
        self.outcome.notes.append(f"fail-fast: the run was ended early: {exc}")

    def _tick(self) -> None:
        for component in self._started:
            self._part = f"{component.name} tick"
            component.tick(self.ctx)
        self._part = "load"

    # -- teardown and verdict ----------------------------------------------

    def _app_names(self) -> list[str]:
        serve_config = self.scenario.app.serve_config
        return [a.name for a in serve_config.apps] if serve_config is not None else [self.scenario.app.name]

    def _teardown(self) -> None:
        ctx = self.ctx
        t0 = time.monotonic()
        if self._early_serve is not None:  # interrupted while Serve started: let it end first
            self._early_serve.join(timeout_s=30)
        if ctx.load_started_at is not None and ctx.load_ended_at is not None:
            # From the load's end to teardown: Locust's stop, the load's validity, the cooldown.
            self.outcome.timings["settle_s"] = round(time.time() - ctx.load_ended_at, 3)
        if self._load is not None:
            self._load.stop()
        for component in reversed(self._started):
            try:
                component.stop(ctx)
            except Exception as exc:  # one broken component must not stop teardown
                self.outcome.notes.append(f"{component.name} stop failed: {exc}")
            self.outcome.metrics.update(_safe_metrics(component))
        if ctx.cluster is not None and self.lease.outlives_run and self.scenario.app is not None:
            # The cluster stays up (a pool's, an existing one): remove only what this run added.
            # A pool's cluster: the deletion goes on while this run judges and reports; the next run
            # on it waits for it before its deploy (app_deploy.wait_deleted).
            _leave_existing_cluster(self._app_names(), ctx.artifacts.serve_was_running is not False,
                                    wait=not self.lease.shared)
        t_released = time.monotonic()
        released = self.lease.release(self._site(), failed=self.outcome.error is not None,
                                      keep_logs=self.outcome.error_kind != "disk_full")  # keep room for results
        if released.killed:
            ctx.timeline.emit(Teardown, killed_after_shutdown=released.killed)
        self.outcome.notes.extend(released.notes)
        ctx.artifacts.teardown_steps = {"load and components stop": round(t_released - t0, 3), **released.steps}
        if ctx.cluster is None:
            # Interrupted before the cluster handle existed: sweep what was started anyway.
            ctx.ledger.snapshot_descendants()
            ctx.ledger.kill_survivors()
        self.outcome.timings["teardown_s"] = round(time.monotonic() - t0, 3)

    def _conclude(self) -> None:
        """After teardown: read the finished timeline once and hand it to every reader of the
        run: the load report, the SLOs, the key metrics (history), report.html and openmetrics.prom."""
        timeline = None
        t0 = time.monotonic()
        try:
            timeline = Timeline.load(self.ctx.run_dir)  # the run's one read of its timeline
            if self.ctx.artifacts.chaos_schedule is not None:  # the chaos component ran: its shots' results
                self.ctx.artifacts.chaos_results = timeline.shot_results(stored=True)
            report_load_windows(self.ctx, timeline, self.outcome.metrics)
            self._judge(timeline)
            self.outcome.timings["judge_s"] = round(time.monotonic() - t0, 3)
        except Exception as exc:
            self.outcome.fail("harness", f"judging failed: {type(exc).__name__}: {exc}")
        self._write_results(timeline)

    def _judge(self, timeline: Timeline) -> None:
        slos = [*self.scenario.slos, *implicit_slos(self.scenario)]
        level, interval = self.scenario.confidence, self.scenario.recorder.interval_s
        self.outcome.verdicts = [evaluate(spec, timeline, level, interval) for spec in slos]
        if self.aborted is not None:
            mark_aborted(self.outcome.verdicts, self.aborted.decisions)
        load = timeline.window("load")
        if load is not None:
            stats = window_stats(timeline, load)
            self.outcome.metrics.update(requests=stats["requests"], load_seconds=stats["seconds"], ok=stats["ok"])
        self.outcome.key_metrics = key_metrics(timeline)

    def _write_results(self, timeline: Timeline | None) -> None:
        """The reporter writes summary.json, junit.xml and the views of them and of `timeline`
        (None: it could not be read; report.html and openmetrics.prom read it on their own)."""
        self.outcome.ended_at = time.time()
        self.reporter.write(self.ctx, self.outcome, release=self.release, results_root=self.results_root,
                            timeline=timeline)

    def run(self) -> RunOutcome:
        ctx = self.ctx
        write_resolved_scenario(self.scenario, ctx.run_dir)
        ctx.timeline.phase("run", "start", run_id=self.run_id, seed=self.scenario.seed)
        self._watch = protect_run(ctx, self.outcome.notes)
        try:
            with _signals_raise(self.scenario.timeout_s):
                self._start_cluster()
                if self.scenario.workload_only:
                    self._run_workloads()
                else:
                    self._deploy_app()
                    self._run_load()
        except Interrupted as exc:
            self.outcome.fail("interrupted", f"run interrupted by {exc}")
        except HardTimeout as exc:
            self.outcome.fail("timeout", str(exc))
        except InfraError as exc:
            self.outcome.fail(exc.kind, exc.message)
        except OSError as exc:
            kind = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "harness"
            self.outcome.fail(kind, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            self.outcome.fail("harness", f"{self._part}: {type(exc).__name__}: {exc}")
        finally:
            with _signals_deferred(ctx):
                if self.outcome.error is not None:
                    ctx.timeline.emit(Error, error_kind=self.outcome.error_kind, message=self.outcome.error)
                try:
                    self._teardown()
                finally:
                    ctx.timeline.phase("run", "end")
                    ctx.timeline.close()
                    try:
                        self._conclude()
                    finally:
                        if self._watch is not None:
                            self._watch.finish()
        self.reporter.show(ctx, self.outcome)
        return self.outcome


def write_resolved_scenario(scenario: Scenario, run_dir: Path) -> Path:
    """scenario.yaml (and serve_config.yaml, the config file as deployed): what `harness reproduce` reruns."""
    resolved = scenario.model_dump(mode="json")
    relative_paths(resolved, Path.cwd())  # the repository's paths, not this machine's
    if scenario.app is not None and scenario.app.config is not None:
        config_copy = run_dir / "serve_config.yaml"
        write_atomic(config_copy, yaml.safe_dump(scenario.app.serve_config.data, sort_keys=False))
        # Beside scenario.yaml: found wherever the run folder is copied to.
        resolved["app"] = {"config": config_copy.name, "ready_timeout_s": scenario.app.ready_timeout_s}
    path = run_dir / "scenario.yaml"
    write_atomic(path, yaml.safe_dump(resolved, sort_keys=False))
    return path


class CpuMeter:
    """CPU used by the harness process itself (all threads), as % of one core."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._cpu0 = self._cpu()
        self._wall0 = time.monotonic()

    def _cpu(self) -> float:
        times = self._proc.cpu_times()
        return times.user + times.system

    def percent(self) -> float:
        wall = time.monotonic() - self._wall0
        return 100.0 * (self._cpu() - self._cpu0) / wall if wall > 0 else 0.0


def _safe_metrics(component: RunComponent) -> dict[str, Any]:
    try:
        return dict(component.metrics())
    except Exception:
        return {}


def _leave_existing_cluster(app_names: list[str], serve_was_running: bool, wait: bool = True) -> None:
    """Remove what this run added to a cluster it did not start, and nothing else.

    wait: until the apps are gone (else the deletion is only asked for: a pool's next run waits).
    """
    try:
        from ray import serve

        if serve_was_running:
            if not wait:  # a suite's shared cluster: the next run ends the built-in app's replicas
                app_deploy.note_idle_builtin(app_names)
            for app_name in app_names:
                serve.delete(app_name, _blocking=False)
            if wait:
                app_deploy.wait_deleted(app_names)
        else:
            serve.shutdown()  # this run started Serve there: stop it again
    except Exception:
        pass

