"""The harness's node provider without starting nodes (every launch boots for 600 s)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chaos.faults.cloud import update_control
from harness.cluster.fake_provider import (
    HarnessNodeProvider,
    InjectedCloudError,
    NodeCapReached,
    read_json,
)

TAGS = {"ray-user-node-type": "A100", "ray-node-kind": "worker"}
BOOTING = {"startup_delay_s": 600}


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HarnessNodeProvider:
    monkeypatch.setenv("RAY_FAKE_CLUSTER", "1")
    (tmp_path / "control.json").write_text("{}")
    made = HarnessNodeProvider({"gcs_address": "127.0.0.1:1", "node_cap": 2,
                                "control_file": str(tmp_path / "control.json"),
                                "state_file": str(tmp_path / "state.json")}, "test")
    yield made
    for node_id in made.non_terminated_nodes({"ray-node-kind": "worker"}):
        made.terminate_node(node_id)


def launch(provider: HarnessNodeProvider, count: int = 1) -> None:
    provider.create_node_with_resources_and_labels(BOOTING, TAGS, count, {"CPU": 1, "A100": 1}, {})


def workers(provider: HarnessNodeProvider) -> list[str]:
    return provider.non_terminated_nodes({"ray-node-kind": "worker"})


def test_booting_node_is_listed_and_in_the_state_file(provider: HarnessNodeProvider, tmp_path: Path) -> None:
    launch(provider)
    assert len(workers(provider)) == 1
    state = read_json(str(tmp_path / "state.json"))
    assert [n["state"] for n in state["nodes"].values()] == ["booting"]
    assert [n["type"] for n in state["nodes"].values()] == ["A100"]


def test_cloud_api_lag_hides_new_instances_for_lag_s(provider: HarnessNodeProvider, tmp_path: Path) -> None:
    update_control(tmp_path / "control.json", "cloud_api_lag", {"lag_s": 0.6, "until": time.time() + 10})
    launch(provider)
    assert workers(provider) == []  # launched, not listed yet
    assert [n["state"] for n in read_json(str(tmp_path / "state.json"))["nodes"].values()] == ["hidden"]
    deadline = time.monotonic() + 5
    while not workers(provider) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers(provider)) == 1


def test_launch_and_termination_failures_raise_while_active(provider: HarnessNodeProvider, tmp_path: Path) -> None:
    control = tmp_path / "control.json"
    update_control(control, "launch_failure", {"until": time.time() + 10})
    with pytest.raises(InjectedCloudError, match="launch_failure"):
        launch(provider)
    update_control(control, "launch_failure", None)
    launch(provider)
    update_control(control, "termination_failure", {"until": time.time() + 10})
    with pytest.raises(InjectedCloudError, match="termination_failure"):
        provider.terminate_node(workers(provider)[0])
    update_control(control, "termination_failure", None)
    assert json.loads(control.read_text()) == {}
    state = read_json(str(tmp_path / "state.json"))
    assert state["launch_errors"] == 1 and state["termination_errors"] == 1


def test_node_cap_starts_up_to_the_cap_and_refuses_the_rest(provider: HarnessNodeProvider, tmp_path: Path) -> None:
    with pytest.raises(NodeCapReached, match="node cap 2"):
        launch(provider, count=5)
    assert len(workers(provider)) == 2
    state = read_json(str(tmp_path / "state.json"))
    assert state["refused"] == 1 and state["wanted_max"] == 5


def test_node_guard_trips_when_the_autoscaler_keeps_asking_past_the_cap(tmp_path: Path) -> None:
    import subprocess

    from rich.console import Console

    from harness.cluster.autoscaling_cluster import HeadProcess
    from harness.measure.timeline import TimelineWriter
    from harness.model.cluster_handle import ClusterHandle
    from harness.model.context import InfraError, RunContext
    from harness.model.scenario import Scenario
    from harness.procs.ledger import ProcessLedger
    from harness.run.node_recorder import NodeGuard, NodeRecorder

    scenario = Scenario.model_validate({"name": "g", "duration_s": 5, "cluster": {"autoscaling": {
        "node_types": [{"name": "R", "resources": {"R": 1}, "max_workers": 12}], "node_cap": 2}}})
    ctx = RunContext(scenario=scenario, scenario_file="g.yaml", run_id="g", run_dir=tmp_path,
                     timeline=TimelineWriter(tmp_path / "events.jsonl"), ledger=ProcessLedger("g"),
                     console=Console(quiet=True))
    ctx.cluster = ClusterHandle(address="127.0.0.1:1", owned=True)
    ctx.cluster.backend = HeadProcess(subprocess.Popen(["true"]), tmp_path)
    guard = NodeGuard(NodeRecorder(), node_cap=2)
    state = tmp_path / "provider_state.json"
    state.write_text(json.dumps({"refused": 1, "wanted_max": 7}))
    guard.tick(ctx)  # one refusal: a one-off, not yet a runaway
    state.write_text(json.dumps({"refused": 2, "wanted_max": 12}))
    with pytest.raises(InfraError) as caught:
        guard.tick(ctx)
    assert caught.value.kind == "host_guard"
    assert "wanted 12 worker nodes" in caught.value.message and "node cap of this machine is 2" in caught.value.message
    ctx.cluster.backend.process.wait()
