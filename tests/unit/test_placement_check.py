"""Work no node could hold is refused at validation (exit 2, key path), not a hang that ends as exit 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.model.errors import ConfigError
from harness.scenario import placement_check
from harness.scenario.loader import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "scenarios" / "smoke.yaml"  # head 2 CPU, a100-node 2 CPU + A100, a40-node 2 CPU + A40
SCALING = ROOT / "configs" / "scenarios" / "node_autoscaling.yaml"  # head 2 CPU; A100 x2, A40 x1 (1 CPU each)


def smoke(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(SMOKE.read_text())
    data.update(changes)
    return data


def scaling() -> dict[str, Any]:
    return yaml.safe_load(SCALING.read_text())


def echo(**options: Any) -> dict[str, Any]:
    return {"deployments": [{"name": "Echo", "num_replicas": 1, "ray_actor_options": options}]}


def refused(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        scenario_from_dict(data, "s.yaml")
    return caught.value.lines


def serve_config(tmp_path: Path, deployment: dict[str, Any]) -> str:
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump({"applications": [{
        "name": "api", "route_prefix": "/", "import_path": "harness.app.builtin:build_app",
        "deployments": [{"name": "Echo", **deployment}]}]}))
    return str(path)


FIXED = [
    (smoke(app=echo(num_cpus=64)), "app.deployments.0.ray_actor_options.num_cpus",
     "deployment 'Echo' needs CPU=64, the largest node has 2"),
    (smoke(app=echo(num_gpus=1)), "app.deployments.0.ray_actor_options.num_gpus", "the largest node has 0"),
    (smoke(app=echo(num_cpus=0.5, resources={"A100": 1, "A40": 1})), "app.deployments.0.ray_actor_options",
     "none has all of it (node 'head': A100=0, A40=0, CPU=2; node 'a100-node': A100=1, A40=0, CPU=2"),
    (smoke(app=echo(resources={"H100": 1})), "app.deployments.0.ray_actor_options.resources.H100",
     "a resource some node offers"),
    (smoke(workloads=[{"type": "tasks", "name": "big", "num_cpus": 4}]), "workloads.0.num_cpus",
     "tasks of workload 'big' needs CPU=4, the largest node has 2"),
    (smoke(workloads=[{"type": "actors", "name": "relay", "num_cpus": 1, "resources": {"A100": 2}}]),
     "workloads.0.resources.A100", "actors of workload 'relay' needs A100=2"),
    (smoke(workloads=[{"type": "tasks", "name": "t", "num_cpus": 2, "resources": {"A40": 1, "A100": 1}}]),
     "workloads.0", "none has all of it"),
]


@pytest.mark.parametrize(("data", "key", "words"), FIXED, ids=[f"{c[1]}" for c in FIXED])
def test_work_no_fixed_node_could_hold_is_refused(data: dict[str, Any], key: str, words: str) -> None:
    lines = refused(data)
    assert any(line.startswith(f"s.yaml: {key}: expected") and words in line for line in lines), lines


def test_the_builtin_replica_needs_a_cpu_by_default() -> None:
    data = smoke(app={"builtin": {}})
    for node in data["cluster"]["nodes"]:
        node["num_cpus"] = 0
    data.pop("workloads", None)
    assert any("app.deployments: expected a resource some node offers: deployment 'Echo' (Serve's default: 1 CPU)"
               in line for line in refused(data))


def test_a_config_file_app_is_checked_from_the_file(tmp_path: Path) -> None:
    data = smoke(app={"config": serve_config(tmp_path, {"ray_actor_options": {"num_cpus": 64}})})
    data.pop("load")
    (line,) = refused(data)
    assert line.startswith(f"s.yaml: app.config: {tmp_path}/serve_config.yaml: applications.0.deployments.0.ray_actor_options"
                           ".num_cpus: expected a resource some node offers: deployment api/Echo needs CPU=64")
    data["app"]["config"] = serve_config(tmp_path, {"ray_actor_options": {"num_cpus": 1, "accelerator_type": "H100"}})
    (line,) = refused(data)
    assert "ray_actor_options.accelerator_type: expected" in line and "accelerator_type:H100" in line
    data["app"]["config"] = serve_config(tmp_path, {"placement_group_bundles": [{"CPU": 1}, {"CPU": 8}]})
    (line,) = refused(data)
    assert "applications.0.deployments.0.placement_group_bundles.1.CPU: expected" in line
    data["app"]["config"] = serve_config(tmp_path, {"placement_group_bundles": [{"CPU": 1.5}, {"CPU": 1.5}],
                                                    "placement_group_strategy": "STRICT_PACK"})
    (line,) = refused(data)
    assert "placement_group_strategy: expected a resource some node offers" in line and "CPU=3" in line
    data["app"]["config"] = serve_config(tmp_path, {"placement_group_bundles": [{"CPU": 1.5}, {"CPU": 1.5}]})
    assert scenario_from_dict(data, "s.yaml").app.config  # PACK: may spread over two nodes


def test_autoscaling_clusters_check_node_types_max_workers_and_node_cap() -> None:
    data = scaling()
    data["app"]["deployments"][0]["ray_actor_options"]["num_cpus"] = 4
    assert any("app.deployments.0.ray_actor_options.num_cpus: expected a resource some node offers: deployment "
               "'Echo' needs CPU=4, the largest node type or the head has 2" in line for line in refused(data))
    data = scaling()
    data["cluster"]["autoscaling"]["node_types"][0]["max_workers"] = 0
    lines = refused(data)
    assert any(line.startswith("s.yaml: app.deployments.0.ray_actor_options: expected a node type that may be "
                               "launched") and "node type 'A100' fits it, with max_workers: 0" in line
               for line in lines), lines
    data = scaling()
    for node_type in data["cluster"]["autoscaling"]["node_types"]:
        node_type["min_workers"] = 1
    data["cluster"]["autoscaling"]["node_cap"] = 1
    assert any("cluster.autoscaling.node_cap: expected at least the sum of min_workers (2: A100=1, A40=1), got 1"
               in line for line in refused(data))


def test_load_workers_on_an_autoscaling_cluster_need_nodes_up_at_start() -> None:
    data = scaling()
    data["load"].update(placement="cluster", workers=2)
    assert any("load.workers: expected at most 1 with load.placement: cluster" in line for line in refused(data))
    data["cluster"]["autoscaling"]["node_types"][1]["min_workers"] = 1
    assert scenario_from_dict(data, "s.yaml").load.workers == 2
    data["load"]["node_resource"] = "H100"
    assert any("load.node_resource: expected a resource some node offers" in line for line in refused(data))


def test_validate_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(smoke(workloads=[{"type": "tasks", "name": "big", "num_cpus": 64}])))
    assert main(["validate", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"{path}: workloads.0.num_cpus: expected a resource some node offers")


def test_what_fits_validates_and_existing_clusters_are_left_to_the_run() -> None:
    for path in (SMOKE, SCALING, ROOT / "configs" / "apps" / "mix.yaml", ROOT / "configs" / "release" / "node-loss-app.yaml"):
        assert placement_check.problems(load_scenario(path)) == [], path
    existing = smoke(cluster={"address": "127.0.0.1:1"}, app=echo(num_cpus=64))
    assert placement_check.problems(scenario_from_dict(existing, "s.yaml")) == []
    fits = smoke(app=echo(num_cpus=2, resources={"A100": 1}),
                 workloads=[{"type": "tasks", "name": "t", "num_cpus": 2, "resources": {"A40": 1}}])
    assert placement_check.problems(scenario_from_dict(fits, "s.yaml")) == []
