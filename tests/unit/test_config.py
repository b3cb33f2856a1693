"""Scenario validation: one line per problem naming the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.model.errors import ConfigError
from harness.scenario.loader import load_scenario, seed_override

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "scenarios" / "smoke.yaml"


def write(tmp_path: Path, data: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def base() -> dict:
    return yaml.safe_load(SMOKE.read_text())


def error_lines(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, overrides)
    return info.value.lines


def test_every_shipped_scenario_is_valid():
    for path in sorted((ROOT / "configs" / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        assert scenario.name


def test_unknown_key_names_file_and_path(tmp_path):
    data = base()
    data["cluster"]["nodes"][1]["num_cpu"] = 2
    path = write(tmp_path, data)
    [line] = error_lines(path)
    assert line.startswith(f"{path}: cluster.nodes.1.num_cpu: expected no such key")


def test_wrong_type_says_what_was_expected(tmp_path):
    data = base()
    data["load"]["users"] = "many"
    [line] = error_lines(write(tmp_path, data))
    assert "load.users: expected a valid integer" in line
    assert "'many'" in line


def test_negative_duration_rejected(tmp_path):
    data = base()
    data["duration_s"] = -5
    [line] = error_lines(write(tmp_path, data))
    assert "duration_s: expected" in line and "greater than 0" in line


def test_min_replicas_above_max_rejected(tmp_path):
    data = base()
    dep = data["app"]["deployments"][0]
    dep.pop("num_replicas")
    dep["autoscaling_config"] = {"min_replicas": 5, "max_replicas": 2}
    [line] = error_lines(write(tmp_path, data))
    assert "app.deployments.0.autoscaling_config" in line
    assert "min_replicas <= max_replicas" in line


def test_resource_no_node_has_rejected(tmp_path):
    data = base()
    data["app"]["deployments"][0]["ray_actor_options"] = {"resources": {"H100": 1}}
    [line] = error_lines(write(tmp_path, data))
    assert "app.deployments.0.ray_actor_options.resources.H100" in line
    assert "largest node has 0" in line


def test_bad_slo_check_rejected(tmp_path):
    data = base()
    data["slos"].append({"check": "p(99) lt 5"})
    lines = error_lines(write(tmp_path, data))
    assert any("slos.3.check: expected '<metric> <op> <number>" in line for line in lines)


def test_unknown_metric_rejected(tmp_path):
    data = base()
    data["slos"] = [{"check": "happiness > 3"}]
    [line] = error_lines(write(tmp_path, data))
    assert "slos.0.check: expected a known metric" in line


def test_yaml_python_tag_is_not_constructed(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['touch pwned']\n")
    [line] = error_lines(path)
    assert line.startswith(f"{path}: line 1: name: expected plain YAML data, not the tag !!python/object")
    assert not (tmp_path / "pwned").exists()


def test_set_override_and_seed():
    scenario = load_scenario(SMOKE, ["load.users=7", "app.deployments.0.num_replicas=3", *seed_override(99)])
    assert scenario.load.users == 7
    assert scenario.app.deployments[0].num_replicas == 3
    assert scenario.seed == 99


def test_set_override_with_bad_path():
    with pytest.raises(ConfigError) as info:
        load_scenario(SMOKE, ["app.deployments.5.num_replicas=3"])
    assert "app.deployments.5: expected a list index below 1" in info.value.lines[0]


def test_set_override_is_validated():
    with pytest.raises(ConfigError) as info:
        load_scenario(SMOKE, ["load.users=-1"])
    assert "load.users: expected" in info.value.lines[0]


def test_validate_command_exit_codes(tmp_path, capsys):
    assert main(["validate", str(SMOKE)]) == 0
    data = base()
    data["bogus"] = 1
    bad = write(tmp_path, data)
    assert main(["validate", str(SMOKE), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{bad}: bogus: expected no such key (unknown key) (got 1)"]


def test_run_with_invalid_config_starts_nothing(tmp_path, capsys):
    data = base()
    data["cluster"]["nodes"] = []
    bad = write(tmp_path, data)
    results = tmp_path / "results"
    assert main(["run", str(bad), "--results", str(results)]) == 2
    assert "cluster: expected either cluster.address" in capsys.readouterr().err
    assert not results.exists()


def test_missing_file(tmp_path):
    [line] = error_lines(tmp_path / "nope.yaml")
    assert line == f"{tmp_path / 'nope.yaml'}: expected an existing scenario file"
