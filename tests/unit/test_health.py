"""The health guard and the port ownership check, without a cluster."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.cluster.local import PortConflict, check_ports_owned, free_port
from harness.measure.timeline import TimelineWriter
from harness.model.cluster_handle import ClusterHandle
from harness.model.context import InfraError, RunContext
from harness.model.scenario import HealthSpec
from harness.procs.ledger import ProcessLedger
from harness.run.health import HealthGuard, describe_load_exit, gcs_reachable
from harness.scenario.loader import scenario_from_dict

SCENARIO = {"name": "g", "duration_s": 5, "cluster": {"nodes": [{"name": "head", "num_cpus": 1}]}}


def _ctx(tmp_path: Path) -> RunContext:
    return RunContext(
        scenario=scenario_from_dict(dict(SCENARIO), "g.yaml"), scenario_file="g.yaml", run_id="g",
        run_dir=tmp_path, timeline=TimelineWriter(tmp_path / "events.jsonl"),
        ledger=ProcessLedger("g"), console=Console(quiet=True),
    )


@pytest.mark.parametrize(("code", "ran", "expected"), [
    (-9, 3.0, "locust process died (killed by SIGKILL) after 3.0s of 10s of load"),
    (2, 1.0, "locust exited with code 2 after 1.0s of 10s of load"),
    (0, 4.0, "locust stopped after 4.0s of 10s of load"),
    (0, 9.5, None),
])
def test_describe_load_exit(code: int, ran: float, expected: str | None) -> None:
    assert describe_load_exit(code, ran, 10) == expected


def test_low_disk_is_disk_full(tmp_path: Path) -> None:
    guard = HealthGuard(HealthSpec(min_free_disk_mb=1_000_000))
    with pytest.raises(InfraError) as info:
        guard.check(_ctx(tmp_path))
    assert info.value.kind == "disk_full" and "health.min_free_disk_mb" in info.value.message


def test_failed_timeline_write_is_disk_full(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.timeline.write_error = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(InfraError) as info:
        HealthGuard(HealthSpec(min_free_disk_mb=0)).check(ctx)
    assert info.value.kind == "disk_full" and "No space left" in info.value.message


def test_unreachable_gcs_is_cluster_lost_after_the_grace(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.cluster = ClusterHandle(address=f"127.0.0.1:{free_port()}", owned=False)
    guard = HealthGuard(HealthSpec(min_free_disk_mb=0, cluster_lost_after_s=0.3))
    guard.check(ctx)  # the first failure only starts the clock
    time.sleep(0.35)
    with pytest.raises(InfraError) as info:
        guard.check(ctx)
    assert info.value.kind == "cluster_lost" and "unreachable" in info.value.message


def test_reachable_gcs_passes(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        assert gcs_reachable(address) is None
        ctx = _ctx(tmp_path)
        ctx.cluster = ClusterHandle(address=address, owned=False)
        HealthGuard(HealthSpec(min_free_disk_mb=0, cluster_lost_after_s=0.01)).check(ctx)


LISTENER = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
            "print(s.getsockname()[1], flush=True); time.sleep(60)")


def test_a_port_served_by_a_stranger_is_a_conflict() -> None:
    ours = ProcessLedger("r")  # a run in this process owns what it starts from now on
    stranger = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
    try:
        assert stranger.stdout is not None
        port = int(stranger.stdout.readline())
        lonely = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            # A run rooted at another process does not own the stranger.
            with pytest.raises(PortConflict, match=f"port {port} \\(serve_http\\) is served by .*pid {stranger.pid}"):
                check_ports_owned({"serve_http": port}, ProcessLedger("r", root_pid=lonely.pid))
        finally:
            lonely.kill()
            lonely.wait()
        # The same listener is fine for a run that started it (it is our descendant).
        check_ports_owned({"serve_http": port}, ours)
    finally:
        stranger.kill()
        stranger.wait()


def test_after_teardown_ray_init_never_joins_a_cluster_it_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from harness.cluster.local import fence_ray_init, unfence_ray_init

    calls: list[object] = []
    monkeypatch.setattr(ray, "init", lambda address=None, **kw: calls.append(address))
    fence_ray_init("the run's cluster is shut down")
    for straggler in (lambda: ray.init(), lambda: ray.init(namespace="serve"), lambda: ray.init("auto")):
        with pytest.raises(RuntimeError, match="without an address refused"):
            straggler()
    ray.init(address="127.0.0.1:6379")  # a deliberate address still goes through
    fence_ray_init("twice")  # fencing again keeps one layer
    unfence_ray_init()
    ray.init()
    assert calls == ["127.0.0.1:6379", None]
