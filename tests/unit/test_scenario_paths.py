"""Paths in a scenario resolve against its folder (the working folder only as the old,
warned fallback); children import from the scenario's folder and the user's PYTHONPATH;
a run folder's scenario.yaml replays from a copy elsewhere (a download from CI)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from harness import PROJECT_ROOT
from harness.model.errors import ConfigError
from harness.pythonpath import SCENARIO_DIR_ENV, python_path
from harness.run.runner import write_resolved_scenario
from harness.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """
name: paths
duration_s: 5
timeout_s: 60
cluster: {nodes: [{name: head, num_cpus: 2, object_store_mb: 100}]}
app: {config: CONFIG}
load:
  model: open
  rate: 5
  requests:
    - {name: predict, method: POST, app: predict, body_template: {prompt: {line_of: LINES}}}
slos:
  - {name: some, check: "requests >= 1"}
"""


def project(tmp_path: Path, config: str, lines: str) -> Path:
    """tmp/project/scenarios/s.yaml with its Serve config and prompts beside it."""
    folder = tmp_path / "project" / "scenarios"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "configs" / "apps" / "serve_config.yaml", folder / "serve.yaml")
    shutil.copytree(ROOT / "configs" / "apps" / "predictor", folder / "predictor")
    (folder / "prompts.txt").write_text("hello\nworld\n")
    path = folder / "s.yaml"
    path.write_text(SCENARIO.replace("CONFIG", config).replace("LINES", lines))
    return path


@pytest.fixture(autouse=True)
def _keep_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # load_scenario exports the scenario's folder for children: undone after each test.
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    monkeypatch.delenv(SCENARIO_DIR_ENV, raising=False)


def test_paths_resolve_against_the_scenario_folder_from_anywhere(tmp_path, monkeypatch, capsys) -> None:
    path = project(tmp_path, "serve.yaml", "prompts.txt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    scenario = load_scenario("../project/scenarios/s.yaml")
    assert scenario.app.config == str(path.parent / "serve.yaml")
    assert scenario.load.requests[0].body_template["prompt"]["line_of"] == str(path.parent / "prompts.txt")
    assert "warning" not in capsys.readouterr().err
    assert os.environ[SCENARIO_DIR_ENV] == str(path.parent)


def test_a_path_only_found_from_the_working_folder_still_works_with_a_warning(tmp_path, monkeypatch, capsys) -> None:
    path = project(tmp_path, "scenarios/serve.yaml", "prompts.txt")  # the old, cwd-relative way
    monkeypatch.chdir(tmp_path / "project")
    scenario = load_scenario(path)
    assert scenario.app.config == "scenarios/serve.yaml"  # as before: relative to the working folder
    err = capsys.readouterr().err
    assert f"{path}: app.config: 'scenarios/serve.yaml' is found relative to the working folder" in err
    assert "ends in the next release" in err


def test_a_missing_path_names_the_scenario_folder(tmp_path, monkeypatch) -> None:
    path = project(tmp_path, "serve.yaml", "nope.txt")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    [line] = info.value.lines
    assert "load.requests.0.body_template.prompt.line_of" in line
    # resolved beside the scenario, shown relative to the working folder it lies in
    assert "'project/scenarios/nope.txt'" in line and "relative to the scenario file" in line


def test_children_get_the_scenario_folder_and_the_users_entries_made_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"PYTHONPATH": f"lib{os.pathsep}/abs/lib", SCENARIO_DIR_ENV: "/scen"}
    entries = python_path(environ=env).split(os.pathsep)
    assert entries == [str(PROJECT_ROOT), "/scen", str(tmp_path), str(tmp_path / "lib"), "/abs/lib"]


def test_a_run_folder_downloaded_elsewhere_replays_with_repository_paths(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)  # the repository, as in CI and in the user's checkout
    scenario = load_scenario("configs/apps/mix.yaml")
    run = write_resolved_scenario(scenario, tmp_path / "ci-runner" / "results" / "r1").parent
    recorded = yaml.safe_load((run / "scenario.yaml").read_text())
    assert recorded["app"]["config"] == "serve_config.yaml"
    line_of = recorded["load"]["requests"][0]["body_template"]["prompt"]["line_of"]
    assert line_of == "configs/apps/prompts.txt"  # the repository's path, not this machine's
    download = tmp_path / "Downloads" / "r1"
    shutil.copytree(run, download)
    shutil.rmtree(run)
    capsys.readouterr()
    again = load_scenario(download / "scenario.yaml", recorded=True)
    assert again.app.config == str(download / "serve_config.yaml")
    assert again.seed == scenario.seed and "warning" not in capsys.readouterr().err
