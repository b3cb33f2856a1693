"""A user's Locust class in the open model, in a real Locust process against a tiny local server
(no Ray): only scheduled sends run its tasks, on time, in the seed's order; a raising task is
counted and the process lives on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.load_server import running_server
from harness.load.process import run_load
from harness.measure.timeline import Timeline
from harness.model.load_spec import LoadSpec
from harness.procs.ledger import ProcessLedger

# No Ray cluster: `make test` runs this beside the unit tests (pytest -m no_cluster).
pytestmark = [pytest.mark.integration, pytest.mark.no_cluster]
LOAD = {"model": "open", "rate": 100, "arrivals": "uniform", "user_class": "tests.fixtures.apps.users:FlakyUser"}


def one_run(tmp: Path, name: str, url: str) -> Timeline:
    run_dir = tmp / name
    run_dir.mkdir()
    ledger = ProcessLedger(name)
    run_load(run_dir, LoadSpec.model_validate(LOAD), url, 4, 3, ledger)
    assert ledger.alive() == []
    return Timeline.load(run_dir)


def task_of(record: dict) -> str:
    return "broken_task" if record["name"] in ("echo", "task:broken_task") else "predict"


def test_open_model_user_class_runs_one_task_per_scheduled_send_in_the_seeds_order(tmp_path: Path) -> None:
    with running_server() as (url, _server), ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda name: one_run(tmp_path, name, url), ["a", "b"])
    for timeline in (first, second):
        report = next(e for e in timeline.events if e["kind"] == "load_report")
        assert report["scheduled"] == report["sent"] == 400 and report["dropped"] == 0
        # broken_task sends `echo` and then raises: its error is a record of its own.
        names = [r["name"] for r in timeline.requests]
        assert names.count("echo") == names.count("task:broken_task") > 0
        assert names.count("predict") + names.count("echo") == 400  # one task per send, nothing unscheduled
        assert all("lag_ms" in r for r in timeline.requests if r["name"] in ("predict", "echo"))
    # Same seed, same tasks in the same order (by intended send time).
    order = [[task_of(r) for r in sorted(t.requests, key=lambda r: r["t"]) if r["name"] != "task:broken_task"]
             for t in (first, second)]
    assert order[0] == order[1]


SHOPPER = '''
from locust import FastHttpUser, task


class ShopperUser(FastHttpUser):
    @task
    def browse(self) -> None:
        self.client.get("/api/", name="browse")
'''
SCENARIO = """
name: shopper
duration_s: 2
timeout_s: 60
cluster: {{nodes: [{{name: head, num_cpus: 2, object_store_mb: 100}}]}}
app: {{config: {config}}}
load: {{model: open, rate: 50, arrivals: uniform, user_class: "{module}:ShopperUser"}}
slos:
  - {{name: some, check: "requests >= 1"}}
"""


@pytest.mark.parametrize("where", ["pythonpath", "beside_scenario"])
def test_a_user_class_outside_the_working_folder_validates_and_runs_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Found through a relative PYTHONPATH entry, or beside the scenario file: the
    validation child and the Locust process (which runs in another folder) import it alike."""
    from harness.load.traffic import user_class_problems
    from harness.scenario.loader import load_scenario

    work, scenarios, lib = (tmp_path / name for name in ("work", "scenarios", "lib"))
    for folder in (work, scenarios, lib):
        folder.mkdir()
    module = f"shopper_{where}"  # a name no other test imported
    (lib if where == "pythonpath" else scenarios).joinpath(f"{module}.py").write_text(SHOPPER)
    config = Path(__file__).resolve().parents[2] / "configs" / "apps" / "serve_config.yaml"
    (scenarios / "s.yaml").write_text(SCENARIO.format(config=config, module=module))
    monkeypatch.chdir(work)
    monkeypatch.setenv("PYTHONPATH", "../lib" if where == "pythonpath" else "")
    scenario = load_scenario("../scenarios/s.yaml")  # validates the class in a child process
    assert user_class_problems(scenario) == []
    with running_server() as (url, _server):
        ledger = ProcessLedger(where)
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        run_load(run_dir, scenario.load, url, 2, 3, ledger)
        assert ledger.alive() == []
    names = {r["name"] for r in Timeline.load(run_dir).requests}
    assert names == {"browse"}
