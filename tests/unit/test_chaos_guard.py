"""Blast radius with real processes: only the cluster's node processes and their descendants."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from types import SimpleNamespace

import psutil
import pytest

from chaos.guard import NotOwned, OwnershipGuard
from harness.model.cluster_handle import ClusterHandle, NodeHandle
from harness.procs.ledger import OwnedProcess, ProcessLedger


def _wait_children(proc: psutil.Process, count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = proc.children()
        if len(children) >= count:
            return children
        time.sleep(0.02)
    raise AssertionError("child did not start")


@pytest.fixture
def tree() -> Iterator[tuple[ClusterHandle, ProcessLedger, psutil.Process, psutil.Process]]:
    """A stand-in 'raylet' (sh) with a 'worker' child (sleep), recorded as a node of the run."""
    raylet = subprocess.Popen(["sh", "-c", "sleep 60 & wait"])
    worker = _wait_children(psutil.Process(raylet.pid), 1)[0]
    ledger = ProcessLedger("guard")
    ledger.add(psutil.Process(raylet.pid))
    # Ray's Node keeps its processes as all_processes[kind] = [ProcessInfo(process=Popen)].
    ray_node = SimpleNamespace(all_processes={"raylet": [SimpleNamespace(process=raylet)]})
    cluster = ClusterHandle(address="", owned=True, nodes={"w1": NodeHandle(name="w1", spec=None, node_id="id", is_head=False, ray_node=ray_node)})
    yield cluster, ledger, psutil.Process(raylet.pid), worker
    for proc in (worker, psutil.Process(raylet.pid)):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    raylet.wait(5)


def test_node_processes_and_their_descendants_pass(tree) -> None:
    cluster, ledger, raylet, worker = tree
    guard = OwnershipGuard(cluster, ledger)
    assert guard.check(raylet.pid).pid == raylet.pid
    guard.kill(worker.pid, signal.SIGKILL)
    worker.wait(5)


def test_outsiders_and_the_harness_are_refused(tree) -> None:
    cluster, ledger, _, _ = tree
    guard = OwnershipGuard(cluster, ledger)
    outsider = subprocess.Popen(["sleep", "60"])  # a child of this very process, yet no node's
    try:
        for pid in (outsider.pid, os.getpid(), 1):
            with pytest.raises(NotOwned):
                guard.kill(pid)
        assert outsider.poll() is None
    finally:
        outsider.kill()
        outsider.wait()


def test_a_recycled_pid_is_not_the_recorded_process(tree) -> None:
    cluster, _, raylet, worker = tree
    # The ledger recorded this pid with another start time: a different process.
    stale = ProcessLedger("stale")
    earlier = raylet.create_time() - 100
    stale._owned[(raylet.pid, earlier)] = OwnedProcess(raylet.pid, earlier, "sh")
    with pytest.raises(NotOwned):
        OwnershipGuard(cluster, stale).check(worker.pid)


def test_no_pid_kills_on_a_cluster_this_run_did_not_start(tree) -> None:
    cluster, ledger, raylet, _ = tree
    cluster.owned = False
    with pytest.raises(NotOwned, match="not started by this run"):
        OwnershipGuard(cluster, ledger).check(raylet.pid)
