"""Shared helpers for integration tests: real local Ray clusters, real Serve, real Locust."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
import yaml

from harness.cluster.local import free_port

if TYPE_CHECKING:
    from tests.integration.smoke_support import SmokeRun

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "scenarios" / "smoke.yaml"


HERE = Path(__file__).resolve().parent

# A deployment option for runs on a cluster they did not start: each waits for its app's
# deletion at teardown, and a replica Serve stops looks for requests still in flight every
# 0.2 s instead of Serve's 2 s (teardown ~0.5 s instead of ~2.5 s).
QUICK_REPLICA_STOP = {"graceful_shutdown_wait_loop_s": 0.2}


def pytest_collection_modifyitems(items):
    # Called with every collected item, unit tests too when both folders run in one session.
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def ray_env(tmp_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_TMPDIR=str(tmp_root), RAY_USAGE_STATS_ENABLED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def wait_for(condition, timeout_s: float, what: str, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def surviving_run_processes(run_dir: Path) -> list[str]:
    """Processes recorded as the run's own that are still alive (same pid and start time)."""
    record = json.loads((run_dir / "owned_processes.json").read_text())
    alive = []
    for proc in record["processes"]:
        try:
            live = psutil.Process(proc["pid"])
            if abs(live.create_time() - proc["create_time"]) < 0.01 and live.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc['name']}({proc['pid']})")
        except psutil.NoSuchProcess:
            pass
    return alive


def scenario_file(tmp_path: Path, changes: dict, base: Path = SMOKE) -> Path:
    data = yaml.safe_load(base.read_text())
    data.update(changes)
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class UnrelatedCluster:
    """A Ray cluster that is not the harness's: it must survive every run."""

    address: str
    process: subprocess.Popen
    members: list[psutil.Process]
    auth_env: dict[str, str]  # what a client needs in its environment to connect

    def alive_members(self) -> list[psutil.Process]:
        return [p for p in self.members if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


# Session-wide: test_robust_concurrent and test_run both need one beside their runs (one
# start less; idle, it costs little CPU), and each run must leave it alone.
@pytest.fixture(scope="session")
def unrelated_cluster() -> Iterator[UnrelatedCluster]:
    tmp_root = Path(tempfile.mkdtemp(prefix="rh-other-", dir="/tmp"))
    port = free_port()
    # Its own token: never depend on (or touch) the machine-wide ~/.ray/auth_token.
    auth_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    cmd = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
        f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
        "--include-dashboard=false", f"--temp-dir={tmp_root / 'ray'}",
        "--object-store-memory=100000000", f"--dashboard-agent-listen-port={free_port()}",
    ]
    process = subprocess.Popen(cmd, env={**ray_env(tmp_root), **auth_env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    parent = psutil.Process(process.pid)

    def started() -> list[psutil.Process]:
        names = {c.name() for c in parent.children(recursive=True)}
        return parent.children(recursive=True) if {"gcs_server", "raylet"} <= names else []

    wait_for(started, 60, "the unrelated ray cluster")

    def with_agents() -> list[psutil.Process]:  # the node's agents are recorded as members too
        members = parent.children(recursive=True)
        names = set()
        for member in members:
            try:
                names.add(member.name())
            except psutil.Error:
                pass
        return members if {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names else []

    members = wait_for(with_agents, 30, "the unrelated cluster's node agents")
    try:
        yield UnrelatedCluster(f"127.0.0.1:{port}", process, members, auth_env)
    finally:
        try:
            members += parent.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        members = {p.pid: p for p in members}
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        gone, alive = psutil.wait_procs(list(members.values()), timeout=5)
        for proc in alive:  # only processes this fixture started
            proc.kill()
        psutil.wait_procs(alive, timeout=5)


# Session-wide: test_run and test_prometheus both judge this one smoke run (one 3-node
# cluster start less; tests/integration/smoke_support.py).
@pytest.fixture(scope="session")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmokeRun]:
    from tests.integration.smoke_support import smoke_run  # it imports this module

    yield from smoke_run(tmp_path_factory.mktemp("smoke"))
