"""One seed (harness.seed): a scenario's whole plan replays from its seed, stream by stream.

The plan is computed by the consumers themselves (chaos planner, schedule, load
process streams, request mix, retry policy, workloads, built-in replicas), each fed
the seed by its real channel; a spy on harness.seed checks every declared stream
was drawn from, so a new stream without a replay check fails here.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import harness.seed as seed_module
from chaos.component import ChaosComponent
from harness.app.builtin import replica_stream, sample_latency_ms
from harness.load.process import LoadProcess
from harness.load.traffic import resolve_requests
from harness.measure.timeline import TimelineWriter
from harness.model.context import RunContext
from harness.model.shape import build_profile
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import load_scenario, scenario_from_dict, seed_override
from harness.seed import STREAMS, UndeclaredStream, derive, stream
from harness.workloads import build_workloads
from harness.workloads.tasks import expected_value
from locustfiles.policy import RetryPolicy
from locustfiles.request_mix import RequestMix
from locustfiles.schedule import arrival_offsets, dump_schedule, request_draws, worker_streams

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = 3


def scenario(seed: int) -> Any:
    return scenario_from_dict({
        "name": "seeded", "seed": seed, "duration_s": 30, "timeout_s": 200,
        "cluster": {"nodes": [{"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 2},
                              {"name": "w2", "num_cpus": 2}]},
        "app": {"builtin": {"latency": {"distribution": "exponential", "ms": 20}, "error_rate": 0.1},
                "deployments": [{"name": "Echo", "num_replicas": REPLICAS}]},
        "load": {
            "model": "open", "rate": 30, "arrivals": "poisson",
            "shape": {"kind": "sine", "mean": 20, "amplitude": 10, "period_s": 10, "noise": 2},
            "retry": {"attempts": 3, "backoff_ms": 100, "jitter": 0.5},
            "requests": [
                {"name": "predict", "weight": 3, "method": "POST", "path": "/",
                 "body_template": {"n": {"int": [1, 1000]}, "t": {"float": [0.0, 1.0]},
                                   "m": {"choice": ["a", "b", "c"]}}},
                {"name": "plain", "weight": 1, "path": "/"},
            ],
        },
        "chaos": {"faults": [
            {"fault": "kill_raylet", "schedule": {"every_s": 8, "jitter_s": 3}, "replace_after_s": 2},
            {"fault": "kill_replica", "schedule": {"poisson_per_s": 0.3}},
            {"fault": "network", "args": {"latency_ms": 50, "jitter_ms": 20, "duration_s": 2},
             "schedule": {"at_s": [5]}},
        ]},
        "workloads": [
            {"type": "tasks", "name": "tasks", "num_tasks": 10},
            {"type": "script", "name": "driver", "path": "configs/scripts/tasks_driver.py", "timeout_s": 100},
        ],
    }, "test")


def context(tmp_path: Path, sc: Any) -> RunContext:
    return RunContext(
        scenario=sc, scenario_file="test", run_id="r", run_dir=tmp_path,
        timeline=TimelineWriter(tmp_path / "events.jsonl"), ledger=ProcessLedger("r"),
        console=Console(quiet=True),
    )


def plan_of(tmp_path: Path, sc: Any) -> dict[str, Any]:
    """Every value the seed fixes before (or without) a cluster, each from its consumer's code."""
    ctx = context(tmp_path, sc)
    out: dict[str, Any] = {"chaos": [s.as_dict() for s in ChaosComponent(sc.chaos).plan(ctx)]}
    out["network_jitter"] = [stream(ctx.seed, "chaos-network").uniform(0, 0.02) for _ in range(20)]

    # The load process gets the seed in its config (its one channel) and derives its streams.
    requests = resolve_requests(sc)
    config = LoadProcess(run_dir=tmp_path, spec=sc.load, target_url="http://127.0.0.1:8000",
                         duration_s=sc.duration_s, seed=sc.seed, ledger=ProcessLedger("r"), requests=requests).config()
    load_seed = config["seed"]
    profile = build_profile(config["load"]["shape"], config["base_level"], sc.duration_s, load_seed)
    out["shape_levels"] = [round(profile.level(t / 4), 9) for t in range(4 * int(sc.duration_s))]
    out["arrivals"] = dump_schedule(arrival_offsets(profile, config["load"]["arrivals"], load_seed))
    draws = request_draws(load_seed)
    out["request_draws"] = [next(draws) for _ in range(200)]
    mix = RequestMix(config["requests"])
    policy = RetryPolicy.from_config(config["load"]["retry"])
    for worker in (0, 1, 2):
        streams = worker_streams(load_seed, worker)
        picks = [mix.pick(streams.picks.random()) for _ in range(50)]
        out[f"picks.{worker}"] = [r.name for r in picks]
        out[f"bodies.{worker}"] = [json.loads(r.body_for(streams.bodies) or b"null") for r in picks]
        out[f"jitter.{worker}"] = [policy.backoff_s(n, streams.retry) for n in (1, 2) for _ in range(10)]

    workloads = build_workloads(sc)
    out["workload_seeds"] = {w.workload_name: w.seed(ctx) for w in workloads}
    out["task_values"] = [expected_value(out["workload_seeds"]["tasks"], i, 1) for i in range(10)]

    # A replica gets the run seed in its app args; its stream is keyed by its rank.
    args = sc.app.serve_config.data["applications"][0]["args"]
    latency = args["latency"]
    out["replicas"] = {
        rank: [sample_latency_ms(rng, latency) for _ in range(20)] + [rng.random() for _ in range(20)]
        for rank in range(REPLICAS)
        for rng in [replica_stream(args["seed"], "default", "Echo", rank)]
    }
    return out


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    names: set[str] = set()
    real = seed_module._key

    def spy(seed: int, name: str, parts: dict[str, object]) -> int:
        names.add(name)
        return real(seed, name, parts)

    monkeypatch.setattr(seed_module, "_key", spy)
    return names


