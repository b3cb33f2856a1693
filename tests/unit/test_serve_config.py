"""Serve config files as the app: Ray's own schema, errors naming the config file, overrides,
local working_dir, the harness's own app form as the same config, several apps in samples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.app.deploy import short_message
from harness.app.serve_config import (
    ServeConfigError,
    deploy_schema,
    legacy_config,
    load_serve_config,
)
from harness.cli import main
from harness.measure.series import deployment_series
from harness.measure.timeline import Timeline
from harness.model.errors import ConfigError
from harness.run.recorder import serve_sample
from harness.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "apps" / "serve_config.yaml"
SCENARIO = """
name: cfg
duration_s: 5
cluster: {nodes: [{name: head, num_cpus: 2}]}
app: {config: CONFIG}
slos: [{check: "requests >= 1"}]
"""


def scenario_file(tmp_path: Path, config: Path | str, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("CONFIG", str(config)) + extra)
    return path


def config_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def one_error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, overrides)
    assert len(info.value.lines) == 1, info.value.lines
    return info.value.lines[0]


def test_the_example_config_is_accepted_by_rays_schema_and_its_working_dir_becomes_local_uri() -> None:
    config = load_serve_config(EXAMPLE)
    assert [a.name for a in config.apps] == ["api", "predict"]
    assert [a.route_prefix for a in config.apps] == ["/api", "/predict"]
    working_dir = config.data["applications"][1]["runtime_env"]["working_dir"]
    assert working_dir == f"local://{(EXAMPLE.parent / 'predictor').resolve()}"
    schema = deploy_schema(config)
    assert type(schema).__module__ == "ray.serve.schema" and type(schema).__name__ == "ServeDeploySchema"
    assert schema.applications[1].deployments[0].user_config == {"ms_per_token": 0.1}


def test_every_option_ray_knows_is_accepted(tmp_path: Path) -> None:
    path = config_file(tmp_path, {"applications": [{
        "name": "a", "route_prefix": "/a", "import_path": "m:app",
        "deployments": [{
            "name": "D", "user_config": {"k": 1}, "health_check_period_s": 2, "health_check_timeout_s": 5,
            "graceful_shutdown_timeout_s": 3, "max_replicas_per_node": 1, "max_ongoing_requests": 4,
            "autoscaling_config": {"min_replicas": 1, "max_replicas": 3, "upscale_delay_s": 1,
                                   "downscale_delay_s": 5, "metrics_interval_s": 1, "look_back_period_s": 2},
            "ray_actor_options": {"num_cpus": 0.5, "runtime_env": {"env_vars": {"X": "1"}}},
        }],
    }]})
    assert load_serve_config(path).apps[0].deployments == ("D",)


def test_a_value_rays_schema_rejects_names_the_config_file_and_key(tmp_path: Path) -> None:
    line = one_error(scenario_file(tmp_path, EXAMPLE), ["app.config.applications.0.deployments.0.num_replicas=-3"])
    assert line.startswith(f"{EXAMPLE}: applications.0.deployments.0.num_replicas: expected greater than 0")
    assert "(app.config of " in line and "s.yaml)" in line


def test_autoscaling_bounds_are_checked_by_rays_autoscaling_config(tmp_path: Path) -> None:
    line = one_error(scenario_file(tmp_path, EXAMPLE),
                     ["app.config.applications.1.deployments.0.autoscaling_config.min_replicas=5"])
    assert "applications.1.deployments.0.autoscaling_config: expected a value Ray accepts: max_replicas (2)" in line


def test_a_missing_import_path_and_a_missing_file(tmp_path: Path) -> None:
    path = config_file(tmp_path, {"applications": [{"name": "a"}]})
    assert one_error(scenario_file(tmp_path, path)).startswith(
        f"{path}: applications.0.import_path: expected a value (required key is missing)")
    assert one_error(scenario_file(tmp_path, tmp_path / "nope.yaml")).startswith(
        f"{tmp_path / 'nope.yaml'}: (file): expected an existing Serve config file")


def test_a_local_working_dir_that_does_not_exist(tmp_path: Path) -> None:
    path = config_file(tmp_path, {"applications": [{"import_path": "m:app", "runtime_env": {
        "working_dir": "./missing", "py_modules": ["./also-missing"]}}]})
    with pytest.raises(ServeConfigError) as info:
        load_serve_config(path)
    keys = [k for k, _ in info.value.problems]
    assert keys == ["applications.0.runtime_env.working_dir", "applications.0.runtime_env.py_modules.0"]


def test_overrides_edit_the_config_file_and_a_bad_index_says_so(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file(tmp_path, EXAMPLE), ["app.config.applications.0.deployments.0.num_replicas=3"])
    assert scenario.app.serve_config.data["applications"][0]["deployments"][0]["num_replicas"] == 3
    assert yaml.safe_load(EXAMPLE.read_text())["applications"][0]["deployments"][0]["num_replicas"] == 2
    line = one_error(scenario_file(tmp_path, EXAMPLE), ["app.config.applications.5.name=x"])
    assert line.startswith(f"{EXAMPLE} (--set app.config.applications.5.name=x): applications.5: expected a list index")


def test_config_alone_not_with_the_harness_app_fields(tmp_path: Path) -> None:
    line = one_error(scenario_file(tmp_path, EXAMPLE).with_name("s.yaml"), ["app.import_path=m:app"])
    assert "app: expected app.config alone" in line and "import_path" in line


def test_the_harness_app_form_is_the_same_config_shape(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "configs" / "scenarios" / "smoke.yaml")
    config = legacy_config(scenario.app, scenario.seed)
    schema = deploy_schema(config)  # Ray's schema accepts what the harness builds
    assert schema.applications[0].import_path == "harness.app.builtin:build_app"
    assert schema.applications[0].deployments[0].num_replicas == 2
    assert scenario.app.serve_config.data == config.data


def test_graceful_shutdown_options_reach_rays_schema_and_the_driver_build(tmp_path: Path) -> None:
    from ray.serve._private.build_app import build_app

    from harness.app.builtin import build_with_options

    scenario = load_scenario(ROOT / "configs" / "scenarios" / "smoke.yaml", [
        "app.deployments.0.graceful_shutdown_wait_loop_s=0.1", "app.deployments.0.graceful_shutdown_timeout_s=5"])
    config = legacy_config(scenario.app, scenario.seed)
    deployment = deploy_schema(config).applications[0].deployments[0]
    assert (deployment.graceful_shutdown_wait_loop_s, deployment.graceful_shutdown_timeout_s) == (0.1, 5)
    # The built-in app is deployed from the driver with these options applied in code.
    options = {k: v for k, v in config.data["applications"][0]["deployments"][0].items() if k != "name"}
    built = build_app(build_with_options({}, options), name="app", route_prefix="/", default_runtime_env={})
    (echo,) = built.deployments
    assert echo._deployment_config.graceful_shutdown_wait_loop_s == 0.1
    assert echo._deployment_config.graceful_shutdown_timeout_s == 5
    line = one_error(ROOT / "configs" / "scenarios" / "smoke.yaml", ["app.deployments.0.graceful_shutdown_wait_loop_s=-1"])
    assert "app.deployments.0.graceful_shutdown_wait_loop_s" in line and "greater than or equal to 0" in line, line


def test_validate_names_the_config_file_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_file(tmp_path, {"applications": [{"import_path": "m:app", "route_prefix": 5}]})
    assert main(["validate", str(scenario_file(tmp_path, path))]) == 2
    assert f"{path}: applications.0.route_prefix: expected a valid string" in capsys.readouterr().err


def test_several_apps_are_sampled_as_app_slash_deployment() -> None:
    details = {"applications": {
        "api": {"status": "RUNNING", "deployments": {"Echo": {"status": "HEALTHY", "replicas": [{"state": "RUNNING"}]}}},
        "predict": {"status": "DEPLOYING", "deployments": {"Echo": {"status": "UPDATING", "replicas": []}}},
    }}
    sample = serve_sample(["api", "predict"], details)
    assert set(sample["deployments"]) == {"api/Echo", "predict/Echo"}
    assert sample["apps"] == {"api": "RUNNING", "predict": "DEPLOYING"} and sample["app_status"] == "DEPLOYING"
    single = serve_sample(["api"], details)
    assert set(single["deployments"]) == {"Echo"} and "apps" not in single


def test_replica_series_find_app_slash_deployment_and_a_bare_name_one_app_has() -> None:
    samples = [{"t": 1.0, "kind": "sample", "deployments": {"api/Echo": {"running": 2}, "predict/P": {"running": 1}}}]
    timeline = Timeline(list(samples))
    assert deployment_series(timeline, "api/Echo", "running") == [(1.0, 2.0)]
    assert deployment_series(timeline, "P", "running") == [(1.0, 1.0)]
    single = Timeline([{"t": 1.0, "kind": "sample", "deployments": {"Echo": {"running": 3}}}])
    assert deployment_series(single, "app/Echo", "running") == [(1.0, 3.0)]


def test_serves_traceback_becomes_its_first_line_and_the_exception() -> None:
    message = "The deployment failed to start.\nTraceback (most recent call last):\n  File x\nRuntimeError: boom"
    assert short_message(message) == "The deployment failed to start. ... RuntimeError: boom"


def test_keys_ray_ignores_become_notes_so_a_typo_is_seen(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file(tmp_path, EXAMPLE), [
        "app.config.applications.0.deployments.0.num_replica=3", "app.config.applications.1.route_prefx=/p"])
    assert scenario.app.serve_config.notes == [
        "applications.0.deployments.0.num_replica: did you mean num_replicas? "
        "(not a key Ray's DeploymentSchema knows: Ray ignores it)",
        "applications.1.route_prefx: did you mean route_prefix? "
        "(not a key Ray's ServeApplicationSchema knows: Ray ignores it)",
    ]
    assert load_serve_config(EXAMPLE).notes == []


def test_the_recorded_scenario_reloads_with_the_config_as_deployed(tmp_path: Path) -> None:
    from harness.run.runner import write_resolved_scenario

    overrides = ["app.config.applications.0.deployments.0.num_replicas=3"]
    scenario = load_scenario(ROOT / "configs" / "apps" / "mix.yaml", overrides)
    again = load_scenario(write_resolved_scenario(scenario, tmp_path))
    assert again.app.serve_config.data == scenario.app.serve_config.data
    assert again.app.serve_config.data["applications"][0]["deployments"][0]["num_replicas"] == 3
    assert [r.name for r in again.load.requests] == [r.name for r in scenario.load.requests]
