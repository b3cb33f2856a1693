"""Chaos that could never fire is refused at validation, with the key path and why (no cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.model.errors import ConfigError
from harness.scenario.loader import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "scenarios" / "smoke.yaml"  # head + a100-node + a40-node, 15 s of load
SERVE_CONFIG = str(ROOT / "configs" / "apps" / "serve_config.yaml")


def smoke(chaos: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(SMOKE.read_text())
    data["chaos"] = chaos
    data.update(changes)
    return data


def refused(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        scenario_from_dict(data, "s.yaml")
    return caught.value.lines


def one(fault: str, schedule: dict[str, Any], **entry: Any) -> dict[str, Any]:
    return {"faults": [{"fault": fault, "schedule": schedule, **entry}]}


def test_the_issues_case_kill_raylet_every_5s_from_50s_is_refused(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "smoke50.yaml"
    path.write_text(yaml.safe_dump(smoke(one("kill_raylet", {"every_s": 5, "start_s": 50}))))
    assert main(["validate", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"{path}: chaos.faults.0.schedule.start_s: expected a start_s before the schedule's end "
                    "(15 s: the load ends at duration_s 15), got 50: 'kill_raylet' could never fire")


CASES = [
    # schedules outside the run
    (one("kill_replica", {"every_s": 5, "end_s": 40}), "chaos.faults.0.schedule.end_s", "within the run"),
    (one("kill_replica", {"at_s": [2, 20]}), "chaos.faults.0.schedule.at_s", "offsets below 15s"),
    (one("kill_replica", {"at_s": [1, 8], "start_s": 5}), "chaos.faults.0.schedule.at_s", "at or after start_s (5s)"),
    (one("kill_replica", {"at_s": []}), "chaos.faults.0.schedule", "at_s lists no offset"),
    (one("kill_replica", {"poisson_per_s": 0.2, "start_s": 15}), "chaos.faults.0.schedule.start_s", "could never fire"),
    (one("kill_replica", {"poisson_per_s": 0.01, "start_s": 14}), "chaos.faults.0.schedule", "draws no shot"),
    (one("kill_replica", {"every_s": 10, "jitter_s": 9, "start_s": 14.5}), "chaos.faults.0.schedule", "jitter_s 9"),
    # node kills the cluster cannot take
    ({**one("kill_raylet", {"at_s": [3]}), "max_to_kill": 0}, "chaos.max_to_kill", "got 0"),
    ({"max_to_kill": 1, "faults": [{"fault": "kill_raylet", "schedule": {"at_s": [3]}},
                                   {"fault": "terminate_node", "schedule": {"at_s": [6]}}]},
     "chaos.max_to_kill", "room for 'terminate_node'"),
    (one("kill_raylet", {"every_s": 4}), "chaos.faults.0.schedule", "keep_workers_alive=1"),
    (one("kill_raylet", {"at_s": [12]}, replace_after_s=5), "chaos.faults.0.replace_after_s",
     "at 17.0 s could never fire (lower replace_after_s or add cooldown_s)"),
    (one("kill_raylet", {"at_s": [3]}, targets={"nodes": ["a40-node"], "resources": {"A100": 1}}),
     "chaos.faults.0.targets", "both in targets.nodes and offers targets.resources"),
    ({**one("cpu_stress", {"at_s": [3]}, batch_size=3)}, "chaos.faults.0.batch_size", "at most 2"),
    (one("memory_pressure", {"at_s": [3]}, targets={"resources": {"H100": 1}}),
     "chaos.faults.0.targets.resources", "resources some worker node offers"),
    # targets that cannot exist, filters that would be ignored
    (one("kill_replica", {"at_s": [3]}, targets={"deployment": "Echoo"}), "chaos.faults.0.targets.deployment",
     "a deployment of the app (Echo, app/Echo)"),
    (one("kill_replica", {"at_s": [3]}, targets={"nodes": ["a40-node"]}), "chaos.faults.0.targets.nodes",
     "no node filter for 'kill_replica'"),
    (one("kill_raylet", {"at_s": [3]}, targets={"deployment": "Echo"}), "chaos.faults.0.targets.deployment",
     "only replica faults"),
    (one("kill_task_worker", {"at_s": [3]}), "chaos.faults.0.fault", "a tasks or script workload"),
    (one("terminate_instance", {"at_s": [3]}), "chaos.faults.0.args.instance_id", "no cloud instance id"),
    # cloud faults need a node provider
    (one("launch_failure", {"at_s": [3]}), "chaos.faults.0.fault", "cluster.autoscaling for 'launch_failure'"),
    (one("cloud_api_lag", {"at_s": [3]}), "chaos.faults.0.fault", "cluster.autoscaling"),
    (one("termination_failure", {"at_s": [3]}), "chaos.faults.0.fault", "cluster.autoscaling"),
]


@pytest.mark.parametrize(("chaos", "key", "words"), CASES, ids=[f"{c[1]}-{c[2][:24]}" for c in CASES])
def test_chaos_that_could_never_fire_is_refused(chaos: dict[str, Any], key: str, words: str) -> None:
    lines = refused(smoke(chaos))
    assert any(line.startswith(f"s.yaml: {key}: expected") and words in line for line in lines), lines


def test_kill_replica_of_a_deployment_the_config_file_does_not_list() -> None:
    data = smoke(one("kill_replica", {"at_s": [3]}, targets={"deployment": "Predictorr"}), app={"config": SERVE_CONFIG})
    data.pop("load")
    (line,) = refused(data)
    assert line.startswith("s.yaml: chaos.faults.0.targets.deployment: expected a deployment of the app (")
    assert "Echo" in line and "predict/Predictor" in line and "'Predictorr'" in line
    for good in ("Echo", "api/Echo", "predict/Predictor"):
        data["chaos"]["faults"][0]["targets"]["deployment"] = good
        assert scenario_from_dict(data, "s.yaml").chaos.faults[0].targets.deployment == good


def test_sigkill_on_an_existing_cluster_and_node_faults_on_an_autoscaling_cluster() -> None:
    existing = smoke(one("kill_replica", {"at_s": [3]}, args={"method": "sigkill"}), cluster={"address": "127.0.0.1:1"})
    existing["chaos"]["allow_destructive_on_existing"] = True
    assert any("chaos.faults.0.args.method: expected auto or ray_kill" in line for line in refused(existing))
    scaling = load_scenario(ROOT / "configs" / "scenarios" / "node_autoscaling.yaml").model_dump(mode="json")
    scaling["chaos"] = one("kill_raylet", {"at_s": [3]})
    assert any("chaos.faults.0.fault: expected a fault that needs no planned node" in line for line in refused(scaling))


def test_what_can_fire_still_validates() -> None:
    ok = smoke({"max_to_kill": 1, "faults": [
        {"fault": "kill_raylet", "schedule": {"every_s": 4}, "replace_after_s": 1},  # capped after one kill
        {"fault": "kill_replica", "targets": {"deployment": "app/Echo"}, "schedule": {"poisson_per_s": 0.5}},
        {"fault": "cpu_stress", "targets": {"nodes": ["a40-node"], "resources": {"A40": 1}}, "schedule": {"at_s": [3]},
         "optional": True},
    ]})
    assert scenario_from_dict(ok, "s.yaml").chaos.faults[2].optional is True
    tasks = smoke(one("kill_task_worker", {"at_s": [3]}),
                  workloads=[{"type": "tasks", "name": "t", "num_tasks": 4, "num_cpus": 0.1}])
    assert scenario_from_dict(tasks, "s.yaml").chaos.faults[0].fault == "kill_task_worker"
    scaling = load_scenario(ROOT / "configs" / "scenarios" / "node_autoscaling.yaml").model_dump(mode="json")
    scaling["chaos"] = one("launch_failure", {"at_s": [3]}, args={"duration_s": 4})
    assert scenario_from_dict(scaling, "s.yaml").chaos.faults[0].fault == "launch_failure"


@pytest.mark.parametrize("path", sorted((ROOT / "configs").rglob("*.yaml")), ids=lambda p: p.name)
def test_shipped_chaos_plans_fire_every_shot(path: Path) -> None:
    """The shipped scenarios plan no shot the plan itself must skip, apart from max_to_kill's cap."""
    from chaos import fault_registry as registry
    from chaos.plan import Traits, nodes_of_scenario, plan
    from harness.seed import stream

    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or "chaos" not in data:
        pytest.skip("no chaos")
    scenario = load_scenario(path)
    classes = registry.load_named([f.fault for f in scenario.chaos.faults])
    traits = {n: Traits(c.target_kind, c.kills_node) for n, c in classes.items()}
    shots = plan(scenario.chaos, nodes_of_scenario(scenario), scenario.duration_s, stream(scenario.seed, "chaos"), traits)
    assert shots and all(s.action != "skip" or s.capped for s in shots), [s.as_dict() for s in shots]


def test_an_import_path_apps_replica_target_is_checked_once_deployed() -> None:
    """Its deployments are known only after the deploy: the runner asks before load starts."""
    from chaos.fault_registry import deployment_problems

    data = smoke(one("kill_replica", {"at_s": [3]}, targets={"deployment": "Routr"}),
                 app={"import_path": "pkg.mod:app", "name": "shop"})
    scenario = scenario_from_dict(data, "s.yaml")  # unknown until deployed: accepted here
    ((key, what),) = deployment_problems(scenario, {"Router", "Cart"})
    assert key == "chaos.faults.0.targets.deployment"
    assert what == "expected a deployment of the deployed app (Cart, Router), got 'Routr': 'kill_replica' could never fire"
    for good in ("Router", "shop/Router"):
        scenario.chaos.faults[0].targets.deployment = good
        assert deployment_problems(scenario, {"Router", "Cart"}) == []
