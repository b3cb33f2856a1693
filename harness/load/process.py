"""Runs Locust headless in processes of its own (gevent never enters the Ray driver).

`load.workers: 1` runs one Locust process; `load.workers: N` (N > 1) a master
bound to loopback and N workers, each writing its own stream of the timeline
(requests-w<k>.jsonl). With `load.placement: cluster` the master runs here and
the workers are children of Ray actors on the cluster's nodes (harness.load.cluster_workers),
whose records the harness streams into the same files. This module starts them, records them in the run's
ledger, watches the master, stops them all, and reads the load processes'
`load_report` records to tell whether the load offered was what was asked for.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness import PROJECT_ROOT
from harness.files import write_json_atomic
from harness.load.cluster_workers import ClusterWorkers
from harness.measure.records import LoadReport
from harness.measure.timeline import REQUESTS_FILE, TIMELINE_DIR, read_stream
from harness.model.load_spec import LoadSpec
from harness.procs.ledger import ProcessLedger
from harness.pythonpath import python_path
from harness.slo.causes import log_cause
from locustfiles.load_gate import GATE_ENV

LOCUSTFILE = PROJECT_ROOT / "locustfiles" / "harness_locust.py"


class LoadError(Exception):
    """The load process failed: an infrastructure error, not a verdict on the release."""


@dataclass(kw_only=True)
class _Proc:
    name: str  # "locust" (standalone or master) or "worker-<k>"
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoadProcess:
    def __init__(
        self,
        *,
        run_dir: Path,
        spec: LoadSpec,
        target_url: str,
        duration_s: float,
        seed: int,
        ledger: ProcessLedger,
        requests: list[dict[str, Any]] | None = None,
        cluster_workers: ClusterWorkers | None = None,
        master_host: str = "127.0.0.1",
    ):
        _check_loopback(target_url)
        self.run_dir = run_dir
        self.spec = spec
        self.target_url = target_url
        self.duration_s = duration_s
        self.seed = seed
        self.ledger = ledger
        self.output_dir = run_dir / "locust"
        self.timeline_dir = run_dir / TIMELINE_DIR
        self.requests_path = self.timeline_dir / REQUESTS_FILE
        # The resolved request mix (harness.load.traffic.resolve_requests); unset: load.method on load.path.
        self.requests = requests or [{
            "name": "default", "weight": 1, "method": spec.method, "path": spec.path, "headers": {},
            "timeout_s": spec.request_timeout_s, "expect": None,
        }]
        # placement cluster: the workers are children of Ray actors (harness.load.cluster_workers)
        self.cluster_workers = cluster_workers
        self.master_host = cluster_workers.master_host if cluster_workers is not None else master_host
        self.master_port = _free_port() if spec.workers > 1 or cluster_workers is not None else 0
        self._finished = False
        self._procs: list[_Proc] = []
        self._gate: Any = None  # a prestarted process's stdin, until its go

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The process whose exit ends the load: the standalone process or the master."""
        return self._procs[0].popen if self._procs else None

    @property
    def user_class(self) -> str:
        if self.spec.user_class:  # the user's own class, wrapped (locustfiles.userclass)
            return "HarnessOpenUser" if self.spec.model == "open" else "HarnessClosedUser"
        return "OpenUser" if self.spec.model == "open" else "ClosedUser"

    def drain_s(self) -> float:
        """Longest a request sent just before the end can take: every attempt and pause."""
        retry = self.spec.retry
        pauses = retry.max_backoff_ms / 1000.0 * (retry.attempts - 1)
        return self.spec.request_timeout_s * retry.attempts + pauses

    def stop_timeout_s(self) -> int:
        """Locust's --stop-timeout: long enough for the requests in flight at the end."""
        return max(1, int(self.drain_s() + 1))

    def command(self, role: str = "standalone") -> list[str]:
        base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--skip-log-setup"]
        if role == "worker":
            return base + [
                "--worker", "--master-host", "127.0.0.1", "--master-port", str(self.master_port),
                self.user_class,
            ]
        cmd = base + [
            "--headless",
            "--host", self.target_url,
            "--stop-timeout", str(self.stop_timeout_s()),
            "--csv", str(self.output_dir / "locust"),
            "--html", str(self.output_dir / "locust.html"),
            "--only-summary",
            "--exit-code-on-error", "0",
        ]
        if role == "master":
            cmd += [
                "--master", "--master-bind-host", self.master_host, "--master-bind-port", str(self.master_port),
                "--expect-workers", str(self.spec.workers),
                "--expect-workers-max-wait", str(max(1, int(self.spec.start_timeout_s))),
            ]
        return cmd + [self.user_class]

    def config(self) -> dict[str, Any]:
        return {
            "load": self.spec.resolved(),
            "requests": self.requests,
            "base_level": self.spec.base_level,
            "drain_s": self.drain_s(),
            "seed": self.seed,
            "duration_s": self.duration_s,
            "timeline_dir": str(self.timeline_dir),
        }

    def _env(self) -> dict[str, str]:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.timeline_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.output_dir / "load_config.json"
        write_json_atomic(config_path, self.config())
        env = dict(os.environ)
        env["HARNESS_LOAD_CONFIG"] = str(config_path)
        # A user class ("pkg.module:MyUser") imports from the scenario's folder, the working
        # folder or the user's PYTHONPATH, every entry absolute (Locust runs in PROJECT_ROOT).
        env["PYTHONPATH"] = python_path()
        return env

    @property
    def can_prestart(self) -> bool:
        """One load process on this machine: it can start ahead and wait for its go."""
        return self.spec.workers == 1 and self.cluster_workers is None

    def prestart(self) -> None:
        """Start the load process now, to wait for start()'s go: its interpreter and Locust's
        import (about 0.5 s) overlap the wait for the app; its load starts only at the go."""
        if not self.can_prestart or self._procs:
            return
        self._spawn("locust", "standalone", {**self._env(), GATE_ENV: "1"}, gated=True)

    def start(self, target_url: str | None = None) -> None:
        """Start sending (target_url: where, when it changed since construction, e.g. a fault proxy)."""
        if target_url is not None:
            _check_loopback(target_url)
            self.target_url = target_url
        if self._gate is not None:  # prestarted: the go is where to send
            self._release_gate(self.target_url)
            return
        env = self._env()
        if self.cluster_workers is not None:
            self._spawn("locust", "master", env)
            try:
                self.cluster_workers.start(
                    self.config(), self.master_host, self.master_port, self.user_class, str(LOCUSTFILE),
                    str(PROJECT_ROOT), {"PYTHONPATH": python_path()}, self.spec.start_timeout_s,
                )
            except Exception as exc:  # Ray raises many kinds here; all mean "no workers"
                raise LoadError(f"load workers did not start on the cluster: {type(exc).__name__}: "
                                f"{str(exc).strip()[:300]}") from exc
            return
        if self.spec.workers == 1:
            self._spawn("locust", "standalone", env)
            return
        self._spawn("locust", "master", env)
        for k in range(1, self.spec.workers + 1):
            self._spawn(f"worker-{k}", "worker", {**env, "HARNESS_LOAD_WORKER": str(k)})

    def _spawn(self, name: str, role: str, env: dict[str, str], gated: bool = False) -> None:
        log_path = self.output_dir / f"{name}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        # Own session: a Ctrl-C at the terminal reaches the harness, which stops load in order.
        # stdin: a pipe (the gate's go, or nothing): never the harness's terminal.
        popen = subprocess.Popen(
            self.command(role), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
            env={**env, "HARNESS_LOAD_ROLE": role}, cwd=PROJECT_ROOT, start_new_session=True,
        )
        self._procs.append(_Proc(name=name, popen=popen, log_path=log_path, log=log))
        self.ledger.add(psutil.Process(popen.pid))
        if gated:
            self._gate = popen.stdin
        else:
            popen.stdin.close()

    def _release_gate(self, go: str) -> None:
        """Hand the prestarted process its go (where to send; "": quit without sending)."""
        gate, self._gate = self._gate, None
        try:
            if go:
                gate.write(go.encode() + b"\n")
            gate.close()
        except OSError:  # it exited already: wait_started() reports how
            pass

    def wait_started(self, timeout_s: float) -> None:
        """Wait for the first record; raise LoadError if a process dies or all stay silent."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.requests_path.exists() and self.requests_path.stat().st_size > 0:
                return
            for proc in self._procs:
                code = proc.popen.poll()
                if code is not None:
                    raise LoadError(f"{proc.name} exited with code {code} before sending load: "
                                    f"{self.cause(proc)}")
            if self.cluster_workers is not None and self.cluster_workers.alive_problem():
                raise LoadError(f"before sending load: {self.cluster_workers.alive_problem()}")
            time.sleep(0.1)
        raise LoadError(f"locust sent nothing within {timeout_s:g}s; see {self.log_tail()}")

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait(self, timeout_s: float) -> int | None:
        """Up to timeout_s for the load to end (poll(), without the pause after its exit)."""
        if self.process is None:
            time.sleep(timeout_s)
            return None
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, proc: _Proc | None = None, lines: int = 3) -> str:
        if proc is None and not self._procs:
            return str(self.output_dir)
        proc = proc or self._procs[0]
        try:
            tail = proc.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return str(proc.log_path)
        return f"{proc.log_path}: " + " | ".join(tail)

    def cause(self, proc: _Proc | None = None) -> str:
        """The line of a Locust log that names its failure, and the log: for error messages."""
        if proc is None and not self._procs:
            return f"no output (see {self.output_dir})"
        proc = proc or self._procs[0]
        line = log_cause(proc.log_path)
        return f"{line} (log {proc.log_path})" if line else f"no output (log {proc.log_path})"

    def stop(self, grace_s: float | None = None) -> int | None:
        """Let every process finish (workers drain their last requests), then end stragglers."""
        if not self._procs:
            if self.cluster_workers is not None:
                self.cluster_workers.close()
            return None
        if self._gate is not None:  # prestarted, never started: it quits at the closed gate
            self._release_gate("")
            try:
                self._procs[0].popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # still importing, say: stopped below as any other
                pass
        grace = grace_s if grace_s is not None else self.stop_timeout_s() + 5.0
        master = self._procs[0].popen
        if master.poll() is None:
            # SIGINT, not SIGTERM: Locust then shuts down from its main greenlet (windows closed,
            # report written, quit sent to workers); its SIGTERM handler can leave a master hanging.
            _signal_group(master, signal.SIGINT)
        deadline = time.monotonic() + grace
        for proc in self._procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.popen, signal.SIGTERM)
                try:
                    proc.popen.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.popen, signal.SIGKILL)
                    proc.popen.wait(timeout=5)
        if self.cluster_workers is not None and not self._finished:
            # The master told its workers to quit: pull until everything they wrote arrived.
            self.cluster_workers.finish(timeout_s=max(5.0, deadline - time.monotonic()) + 5.0)
        self._finished = True
        for proc in self._procs:
            if not proc.log.closed:
                proc.log.close()
        return master.returncode

    def worker_losses(self) -> list[str]:
        """Cluster-placed workers lost since the last call (their node died, their actor ended)."""
        return self.cluster_workers.new_losses() if self.cluster_workers is not None else []

    def reports(self) -> list[dict[str, Any]]:
        """The `load_report` record each load process wrote when it quit."""
        out = []
        for stream in sorted(self.timeline_dir.glob("requests*.jsonl")):
            out.extend(r for r in read_stream(stream) if r.get(LoadReport.kind) == LoadReport.KIND)
        return out

    def invalid_reason(self) -> str | None:
        """Why the load offered was not the load asked for, or None when it was."""
        reports = self.reports()
        lost = self.cluster_workers.lost() if self.cluster_workers is not None else []
        reason = judge_reports(self.spec, [r for r in reports if r.get("worker") not in lost], len(lost))
        if reason is None and self.cluster_workers is not None:
            by_worker = {int(r.get("worker", 0)): r for r in reports if r.get("role") == "worker"}
            problems = self.cluster_workers.count_problems(by_worker)
            if problems:
                reason = "records lost between the workers and the timeline: " + "; ".join(problems)
        return reason


def run_load(
    run_dir: Path, spec: LoadSpec, target_url: str, duration_s: float, seed: int, ledger: ProcessLedger,
    requests: list[dict[str, Any]] | None = None,
) -> LoadProcess:
    """Load alone, start to end, without a cluster (tests and benchmarks); raises LoadError."""
    load = LoadProcess(run_dir=run_dir, spec=spec, target_url=target_url, duration_s=duration_s, seed=seed,
                       ledger=ledger, requests=requests)
    try:
        load.start()
        load.wait_started(spec.start_timeout_s)
        deadline = time.monotonic() + duration_s + load.stop_timeout_s() + 15
        while load.poll() is None:
            if time.monotonic() > deadline:
                raise LoadError("locust did not stop after the load's duration")
            time.sleep(0.1)
    finally:
        load.stop()
        ledger.kill_survivors()
    if load.poll() != 0:
        raise LoadError(f"locust exited with code {load.poll()}; see {load.log_tail()}")
    return load


def judge_reports(spec: LoadSpec, reports: list[dict[str, Any]], lost: int = 0) -> str | None:
    """Open model: every sending process reported, and no more than max_dropped sends dropped.

    lost: cluster-placed workers lost with `on_worker_loss: continue` (not expected to report)."""
    if spec.model != "open":
        return None
    senders = [r for r in reports if r.get(LoadReport.role) != "master"]
    expected = (spec.workers if spec.workers > 1 or spec.placement == "cluster" else 1) - lost
    if len(senders) < expected:
        return f"only {len(senders)} of {expected} load processes reported what they sent"
    dropped = sum(int(r.get(LoadReport.dropped, 0)) for r in senders)
    scheduled = sum(int(r.get(LoadReport.scheduled, 0)) for r in senders)
    if dropped > spec.max_dropped:
        late = sum(int(r.get(LoadReport.dropped_by_reason, {}).get("late", 0)) for r in senders)
        lag = max(float(r.get(LoadReport.max_lag_ms, 0)) for r in senders)
        return (
            f"the load generator dropped {dropped} of {scheduled} scheduled sends "
            f"({late} more than {spec.max_lag_ms:g} ms late, {dropped - late} at max_in_flight="
            f"{spec.max_in_flight}; worst lag {lag:.0f} ms); allowed: {spec.max_dropped}"
        )
    return None


def _check_loopback(url: str) -> None:
    if not url.startswith("http://127.0.0.1:"):
        raise LoadError(f"load goes to loopback only, not {url}")


def _signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(popen.pid, signum)
    except ProcessLookupError:
        pass
