"""The chaos planner: a pure function of scenario + seed (no cluster)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from rich.console import Console

from chaos.component import ChaosComponent
from chaos.plan import Traits, plan, shot_times
from harness.measure.timeline import TimelineWriter
from harness.model.context import RunContext
from harness.model.node_info import NodeInfo
from harness.model.scenario import ChaosSpec, ScheduleSpec
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict

NODES = [
    {"name": "head", "num_cpus": 2},
    {"name": "a100", "num_cpus": 2, "resources": {"A100": 1}},
    {"name": "a40-1", "num_cpus": 2, "resources": {"A40": 1}},
    {"name": "a40-2", "num_cpus": 2, "resources": {"A40": 1}},
]
KILL = Traits("node", True)


def scenario(seed: int = 1, **chaos: object):
    data = {
        "name": "plan", "seed": seed, "duration_s": 60, "timeout_s": 200,
        "cluster": {"nodes": NODES},
        "chaos": {
            "faults": [
                {"fault": "kill_raylet", "schedule": {"every_s": 10, "jitter_s": 4}, "replace_after_s": 5},
                {"fault": "kill_replica", "schedule": {"poisson_per_s": 0.2}, "batch_size": 2},
                {"fault": "cpu_stress", "args": {"duration_s": 2}, "schedule": {"at_s": [3, 30]}},
            ],
            **chaos,
        },
    }
    return scenario_from_dict(data, "test")


def context(tmp_path: Path, sc) -> RunContext:
    return RunContext(
        scenario=sc, scenario_file="test", run_id="r", run_dir=tmp_path,
        timeline=TimelineWriter(tmp_path / "events.jsonl"), ledger=ProcessLedger("r"),
        console=Console(quiet=True),
    )


def planned(tmp_path: Path, sc) -> list[dict]:
    return [s.as_dict() for s in ChaosComponent(sc.chaos).plan(context(tmp_path, sc))]


def test_same_seed_plans_identical_schedules(tmp_path: Path) -> None:
    first = planned(tmp_path, scenario(seed=42))
    second = planned(tmp_path, scenario(seed=42))
    assert first == second
    assert len(first) > 8
    assert planned(tmp_path, scenario(seed=43)) != first


def test_schedule_survives_a_yaml_round_trip(tmp_path: Path) -> None:
    """`harness reproduce` reruns results/<run>/scenario.yaml: it must plan the same."""
    import yaml

    original = scenario(seed=9)
    dumped = yaml.safe_load(yaml.safe_dump(original.model_dump(mode="json")))
    assert planned(tmp_path, scenario_from_dict(dumped, "scenario.yaml")) == planned(tmp_path, original)


def test_adding_an_entry_does_not_move_the_others(tmp_path: Path) -> None:
    base = scenario(seed=5)
    extra = base.model_copy(deep=True)
    extra.chaos.faults.append(extra.chaos.faults[2].model_copy(update={"schedule": ScheduleSpec(at_s=[50])}))
    times = lambda shots, entry: [s["offset_s"] for s in shots if s["entry"] == entry]  # noqa: E731
    before, after = planned(tmp_path, base), planned(tmp_path, extra)
    for entry in (0, 1, 2):
        assert times(before, entry) == times(after, entry)


def test_periodic_shots_land_within_their_jitter() -> None:
    import random

    times = shot_times(ScheduleSpec(every_s=10, jitter_s=3, start_s=2), 60, random.Random(1))
    assert len(times) == 6
    for k, t in enumerate(times):
        assert 2 + 10 * k <= t <= 2 + 10 * k + 3


def test_poisson_rate_and_count_cap() -> None:
    import random

    times = shot_times(ScheduleSpec(poisson_per_s=2.0), 2000, random.Random(3))
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert statistics.mean(gaps) == pytest.approx(0.5, rel=0.1)
    assert len(shot_times(ScheduleSpec(poisson_per_s=2.0, count=7), 2000, random.Random(3))) == 7


def _nodes() -> list[NodeInfo]:
    return [
        NodeInfo(name="head", resources={"CPU": 2}, is_head=True),
        NodeInfo(name="a100", resources={"CPU": 2, "A100": 1}),
        NodeInfo(name="a40-1", resources={"CPU": 2, "A40": 1}),
        NodeInfo(name="a40-2", resources={"CPU": 2, "A40": 1}),
    ]


def _spec(**fields: object) -> ChaosSpec:
    return ChaosSpec.model_validate(fields)


def test_never_the_head_and_keep_workers_alive() -> None:
    import random

    spec = _spec(keep_workers_alive=1, faults=[{"fault": "kill_raylet", "schedule": {"at_s": [1, 2, 3, 4]}}])
    shots = plan(spec, _nodes(), 60, random.Random(0), {"kill_raylet": KILL})
    killed = [n for s in shots for n in s.nodes]
    assert "head" not in killed
    assert len(killed) == 2 and len(set(killed)) == 2
    skipped = [s for s in shots if s.action == "skip"]
    assert len(skipped) == 2
    assert all("keep_workers_alive=1" in s.reason for s in skipped)


def test_batch_is_capped_by_the_resource_filter_and_max_to_kill() -> None:
    import random

    a40 = _spec(keep_workers_alive=0, faults=[{"fault": "kill_raylet", "batch_size": 3,
                                               "targets": {"resources": {"A40": 1}}, "schedule": {"at_s": [1]}}])
    (shot,) = plan(a40, _nodes(), 60, random.Random(0), {"kill_raylet": KILL})
    assert shot.nodes == ["a40-1", "a40-2"]
    capped = _spec(max_to_kill=1, keep_workers_alive=0,
                   faults=[{"fault": "kill_raylet", "batch_size": 3, "schedule": {"at_s": [1, 2]}}])
    first, second = plan(capped, _nodes(), 60, random.Random(0), {"kill_raylet": KILL})
    assert len(first.nodes) == 1
    assert second.action == "skip" and "max_to_kill=1 reached" in second.reason


def test_replacement_comes_back_and_can_be_hit_again() -> None:
    import random

    spec = _spec(
        keep_workers_alive=0,
        faults=[{"fault": "kill_raylet", "targets": {"nodes": ["a100"]}, "replace_after_s": 2,
                 "schedule": {"at_s": [1, 5]}}],
    )
    shots = plan(spec, _nodes(), 60, random.Random(0), {"kill_raylet": KILL})
    assert [(s.id, s.action, s.nodes, s.offset_s) for s in shots] == [
        ("fault-1", "inject", ["a100"], 1.0),
        ("replace-1", "replace", ["a100-r1"], 3.0),
        ("fault-2", "inject", ["a100-r1"], 5.0),
        ("replace-2", "replace", ["a100-r2"], 7.0),
    ]


def test_run_time_targets_get_seeded_draws() -> None:
    import random

    spec = _spec(faults=[{"fault": "kill_replica", "batch_size": 3, "schedule": {"at_s": [1]}}])
    (shot,) = plan(spec, _nodes(), 60, random.Random(0), {"kill_replica": Traits("replica", False)})
    assert len(shot.picks) == 3 and all(0 <= p < 1 for p in shot.picks)
    assert shot.nodes == []
