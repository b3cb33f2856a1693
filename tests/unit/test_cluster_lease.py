"""Cluster leases (harness.cluster.lease): which lease a run gets, and what acquire/release do.

No cluster starts here: a lease's `_start` and `stop_cluster` are replaced by stand-ins
that record their calls; the integration tests run the real ones.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import harness.cluster.local as local_mod
from harness.cluster.autoscaling_cluster import AutoscalingLease
from harness.cluster.existing import ExistingLease
from harness.cluster.lease import LeaseSite
from harness.cluster.local import ClusterStartError, LocalLease, PortConflict
from harness.cluster.pick import lease_for
from harness.cluster.pool import ClusterPool, PoolLease
from harness.model.cluster_handle import ClusterHandle
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict

HEAD = {"name": "head", "num_cpus": 1, "object_store_mb": 80}
CHAOS = {"faults": [{"fault": "kill_replica", "schedule": {"at_s": [1]}}]}


def scenario(cluster: dict[str, Any] | None = None, **extra: Any) -> Any:
    return scenario_from_dict({
        "name": "lease", "duration_s": 5, "timeout_s": 60,
        "cluster": cluster or {"nodes": [HEAD]}, **extra,
    }, "test")


class Watch:
    def __init__(self) -> None:
        self.roots: list[Path] = []

    def set_temp_root(self, temp_root: Path) -> None:
        self.roots.append(temp_root)


@pytest.fixture
def site(tmp_path: Path) -> LeaseSite:
    return LeaseSite(name="run-1", ledger=ProcessLedger("run-1", tmp_path / "owned.json"), logs_dir=tmp_path / "ray_logs", watch=Watch())


@pytest.fixture
def stopped(monkeypatch: pytest.MonkeyPatch) -> list[ClusterHandle]:
    calls: list[ClusterHandle] = []

    def stop(handle: ClusterHandle, ledger: ProcessLedger, timeout_s: float = 10.0,
             steps: dict[str, float] | None = None) -> list[str]:
        calls.append(handle)
        return ["raylet(1)"] if handle.owned else []

    monkeypatch.setattr(local_mod, "stop_cluster", stop)
    return calls


class FakeLocal(LocalLease):
    def _start(self, ledger: ProcessLedger, temp_root: Path) -> ClusterHandle:
        (temp_root / "ray" / "session_2026" / "logs").mkdir(parents=True)
        (temp_root / "ray" / "session_2026" / "logs" / "raylet.out").write_text("log")
        return ClusterHandle(address="127.0.0.1:1", owned=True, temp_dir=temp_root / "ray")


def test_the_factory_gives_each_cluster_section_its_lease() -> None:
    assert isinstance(lease_for(scenario()), LocalLease) and lease_for(scenario()).kind == "local"
    assert isinstance(lease_for(scenario({"address": "127.0.0.1:6379"})), ExistingLease)
    autoscaling = {"autoscaling": {"head": {"num_cpus": 1},
                                   "node_types": [{"name": "cpu", "num_cpus": 1, "max_workers": 1}]}}
    assert isinstance(lease_for(scenario(autoscaling)), AutoscalingLease)
    for lease in (lease_for(scenario()), lease_for(scenario({"address": "127.0.0.1:6379"}))):
        assert not lease.shared and lease.handle is None
    assert lease_for(scenario({"address": "127.0.0.1:6379"})).outlives_run  # never stopped by the run
    assert not lease_for(scenario()).outlives_run


def test_an_own_cluster_is_started_in_its_temp_root_and_stopped_with_its_logs_kept(
    site: LeaseSite, stopped: list[ClusterHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))  # prepare_process_env writes the environment
    lease = FakeLocal(scenario().cluster, ["extra/path"])
    handle = lease.acquire(site)
    root = lease.temp_root
    assert root is not None and root.is_dir() and site.watch.roots == [root]
    assert os.environ["RAY_TMPDIR"] == str(root) and "extra/path" in os.environ["PYTHONPATH"]
    released = lease.release(site)
    assert stopped == [handle] and released.killed == ["raylet(1)"] and released.notes == []
    assert (site.logs_dir / "session_2026" / "raylet.out").read_text() == "log"
    assert not root.exists() and lease.handle is None and lease.temp_root is None
    assert lease.release(site).killed == [] and len(stopped) == 1  # a second release does nothing


def test_a_failed_start_leaves_no_temp_root(site: LeaseSite, stopped: list[ClusterHandle],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))

    class Broken(LocalLease):
        def _start(self, ledger: ProcessLedger, temp_root: Path) -> ClusterHandle:
            raise ClusterStartError("no room")

    lease = Broken(scenario().cluster, [])
    with pytest.raises(ClusterStartError):
        lease.acquire(site)
    root = lease.temp_root
    assert root is not None and root.exists()
    assert lease.release(site).killed == [] and stopped == [] and not root.exists()


def test_an_existing_cluster_is_only_disconnected(site: LeaseSite, stopped: list[ClusterHandle],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.cluster.existing as existing_mod

    handle = ClusterHandle(address="127.0.0.1:6379", owned=False)
    monkeypatch.setattr(existing_mod, "connect_existing", lambda spec: handle)
    monkeypatch.setattr(existing_mod, "stop_cluster", local_mod.stop_cluster)  # the recording stand-in
    lease = lease_for(scenario({"address": "127.0.0.1:6379"}))
    assert lease.acquire(site) is handle
    assert lease.release(site, failed=True).killed == [] and stopped == [handle]
    assert not site.logs_dir.exists()


class RecordingPool(ClusterPool):
    """A pool whose shared cluster is a stand-in handle (no Ray)."""

    def __init__(self, work_dir: Path, console: Console | None = None,
                 fail: type[Exception] | None = None):
        super().__init__(work_dir, console)
        self.fail = fail
        self.acquired: list[str] = []
        self.callbacks: list[Any] = []  # each acquire's on_connected
        self.released = 0
        self._fake: ClusterHandle | None = None

    @property
    def handle(self) -> ClusterHandle | None:
        return self._fake

    def acquire(self, scenario: Any, on_connected: Any = None) -> ClusterHandle:
        if self.fail is not None:
            raise self.fail("the shared cluster did not come up")
        self.acquired.append(scenario.name)
        self.callbacks.append(on_connected)
        if self._fake is None:
            self._fake = ClusterHandle(address="127.0.0.1:2", owned=True)
        return self._fake

    def release(self) -> list[str]:
        if self._fake is not None:
            self.released += 1
        self._fake = None
        return []


def test_a_pool_shares_its_cluster_and_stops_it_only_after_a_failed_run(tmp_path: Path, site: LeaseSite) -> None:
    pool = RecordingPool(tmp_path / "pool")
    first = lease_for(scenario(), pool)
    assert isinstance(first, PoolLease) and first.shared and first.outlives_run and first.kind == "pool"
    handle = first.acquire(site)
    assert first.release(site).killed == [] and pool.handle is handle and pool.released == 0
    second = lease_for(scenario(), pool)
    assert second.acquire(site) is handle  # the next run finds it running
    second.release(site, failed=True)  # the cluster may be what broke
    assert pool.handle is None and pool.released == 1
    assert not (site.logs_dir).exists()  # a run on the pool keeps no cluster logs of its own


def test_a_chaos_scenario_gets_a_fresh_cluster_and_the_shared_one_stops_first(tmp_path: Path) -> None:
    pool = RecordingPool(tmp_path / "pool")
    lease_for(scenario(), pool).acquire(LeaseSite(name="r", ledger=ProcessLedger("r"), logs_dir=tmp_path / "logs"))
    chaos = lease_for(scenario(chaos=CHAOS), pool)
    assert isinstance(chaos, LocalLease) and not chaos.shared and pool.released == 1
    # The suite author may vouch that the faults leave nodes alone, or refuse sharing outright.
    assert isinstance(lease_for(scenario(chaos=CHAOS), pool, share=True), PoolLease)
    assert isinstance(lease_for(scenario(), pool, share=False), LocalLease)
    # An existing cluster is never the pool's.
    assert isinstance(lease_for(scenario({"address": "127.0.0.1:6379"}), pool), ExistingLease)


def test_a_fresh_shared_cluster_calls_the_run_back_while_its_nodes_join(
    tmp_path: Path, stopped: list[ClusterHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that starts the pool's cluster starts Serve there while the worker nodes join
    (LeaseSite.on_connected, as on a cluster of its own); a run that finds it running is not
    called (it connects to the running Serve at its deploy)."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    called: list[str] = []

    def start(lease: LocalLease, ledger: ProcessLedger, temp_root: Path) -> ClusterHandle:
        if lease._on_connected is not None:
            lease._on_connected()
        return ClusterHandle(address="127.0.0.1:1", owned=True, temp_dir=temp_root / "ray")

    monkeypatch.setattr(LocalLease, "_start", start)
    pool = ClusterPool(tmp_path / "pool")
    try:
        first = lease_for(scenario(), pool, on_connected=lambda: called.append("first"))
        second = lease_for(scenario(), pool, on_connected=lambda: called.append("second"))
        assert isinstance(first, PoolLease) and second.handle is first.handle and called == ["first"]
        pool.release()  # the next run finds no cluster: it starts one, and is called
        lease_for(scenario(), pool, on_connected=lambda: called.append("third"))
        assert called == ["first", "third"] and pool.started == 2
    finally:
        pool.close()


@pytest.mark.parametrize("error", [ClusterStartError, PortConflict, ValueError])
def test_a_shared_cluster_that_does_not_start_leaves_the_run_its_own(tmp_path: Path, error: type[Exception]) -> None:
    """Whatever stops the shared cluster (a harness bug too: a ValueError once escaped the
    suite as exit 1), the run gets its own lease, whose start reports any error as exit 3."""
    out = io.StringIO()
    pool = RecordingPool(tmp_path / "pool", Console(file=out, width=200), fail=error)
    lease = lease_for(scenario(), pool)
    assert isinstance(lease, LocalLease) and not lease.shared
    assert "shared cluster not used" in out.getvalue() and "the shared cluster did not come up" in out.getvalue()
    assert pool.start_failures == [f"{scenario().name}: shared cluster not used "
                                   f"({error.__name__}: the shared cluster did not come up)"]


def test_a_local_cluster_starts_no_autoscaler_monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed local cluster has nothing to autoscale: its head is started without Ray's monitor."""
    import ray
    import ray.cluster_utils

    seen: list[dict[str, Any]] = []

    class Refused:
        def __init__(self, initialize_head: bool, head_node_args: dict[str, Any]):
            seen.append(head_node_args)
            raise RuntimeError("no cluster in a unit test")

    monkeypatch.setattr(ray.cluster_utils, "Cluster", Refused)
    monkeypatch.setattr(ray, "init", ray.init)  # the failed start fences ray.init: undone after the test
    monkeypatch.setattr(os, "environ", dict(os.environ))
    with pytest.raises(ClusterStartError, match="no cluster in a unit test"):
        local_mod.start_local_cluster(scenario().cluster, ProcessLedger("r", tmp_path / "owned.json"), tmp_path)
    assert seen[0]["no_monitor"] is True and seen[0]["include_dashboard"] is False


APP = {"builtin": {}, "deployments": [{"name": "Echo", "num_replicas": 1}]}


def test_a_run_on_a_pool_hands_the_pool_its_serve_start(tmp_path: Path) -> None:
    """The runner gives the pool its Serve start (begun by a fresh shared cluster while the worker
    nodes join); a run the pool sends to a cluster of its own gets a start of its own."""
    from harness.report.run_results import RunResults
    from harness.run.runner import Runner

    pool = RecordingPool(tmp_path / "pool")

    def runner(name: str, **extra: Any) -> Runner:
        return Runner(scenario=scenario(app=APP, **extra), scenario_file="s.yaml", results_root=tmp_path,
                      reporter=RunResults(), components=[], run_id=name, pool=pool,
                      console=Console(file=io.StringIO()))

    shared = runner("shared")
    assert shared.lease.shared and shared._early_serve is not None
    assert pool.callbacks == [shared._early_serve.begin]
    own = runner("own", chaos=CHAOS)  # may not share: its own cluster, its own start
    assert not own.lease.shared and own._early_serve is not None and len(pool.callbacks) == 1
    assert own._site().on_connected == own._early_serve.begin
