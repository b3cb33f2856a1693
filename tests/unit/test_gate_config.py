"""Suite and quarantine files: validation, one-line errors, resolution of entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.cluster.pool import destroys_nodes, may_share, reuse_key
from harness.gate.suite_config import (
    config_hash,
    find_suite_file,
    load_quarantine,
    load_suite,
)
from harness.model.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """
name: tiny
seed: 3
duration_s: 5
timeout_s: 60
cluster:
  nodes: [{name: head, num_cpus: 1}]
slos:
  - {name: enough, check: "requests >= 1"}
"""


@pytest.fixture()
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


def write_suite(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(body)
    return path


def can_reuse(entry: Any) -> bool:
    """As a suite decides (harness.gate.session): the entry's reuse_cluster, else the scenario."""
    return may_share(entry.scenario, entry.entry.reuse_cluster)


@pytest.mark.parametrize("name", ["smoke", "presubmit", "nightly", "weekly"])
def test_shipped_suites_validate(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    resolved = load_suite(find_suite_file(name, Path("configs/suites")))
    assert resolved.suite.name == name
    assert resolved.entries and len({e.name for e in resolved.entries}) == len(resolved.entries)


def test_shipped_quarantine_list_validates() -> None:
    assert load_quarantine(ROOT / "configs/quarantine.yaml").quarantine == []


def test_entry_resolution(tmp_path: Path, scenario_file: Path) -> None:
    suite = write_suite(tmp_path, f"""
name: s
frequency: nightly
retries: 2
scenarios:
  - scenario: {scenario_file.name}
    set: [duration_s=4]
    retry_set: ["slos.0.check=requests >= 2"]
    timeout_s: 30
  - scenario: {scenario_file}
    name: tiny-again
    retries: 0
    stable: false
""")
    resolved = load_suite(suite)  # the first path is relative to the suite file
    first, second = resolved.entries
    assert (first.name, first.retries, second.name, second.retries) == ("tiny", 2, "tiny-again", 0)
    scenario, overrides = first.scenario_for(1)
    assert scenario.duration_s == 4 and scenario.timeout_s == 30
    assert scenario.slos[0].check == "requests >= 1"
    assert overrides == ["duration_s=4", "timeout_s=30"]
    retry, retry_overrides = first.scenario_for(2)
    assert retry.slos[0].check == "requests >= 2" and retry.timeout_s == 30
    assert retry_overrides[-1] == "slos.0.check=requests >= 2"
    assert first.config_hash == config_hash(scenario) != config_hash(retry)
    assert second.entry.stable is False


def test_every_problem_is_one_line_with_file_and_key_path(tmp_path: Path, scenario_file: Path) -> None:
    suite = write_suite(tmp_path, f"""
name: s
frequency: nightly
scenarios:
  - scenario: {scenario_file}
    set: [load.users=0]
  - scenario: missing.yaml
  - scenario: {scenario_file}
  - scenario: {scenario_file}
  - scenario: {scenario_file}
    name: short
    timeout_s: 5
""")
    with pytest.raises(ConfigError) as info:
        load_suite(suite)
    first, *rest = info.value.lines
    assert first.startswith(f"{suite}: scenarios.0: {scenario_file}: load.users: expected ")
    assert first.endswith("(got 0)")
    assert rest == [
        f"{suite}: scenarios.1.scenario: expected an existing scenario file (got 'missing.yaml')",
        f"{suite}: scenarios.3.name: expected a name unique in the suite, 'tiny' is also "
        "scenarios.2 (set `name:` on one of them)",
        f"{suite}: scenarios.4 (short): {scenario_file}: (top level): expected timeout_s > duration_s + "
        "cooldown_s, got 5 <= 5",
    ]


def test_schema_errors_name_the_key(tmp_path: Path, scenario_file: Path) -> None:
    suite = write_suite(tmp_path, f"""
name: s
frequency: daily
retries: -1
regression: {{checks: [{{metric: p99_ms, max_increase_pct: 5, max_decrease_pct: 5}}]}}
scenarios:
  - {{scenario: {scenario_file}, bogus: 1}}
""")
    with pytest.raises(ConfigError) as info:
        load_suite(suite)
    text = "\n".join(info.value.lines)
    assert f"{suite}: frequency: expected" in text
    assert f"{suite}: retries: expected" in text
    assert f"{suite}: regression.checks.0: expected exactly one of max_increase_pct" in text
    assert f"{suite}: scenarios.0.bogus: expected no such key" in text


def test_cli_exits_2_on_an_invalid_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, "name: s\nfrequency: nightly\nscenarios: []\n")
    assert main(["suite", str(suite)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{suite}: scenarios: expected ") and "1 item" in err[0]
    assert main(["suite", str(tmp_path / "nope.yaml")]) == 2


def test_cli_only_names_a_known_scenario(tmp_path: Path, scenario_file: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, f"name: s\nfrequency: manual\nscenarios:\n  - scenario: {scenario_file}\n")
    assert main(["suite", str(suite), "--only", "other", "--validate"]) == 2
    assert "--only other: expected a scenario of suite 's' (tiny)" in capsys.readouterr().err
    assert main(["suite", str(suite), "--only", "tiny", "--validate"]) == 0


def test_quarantine_requires_reason_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("quarantine:\n  - {scenario: a, reason: flaky proxy}\n  - {scenario: b, owner: x}\n")
    with pytest.raises(ConfigError) as info:
        load_quarantine(path)
    assert info.value.lines == [
        f"{path}: quarantine.0.owner: expected a value (required key is missing)",
        f"{path}: quarantine.1.reason: expected a value (required key is missing)",
    ]
    path.write_text("quarantine:\n  - {scenario: a, reason: r1x, owner: o}\n  - {scenario: a, reason: r2x, owner: o}\n")
    with pytest.raises(ConfigError, match="expected each scenario once"):
        load_quarantine(path)
    path.write_text("quarantine:\n  - {scenario: a, reason: slow proxy, owner: serve-oncall}\n")
    entry = load_quarantine(path).find("a")
    assert entry is not None and entry.owner == "serve-oncall"
    assert load_quarantine(tmp_path / "absent.yaml").quarantine == []


def test_cluster_reuse_rules(tmp_path: Path, scenario_file: Path) -> None:
    suite = write_suite(tmp_path, f"""
name: s
frequency: nightly
scenarios:
  - {{scenario: {scenario_file}, name: a}}
  - {{scenario: {scenario_file}, name: b, set: [duration_s=3]}}
  - {{scenario: {scenario_file}, name: c, set: [cluster.nodes.0.num_cpus=2]}}
  - {{scenario: {scenario_file}, name: d, reuse_cluster: false}}
  - {{scenario: {scenario_file}, name: e, set: ["cluster.address=127.0.0.1:6379", "cluster.nodes=[]"]}}
""")
    a, b, c, d, e = load_suite(suite).entries
    assert reuse_key(a.scenario) == reuse_key(b.scenario) != reuse_key(c.scenario)
    assert can_reuse(a) and can_reuse(c)
    assert not can_reuse(d)
    assert reuse_key(e.scenario) is None and not can_reuse(e)
    assert not destroys_nodes(a.scenario)


def test_an_autoscaling_cluster_is_never_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """node_autoscaling.yaml has no chaos section and no fixed nodes: the pool must not try
    to start it as a fixed cluster (nightly run 1 here: `not enough values to unpack`)."""
    monkeypatch.chdir(ROOT)
    entry = next(e for e in load_suite(Path("configs/suites/nightly.yaml")).entries if e.name == "node_autoscaling")
    assert entry.scenario.cluster.autoscaling is not None and not destroys_nodes(entry.scenario)
    assert reuse_key(entry.scenario) is None and not can_reuse(entry)


def test_a_chaos_section_destroys_nodes(scenario_file: Path) -> None:
    from harness.model.scenario import Scenario

    class WithChaos(Scenario):  # the chaos section another part adds to Scenario
        chaos: dict = {}

    base = WithChaos.model_validate({**__import__("yaml").safe_load(SCENARIO)})
    assert not destroys_nodes(base)
    base.chaos = {"faults": [{"kind": "kill_raylet"}]}
    assert destroys_nodes(base)