def test_the_same_seed_plans_every_value_the_same_and_every_stream_is_drawn(tmp_path: Path, drawn: set[str]) -> None:
    first = plan_of(tmp_path / "a", scenario(41))
    again = plan_of(tmp_path / "b", scenario(41))
    assert first == again
    assert drawn == set(STREAMS)  # a new stream needs its place in plan_of
    # Every part is non-trivial: a plan of empty lists would compare equal too.
    assert len(first["chaos"]) >= 4 and len(first["arrivals"]) > 300
    assert len(set(first["arrivals"])) == len(first["arrivals"])
    assert {b["m"] for b in first["bodies.1"] if b} == {"a", "b", "c"}
    assert len(set(first["jitter.0"])) == 20 and len(set(first["workload_seeds"].values())) == 2
    assert len({tuple(v) for v in first["replicas"].values()}) == REPLICAS  # one stream per rank


def test_another_seed_changes_every_planned_value(tmp_path: Path) -> None:
    first = plan_of(tmp_path / "a", scenario(41))
    other = plan_of(tmp_path / "b", scenario(42))
    assert first.keys() == other.keys()
    same = [key for key in first if first[key] == other[key]]
    assert same == []


def test_streams_are_independent_of_each_other_and_keep_their_derivation() -> None:
    # The derivation recorded runs were made with: sha256("<seed>:<name>"), first 8 bytes.
    digest = hashlib.sha256(b"7:load.arrivals").digest()
    assert stream(7, "load.arrivals").random() == random.Random(int.from_bytes(digest[:8], "big")).random()
    assert derive(7, "load.retry.{worker}", worker=2) == int.from_bytes(
        hashlib.sha256(b"7:load.retry.2").digest()[:8], "big")
    assert derive(7, "chaos") != derive(7, "chaos-network")
    with pytest.raises(UndeclaredStream, match="not declared"):
        stream(7, "chaos.extra")


def test_seed_has_one_channel_the_scenarios_seed() -> None:
    smoke = ROOT / "configs" / "scenarios" / "smoke.yaml"
    assert load_scenario(smoke, seed_override(None)).seed == load_scenario(smoke).seed
    assert load_scenario(smoke, ["load.users=2", *seed_override(77)]).seed == 77
    # The built-in app's replicas receive it in their args, as every other consumer does.
    sc = load_scenario(smoke, seed_override(77))
    assert sc.app.serve_config.data["applications"][0]["args"]["seed"] == 77
