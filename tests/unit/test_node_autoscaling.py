"""Autoscaling clusters without Ray: config checks (exit 2), the nodes record, node SLOs, the provider config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.cluster.autoscaling_cluster import autoscaling_config
from harness.measure.timeline import Timeline
from harness.model.autoscaling_spec import AutoscalingClusterSpec, machine_node_limit
from harness.model.errors import ConfigError
from harness.model.scenario import SLOSpec
from harness.run.node_recorder import nodes_record
from harness.scenario.loader import load_scenario
from harness.slo.core import evaluate
from tests.unit.slo_timelines import T0, phase

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "scenarios" / "node_autoscaling.yaml"


def scenario_data() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def errors(tmp_path: Path, data: dict) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    return info.value.lines


def test_shipped_scenario_is_valid() -> None:
    scenario = load_scenario(SHIPPED)
    assert scenario.cluster.autoscaling is not None
    assert scenario.cluster.autoscaling.type_names() == ["A100", "A40"]


def test_unknown_node_type_in_an_slo(tmp_path: Path) -> None:
    data = scenario_data()
    data["slos"] = [{"check": "time_to_nodes(H100, 1) < 10s"}]
    lines = errors(tmp_path, data)
    assert len(lines) == 1 and "slos.0.check" in lines[0] and "'H100'" in lines[0] and "A100, A40" in lines[0]


def test_min_workers_above_max_workers(tmp_path: Path) -> None:
    data = scenario_data()
    data["cluster"]["autoscaling"]["node_types"][0].update(min_workers=3, max_workers=2)
    lines = errors(tmp_path, data)
    assert len(lines) == 1 and "cluster.autoscaling.node_types.0" in lines[0] and "3 > 2" in lines[0]


def test_deployment_needing_a_resource_no_node_type_offers(tmp_path: Path) -> None:
    data = scenario_data()
    data["app"]["deployments"][0]["ray_actor_options"]["resources"] = {"H100": 1}
    lines = errors(tmp_path, data)
    assert len(lines) == 1 and "app.deployments.0.ray_actor_options.resources.H100" in lines[0]


def test_node_cap_above_what_the_machine_holds(tmp_path: Path) -> None:
    data = scenario_data()
    data["cluster"]["autoscaling"]["node_cap"] = machine_node_limit() + 1
    lines = errors(tmp_path, data)
    assert len(lines) == 1 and "cluster.autoscaling.node_cap" in lines[0] and "what this machine holds" in lines[0]


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = scenario_data()
    data["cluster"]["autoscaling"]["node_types"][1].update(min_workers=2, max_workers=1)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and str(path) in err[0]


def test_provider_config_names_the_harness_provider_and_the_head_gcs(tmp_path: Path) -> None:
    spec = AutoscalingClusterSpec.model_validate(scenario_data()["cluster"]["autoscaling"])
    config = autoscaling_config(spec, "127.0.0.1:45678", tmp_path)
    provider = config["provider"]
    assert provider["type"] == "external" and provider["module"] == "harness.cluster.fake_provider.HarnessNodeProvider"
    assert provider["gcs_address"] == "127.0.0.1:45678" and provider["node_cap"] == machine_node_limit()
    a100 = config["available_node_types"]["A100"]
    assert a100["resources"]["A100"] == 1 and a100["max_workers"] == 2
    assert a100["node_config"]["startup_delay_s"] == 2
    json.dumps(config)  # the head reads it as JSON


def test_nodes_record_counts_alive_pending_and_terminating() -> None:
    status = {"time": 1.0, "autoscaler_report": {"pending_launches": {"A100": 1}, "active_nodes": {"A100": 1},
                                                 "node_type_mapping": {"h": "ray.head.default", "old": "A40"}},
              "load_metrics_report": {"resource_demand": [[{"A100": 1.0}, 2]]}}
    provider = {"nodes": {"n1": {"type": "A100", "state": "running"}, "n2": {"type": "A100", "state": "booting"}},
                "refused": 0, "wanted_max": 2, "node_cap": 8}
    record = nodes_record(status, {"h", "n1", "old"}, provider)
    # n2 booting and one launch in flight may be the same node: the larger count, not the sum
    assert record["types"]["A100"] == {"alive": 1, "pending": 1, "terminating": 0}
    status["autoscaler_report"]["pending_launches"] = {"A100": 3}
    assert nodes_record(status, {"h", "n1"}, provider)["types"]["A100"]["pending"] == 3
    assert record["types"]["A40"] == {"alive": 0, "pending": 0, "terminating": 1}
    assert record["unmet"] and record["demand"] == [[{"A100": 1.0}, 2]]
    assert "ray.head.default" not in record["types"]


def nodes(at: float, alive: int, pending: int = 0, demand: list | None = None, node_type: str = "A100") -> dict:
    return {"t": T0 + at, "kind": "nodes", "types": {node_type: {"alive": alive, "pending": pending, "terminating": 0}},
            "demand": demand or []}


def judge(records: list[dict], check: str, window: str | None = None):
    return evaluate(SLOSpec(check=check, window=window), Timeline(records))


def run_timeline() -> list[dict]:
    want = [[{"A100": 1.0}, 1]]
    records = phase("run", 0, 40) + phase("load", 2, 20) + phase("after_load", 20, 40)
    records += [nodes(1, 1), nodes(5, 1, 1, want), nodes(9, 1, 1, want), nodes(12, 2), nodes(21, 2),
                nodes(27, 1), nodes(30, 2, 0), nodes(33, 1), nodes(38, 1)]
    records.append({"t": T0 + 0.5, "kind": "node_types", "min_workers": {"A100": 1}})
    return records


def test_time_to_nodes_and_never() -> None:
    verdict = judge(run_timeline(), "time_to_nodes(A100, 2) < 20s")
    assert verdict.passed and verdict.measured == pytest.approx(10.0)
    never = judge(run_timeline(), "time_to_nodes(A100, 3) < 20s")
    assert not never.passed and "A100" in never.message and "most seen 2" in never.message
    assert "A100" in never.message and "demand" in never.message


def test_node_scale_down_uses_the_settle_rule() -> None:
    # Down to 1 at 27 s, back up at 30 s (a rebound does not count), settled from 33 s on.
    verdict = judge(run_timeline(), "node_scale_down_time(A100) < 20s")
    assert verdict.inputs["floor"] == 1  # the type's min_workers
    assert verdict.measured == pytest.approx(13.0) and verdict.passed
    assert not judge(run_timeline(), "node_scale_down_time(A100) < 10s").passed


def test_max_nodes_and_unmet_demand() -> None:
    assert judge(run_timeline(), "max_nodes(A100) <= 2").passed
    too_many = judge(run_timeline(), "max_nodes(A100) <= 1")
    assert not too_many.passed and "A100" in too_many.message and "2 nodes" in too_many.message
    unmet = judge(run_timeline(), "unmet_demand_time(A100) < 5s")
    assert unmet.measured == pytest.approx(7.0) and not unmet.passed
    assert "A100" in unmet.message and "stayed unmet" in unmet.message
    assert judge(run_timeline(), "unmet_demand_time(A40) < 1s").measured == 0


def test_autoscaler_exception_is_quoted() -> None:
    records = run_timeline() + [{"t": T0 + 15, "kind": "autoscaler_exception",
                                 "line": "InjectedCloudError: InsufficientInstanceCapacity: injected launch_failure"}]
    verdict = judge(records, "autoscaler_exceptions == 0")
    assert not verdict.passed and "InsufficientInstanceCapacity" in verdict.message
    assert judge(run_timeline(), "autoscaler_exceptions == 0").passed
