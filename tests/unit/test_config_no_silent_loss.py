"""No silent config loss (issue 11): what a scenario says is either used or rejected, exit 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.model.errors import ConfigError
from harness.scenario.loader import load_scenario, scenario_from_dict

HEAD_ONLY = {"nodes": [{"name": "head", "num_cpus": 1}]}
WITH_WORKER = {"nodes": [{"name": "head", "num_cpus": 1}, {"name": "w1", "num_cpus": 1}]}


def validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err.splitlines()


def problems(**extra) -> list[str]:
    data = {"name": "s", "duration_s": 10, "cluster": HEAD_ONLY, **extra}
    try:
        scenario_from_dict(data, "s.yaml")
    except ConfigError as exc:
        return exc.lines
    return []


# -- duplicate keys ------------------------------------------------------------------------


def test_a_second_slos_key_is_rejected_with_both_lines(tmp_path, capsys):
    code, err = validate(tmp_path, """\
        name: dup
        duration_s: 5
        cluster: {nodes: [{name: head, num_cpus: 1}]}
        slos:
          - check: "p(99) < 100ms"
        load: {users: 2}
        slos:
          - check: "requests >= 1"
        """, capsys)
    assert code == 2 and len(err) == 1
    assert err[0] == (f"{tmp_path / 's.yaml'}: line 7: slos: expected each key once per mapping, "
                      "'slos' is also on line 4 (YAML would keep only the last)")


@pytest.mark.parametrize("text, where, first", [
    ("load:\n  shape:\n    kind: constant\n    kind: constant\n", "line 4: load.shape.kind", 3),
    ("slos:\n  - check: 'requests >= 1'\n    window: load\n    check: 'p(50) < 1ms'\n", "line 4: slos.0.check", 2),
    ("cluster: {nodes: [{name: head, num_cpus: 1, num_cpus: 2}]}\n", "line 1: cluster.nodes.0.num_cpus", 1),
])
def test_duplicate_keys_are_rejected_at_any_depth(tmp_path, capsys, text, where, first):
    base = "name: dup\nduration_s: 5\n"
    if not text.startswith("cluster"):
        base += "cluster: {nodes: [{name: head, num_cpus: 1}]}\n"
    path = tmp_path / "s.yaml"
    path.write_text(base + text)
    offset = base.count("\n")
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.splitlines()
    line, key = where.split(": ", 1)
    number = int(line.split()[1]) + offset
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"{path}: line {number}: {key}: expected each key once per mapping")
    assert f"is also on line {first + offset}" in err[0]


# -- booleans where numbers are expected ---------------------------------------------------------


@pytest.mark.parametrize("extra, key", [
    ({"load": {"users": True}}, "load.users"),
    ({"duration_s": True}, "duration_s"),
    ({"cluster": {"nodes": [{"name": "head", "num_cpus": 1, "resources": {"A40": True}}]}},
     "cluster.nodes.0.resources.A40"),
    ({"load": {"model": "open", "rate": False}}, "load.rate"),
    ({"cluster": WITH_WORKER, "chaos": {"faults": [{"fault": "kill_raylet", "schedule": {"at_s": [1, True]}}]}},
     "chaos.faults.0.schedule.at_s.1"),
    ({"chaos": {"faults": [{"fault": "network", "args": {"mode": "latency", "latency_ms": True},
                            "schedule": {"at_s": [1]}}]}}, "chaos.faults.0.args.latency_ms"),
])
def test_booleans_are_not_numbers(extra, key):
    lines = problems(**extra)
    assert any(line.startswith(f"s.yaml: {key}: expected a valid ") and "(got True" in line or
               line.startswith(f"s.yaml: {key}: expected a valid ") and "(got False" in line for line in lines), lines


def test_users_yes_names_the_yaml_boolean(tmp_path, capsys):
    code, err = validate(tmp_path, """\
        name: b
        duration_s: 5
        cluster: {nodes: [{name: head, num_cpus: 1}]}
        load: {users: yes}
        """, capsys)
    assert code == 2
    assert err == [f"{tmp_path / 's.yaml'}: load.users: expected a valid integer "
                   "(got True: YAML reads yes/no/on/off/true/false as booleans)"]


def test_numbers_still_pass_where_floats_are_expected():
    assert problems(duration_s=5, cooldown_s=0, load={"model": "open", "rate": 3}) == []


# -- SLOs naming what the scenario does not have ---------------------------------------------------


def test_an_slo_on_a_deployment_the_builtin_app_lacks_is_rejected():
    lines = problems(slos=[{"check": "max_replicas(Echo) <= 3"}, {"check": "max_replicas(Nope) <= 3"}])
    assert lines == ["s.yaml: slos.1.check: expected a deployment of app 'app' (Echo), got 'Nope'"]


def test_an_slo_on_a_workload_the_scenario_lacks_is_rejected():
    lines = problems(slos=[{"check": "exit_code(train) == 0"}])
    assert lines == ["s.yaml: slos.0.check: expected a workload of the scenario (none defined), got 'train'"]
    script = Path(__file__)
    ok = problems(workloads=[{"type": "script", "name": "train", "path": str(script), "timeout_s": 30}],
                  slos=[{"check": "exit_code(train) == 0"}, {"check": "tasks_failed(train) == 0"}])
    assert ok == []


def test_builtin_app_overrides_name_its_one_deployment():
    lines = problems(app={"deployments": [{"name": "Ech0", "num_replicas": 2}]})
    assert lines == ["s.yaml: app.deployments.0.name: expected a deployment of the built-in app (Echo), got 'Ech0'"]


FAULTS = {"faults": [{"fault": "kill_replica", "schedule": {"at_s": [2, 4]}}]}


@pytest.mark.parametrize("window, extra, ok", [
    ("fault-2", {"chaos": FAULTS}, True),
    ("30s after fault-1", {"chaos": FAULTS}, True),
    ("fault-3", {"chaos": FAULTS}, False),
    ("fault-1", {}, False),
    ("burst-1", {}, False),
    ("burst-1", {"load": {"model": "open", "shape": {"kind": "burst", "baseline": 2, "peak": 8,
                                                   "start_s": 2, "burst_s": 2}}}, True),
    ("from baseline to recovery-1", {"load": {"model": "open", "shape": {
        "kind": "burst", "baseline": 2, "peak": 8, "start_s": 2, "burst_s": 2}}}, True),
    ("cooldown", {}, False),
    ("cooldown", {"cooldown_s": 5}, True),
    ("first 5s of lod", {}, False),
    ("after_load", {"cooldown_s": 5}, True),
])
def test_slo_windows_must_be_ones_the_scenario_can_have(window, extra, ok):
    lines = problems(slos=[{"check": "requests >= 1", "window": window}], **extra)
    if ok:
        assert lines == []
    else:
        assert len(lines) == 1 and lines[0].startswith("s.yaml: slos.0.window: expected a window this scenario has (")


def test_unknown_window_lists_the_known_ones():
    lines = problems(slos=[{"check": "requests >= 1", "window": "fault-9"}], chaos=FAULTS)
    assert lines == ["s.yaml: slos.0.window: expected a window this scenario has (after_load, app_deploy, "
                     "cluster_start, load, run, fault-1..fault-2), got 'fault-9'"]


def test_import_path_app_deployments_are_checked_after_deploy(tmp_path):
    from harness.model.context import InfraError
    from harness.model.outcome import EXIT_USAGE
    from harness.report.run_results import RunResults
    from harness.run.runner import Runner

    scenario = scenario_from_dict({
        "name": "s", "duration_s": 5, "cluster": HEAD_ONLY,
        "app": {"import_path": "my_pkg.app:graph"},
        "slos": [{"check": "max_replicas(Model) <= 4"}, {"check": "max_replicas(Nope) <= 3"}],
    }, "s.yaml")  # an import-path app's deployments are unknown before it is deployed
    runner = Runner(scenario=scenario.model_copy(update={"slos": scenario.slos[:1]}), scenario_file="s.yaml", results_root=tmp_path,
                    reporter=RunResults(), components=[])
    runner._check_slo_subjects(["Ingress", "Model"])  # what Serve reports: Model exists
    runner.scenario = scenario.model_copy(update={"slos": scenario.slos[1:]})
    with pytest.raises(InfraError) as info:
        runner._check_slo_subjects(["Ingress", "Model"])
    assert info.value.kind == "config"
    assert info.value.message == "s.yaml: slos.0.check: expected a deployment of app 'app' (Ingress, Model), got 'Nope'"
    runner.outcome.fail(info.value.kind, info.value.message)
    assert runner.outcome.exit_code == EXIT_USAGE


# -- faults whose targets cannot exist ---------------------------------------------------------


@pytest.mark.parametrize("fault", ["kill_raylet", "terminate_node", "cpu_stress"])
def test_a_node_fault_on_a_head_only_cluster_is_rejected(fault):
    lines = problems(chaos={"faults": [{"fault": fault, "schedule": {"at_s": [1]}}]})
    assert lines == [f"s.yaml: chaos.faults.0.fault: expected a worker node in cluster.nodes: {fault!r} never "
                     "targets the head node (head), the only node, so it could never fire"]


def test_a_node_kill_that_keep_workers_alive_forbids_is_rejected():
    lines = problems(cluster=WITH_WORKER, chaos={"faults": [{"fault": "kill_raylet", "schedule": {"at_s": [1]}}]})
    assert lines == ["s.yaml: chaos.faults.0.fault: expected more worker nodes (1) than "
                     "chaos.keep_workers_alive (1): 'kill_raylet' could never fire"]
    assert problems(cluster=WITH_WORKER, chaos={"keep_workers_alive": 0, "faults": [
        {"fault": "kill_raylet", "schedule": {"at_s": [1]}}]}) == []


def test_a_target_node_that_does_not_exist_is_rejected():
    lines = problems(cluster=WITH_WORKER, chaos={"keep_workers_alive": 0, "faults": [
        {"fault": "terminate_node", "targets": {"nodes": ["w9"]}, "schedule": {"at_s": [1]}}]})
    assert lines == ["s.yaml: chaos.faults.0.targets.nodes.0: expected a node of cluster.nodes (head, w1), got 'w9'"]


def test_shipped_scenarios_still_validate():
    for path in sorted(Path("configs/scenarios").glob("*.yaml")):
        load_scenario(path)


@pytest.mark.parametrize("window, extra, words", [
    ("after_load", {}, "set cooldown_s"),  # without a cooldown the run ends with the load
    ("first 0s of load", {}, "0 s long"),
    ("from after_load to cluster_start", {"cooldown_s": 5}, "inverted"),
    ("after run", {"cooldown_s": 5}, "empty"),
    ("before cluster_start", {}, "empty"),
])
def test_slo_windows_must_hold_time(window, extra, words):
    lines = problems(slos=[{"check": "requests >= 1", "window": window}], **extra)
    assert len(lines) == 1 and lines[0].startswith("s.yaml: slos.0.window: expected a window that holds time")
    assert words in lines[0]
