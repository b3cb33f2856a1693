"""Helpers for the robustness tests: harness runs as subprocesses, and their processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from harness.procs.ledger import OWNED_FILE, OwnedProcess, read_owned
from tests.integration.conftest import wait_for  # noqa: F401 - re-exported for the robust tests

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHORT = PROJECT_ROOT / "tests" / "integration" / "scenarios" / "short.yaml"
# short.yaml's head alone (an override), for runs that need no second node: a node less is
# seconds less of start and of CPU on every run of this 2-core machine.
HEAD_ONLY = "cluster.nodes=[{name: head, num_cpus: 2, object_store_mb: 100}]"


class HarnessRun:
    """`harness run` in a subprocess with its own results root and run registry."""

    def __init__(self, workdir: Path, name: str, *overrides: str, scenario: Path = SHORT,
                 results: Path | None = None, env: dict[str, str] | None = None):
        self.results = results or workdir / f"results-{name}"
        self.runs_dir = workdir / "runs"
        self.log_path = workdir / f"{name}.log"
        env = dict(os.environ, HARNESS_RUNS_DIR=str(self.runs_dir), PYTHONUNBUFFERED="1", **(env or {}))
        cmd = [sys.executable, "-m", "harness", "run", str(scenario), "--results", str(self.results)]
        for item in overrides:
            cmd += ["--set", item]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env)

    @property
    def run_dir(self) -> Path:
        dirs = [p for p in self.results.glob("2*") if p.is_dir()] if self.results.is_dir() else []
        assert len(dirs) == 1, f"expected one run dir in {self.results}, got {dirs}"
        return dirs[0]

    def has_run_dir(self) -> bool:
        return self.results.is_dir() and any(p.is_dir() for p in self.results.glob("2*"))

    def load_started(self) -> bool:
        if not self.has_run_dir():
            return False
        requests = self.run_dir / "timeline" / "requests.jsonl"
        return requests.exists() and requests.stat().st_size > 200

    def wait(self, timeout_s: float = 150) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # a hung harness is this test's process: never leave it behind
            self.proc.wait()
            raise
        finally:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def summary(self) -> dict:
        return json.loads((self.run_dir / "summary.json").read_text())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def descendants(self) -> list[OwnedProcess]:
        """The harness's descendants right now, by parent chain."""
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [e for e in (OwnedProcess.of(c) for c in children) if e is not None]

    def child_named(self, fragment: str) -> psutil.Process:
        """A descendant of this harness whose command line contains `fragment`."""
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if fragment in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                continue
        raise AssertionError(f"no descendant of harness {self.proc.pid} runs {fragment!r}")

    def recorded(self) -> list[OwnedProcess]:
        return read_owned(self.run_dir / OWNED_FILE)


def junit_errors(path: Path) -> list[str]:
    """The messages of every <error> in a JUnit file (which must parse)."""
    from junitparser import Error, JUnitXml

    messages = []
    for suite in JUnitXml.fromfile(str(path)):
        for case in suite:
            messages += [r.message or "" for r in case.result if isinstance(r, Error)]
    return messages


def owned_by_run(run: HarnessRun) -> list[OwnedProcess]:
    """Everything of a live run: its ownership record plus its descendants by parent chain."""
    found = {(p.pid, p.create_time): p for p in run.recorded() + run.descendants()}
    return list(found.values())


def alive(entries: list[OwnedProcess]) -> list[OwnedProcess]:
    return [e for e in entries if e.live_process() is not None]


def kill_leftovers(entries: list[OwnedProcess]) -> None:
    """Test cleanup: SIGKILL what a failed test left (recorded pids and start times only)."""
    for entry in alive(entries):
        proc = entry.live_process()
        if proc is not None:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
