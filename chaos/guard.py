"""Blast radius: a fault may only signal processes of the run's own cluster.

A pid passes when it is one of the node processes this run started (recorded in
the ProcessLedger with the same start time, so a recycled pid fails) or a live
descendant of one (Ray workers, replicas, proxies and the controller are children
of their node's raylet). Anything else, the harness itself, the load process, a
stray `sleep` next door, another engineer's cluster, is refused before any signal
is sent.
"""

from __future__ import annotations

import os
import signal

import psutil

from chaos.fault_errors import FaultError
from harness.model.cluster_handle import ClusterHandle
from harness.procs.ledger import ProcessLedger


class NotOwned(FaultError):
    """The target is not a process of this run's cluster: nothing was signalled."""


class OwnershipGuard:
    def __init__(self, cluster: ClusterHandle | None, ledger: ProcessLedger):
        self.cluster = cluster
        self.ledger = ledger

    def _roots(self) -> dict[int, float]:
        """Node processes of the run's cluster that the ledger recorded: pid -> start time."""
        if self.cluster is None or not self.cluster.owned:
            return {}
        recorded = {o.pid: o.create_time for o in self.ledger.owned()}
        roots = {}
        for node in list(self.cluster.nodes.values()):
            for pids in node.process_pids().values():
                for pid in pids:
                    if pid in recorded:
                        roots[pid] = recorded[pid]
        return roots

    def check(self, pid: int) -> psutil.Process:
        """The process if the run's cluster owns it; raises NotOwned otherwise."""
        if pid in (os.getpid(), self.ledger.root_pid) or pid <= 1:
            raise NotOwned(f"pid {pid} is the harness itself")
        if self.cluster is None or not self.cluster.owned:
            raise NotOwned(f"pid {pid}: the cluster was not started by this run, ownership unknown")
        try:
            proc = psutil.Process(pid)
            lineage = [proc, *proc.parents()]
        except psutil.NoSuchProcess:
            raise FaultError(f"pid {pid} is gone") from None
        roots = self._roots()
        for member in lineage:
            started = roots.get(member.pid)
            if started is not None and abs(member.create_time() - started) <= 0.01:
                return proc
        raise NotOwned(f"pid {pid} ({_name(proc)}) is no process of this run's cluster")

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> psutil.Process:
        """Signal a pid of the run's cluster, after checking it is one."""
        proc = self.check(pid)
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            raise FaultError(f"pid {pid} exited before the signal") from None
        return proc


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return "?"
