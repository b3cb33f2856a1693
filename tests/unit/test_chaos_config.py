"""Chaos config and plugin discovery: bad input is exit 2 naming the key path (no cluster)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from chaos import fault_registry as registry
from harness.cli import main
from harness.model.errors import ConfigError
from harness.scenario.loader import scenario_from_dict

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "extra_faults"


def base(**chaos: object) -> dict:
    return {
        "name": "c", "duration_s": 20, "timeout_s": 100,
        "cluster": {"nodes": [{"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 2, "resources": {"A40": 1}}]},
        "chaos": chaos,
    }


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        scenario_from_dict(data, "s.yaml")
    return info.value.lines


def test_scenarios_without_chaos_stay_valid() -> None:
    assert scenario_from_dict(base(), "s.yaml").chaos.faults == []


def test_fault_argument_typo_names_the_key_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    data = base(faults=[{"fault": "cpu_stress", "args": {"duration_s": 1, "nodee": 2}, "schedule": {"at_s": [1]}}])
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{path}: chaos.faults.0.args.nodee: expected no such key (unknown key) (got 2)"]


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ({"fault": "kill_raylett", "schedule": {"at_s": [1]}}, "chaos.faults.0.fault", "a known fault"),
        ({"fault": "cpu_stress", "args": {"duration_s": -1}, "schedule": {"at_s": [1]}},
         "chaos.faults.0.args.duration_s", "greater than 0"),
        ({"fault": "kill_raylet", "schedule": {"at_s": [25]}}, "chaos.faults.0.schedule.at_s", "offsets below 20s"),
        ({"fault": "kill_raylet", "schedule": {"at_s": [1], "every_s": 3}}, "chaos.faults.0.schedule", "exactly one of"),
        ({"fault": "kill_raylet", "schedule": {"every_s": 3, "jitter_s": 3}}, "chaos.faults.0.schedule", "jitter_s < every_s"),
        ({"fault": "kill_raylet", "targets": {"nodes": ["head"]}, "schedule": {"at_s": [1]}},
         "chaos.faults.0.targets.nodes.0", "is the head node"),
        ({"fault": "kill_raylet", "targets": {"nodes": ["w9"]}, "schedule": {"at_s": [1]}},
         "chaos.faults.0.targets.nodes.0", "a node of cluster.nodes"),
        ({"fault": "kill_raylet", "targets": {"resources": {"A100": 1}}, "schedule": {"at_s": [1]}},
         "chaos.faults.0.targets.resources", "resources some worker node offers"),
        ({"fault": "kill_replica", "targets": {"deployment": "Nope"}, "schedule": {"at_s": [1]}},
         "chaos.faults.0.targets.deployment", "a deployment of the app"),
        ({"fault": "network", "replace_after_s": 1, "schedule": {"at_s": [1]}},
         "chaos.faults.0.replace_after_s", "kills no node"),
    ],
)
def test_bad_chaos_entries(entry: dict, key: str, words: str) -> None:
    lines = problems(base(faults=[entry]))
    assert any(line.startswith(f"s.yaml: {key}: expected") and words in line for line in lines), lines


def test_destructive_faults_on_an_existing_cluster_need_an_opt_in() -> None:
    data = base(faults=[{"fault": "kill_replica", "schedule": {"at_s": [1]}},
                        {"fault": "cpu_stress", "schedule": {"at_s": [1]}}])
    data["cluster"] = {"address": "127.0.0.1:6379"}
    (line,) = problems(data)
    assert line.startswith("s.yaml: chaos.faults.0.fault: expected chaos.allow_destructive_on_existing: true")
    data["chaos"]["allow_destructive_on_existing"] = True
    assert len(scenario_from_dict(data, "s.yaml").chaos.faults) == 2


def install_plugin(root: Path, extra_entry_points: str = "") -> Path:
    """The fixture package as an installed distribution: source plus a .dist-info on sys.path."""
    shutil.copytree(FIXTURE / "src" / "extra_faults", root / "extra_faults")
    info = root / "harness_extra_faults-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: harness-extra-faults\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[harness.faults]\nfreeze_replica = extra_faults:FreezeReplica\n"
        "signal_pid = extra_faults:SignalPid\n" + extra_entry_points
    )
    return root


def test_plugins_are_discovered_and_only_named_ones_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A plugin that explodes on import proves unnamed plugins are never imported.
    (tmp_path / "bomb.py").write_text("raise RuntimeError('imported although not named')\n")
    monkeypatch.syspath_prepend(str(install_plugin(tmp_path, "bomb = bomb:Nothing\n")))
    monkeypatch.delitem(sys.modules, "extra_faults", raising=False)
    assert {"freeze_replica", "signal_pid", "bomb"} <= set(registry.known_names())
    cls = registry.load_named(["signal_pid"])["signal_pid"]
    assert cls.__module__ == "extra_faults" and "bomb" not in sys.modules
    ok = base(faults=[{"fault": "signal_pid", "args": {"pid": 1234}, "schedule": {"at_s": [1]}}])
    assert scenario_from_dict(ok, "s.yaml").chaos.faults[0].fault == "signal_pid"
    ok["chaos"]["faults"][0]["args"] = {"pidd": 1234}
    assert any("chaos.faults.0.args.pidd: expected no such key" in line for line in problems(ok))
    broken = base(faults=[{"fault": "bomb", "schedule": {"at_s": [1]}}])
    assert any("chaos.faults.0.fault: expected an importable fault plugin" in line for line in problems(broken))


def test_a_plugin_must_be_a_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install_plugin(tmp_path, "notafault = json:dumps\n")))
    with pytest.raises(registry.UnknownFault, match="Fault subclass"):
        registry.load("notafault")
    with pytest.raises(registry.UnknownFault, match="a known fault"):
        registry.load("no_such_fault")


def test_every_builtin_is_declared_and_loads_under_its_name() -> None:
    builtins = ["kill_raylet", "terminate_node", "drain_node", "kill_replica", "kill_proxy", "kill_controller",
                "kill_task_worker", "cpu_stress", "memory_pressure", "network"]
    classes = registry.load_named(builtins)
    assert {name: cls.name for name, cls in classes.items()} == {name: name for name in builtins}
    assert all(cls.__module__.startswith("chaos.faults.") for cls in classes.values())


def test_a_plugin_cannot_shadow_a_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install_plugin(tmp_path, "kill_raylet = extra_faults:SignalPid\n")))
    with pytest.raises(registry.UnknownFault, match="declared by .*harness-extra-faults"):
        registry.load("kill_raylet")
    data = base(faults=[{"fault": "kill_raylet", "schedule": {"at_s": [1]}}])
    assert any(line.startswith("s.yaml: chaos.faults.0.fault: expected one fault named 'kill_raylet'")
               for line in problems(data))
