"""Bounds that mean something (issue 21): metric kinds, never-fail / never-pass checks,
windows that hold time, load shapes that fit the run, short windows at run time."""

from __future__ import annotations

from typing import Any

import pytest

from harness.model.errors import ConfigError
from harness.model.scenario import SLOSpec
from harness.scenario.loader import scenario_from_dict
from harness.slo.bounds import bound_problem
from harness.slo.catalog import METRICS
from harness.slo.core import evaluate, parse_check, validate_checks
from harness.slo.registry import KINDS, SAMPLED
from tests.unit.slo_timelines import phase, request, samples, timeline


def problems(**changes: Any) -> list[str]:
    data: dict[str, Any] = {"name": "b", "duration_s": 10, "cluster": {"nodes": [{"name": "head", "num_cpus": 2}]},
                            "load": {"users": 2}, "slos": [{"check": "success_ratio >= 99%"}]}
    data.update(changes)
    try:
        scenario_from_dict(data, "s.yaml")
    except ConfigError as exc:
        return exc.lines
    return []


def test_every_metric_declares_a_kind() -> None:
    assert set(METRICS) == set(KINDS)


@pytest.mark.parametrize("check, words", [
    ("error_ratio <= 1", "error_ratio is a ratio: write 1%, not 1 (1 means 100%: this check can never fail)"),
    ("success_ratio <= 100%", "can never fail"),
    ("success_ratio >= 99ms", "write 99%, not 99ms"),
    ("p(99) < 50%", "p(99) is a latency"),
    ("p(99) < -5ms", "can never pass"),
    ("success_ratio >= 101%", "can never pass"),
    ("requests == 2.5", "can never pass"),
    ("requests >= 0", "can never fail"),
    ("exit_code(w) == 300", "can never pass"),
    ("max_replicas(Echo) < 0", "can never pass"),
    ("time_to_replicas(Echo, 2) < 5%", "write 5s, not 5%"),
    ("p(99, sheed) < 500ms", "did you mean 'shed'?"),
    ("success_ratio(Echo) >= 99%", "without arguments"),
    ("avg_latency(99) < 5ms", "got the number 99"),
])
def test_checks_that_cannot_judge_are_refused(check: str, words: str) -> None:
    found = validate_checks([SLOSpec(check=check)])
    assert len(found) == 1 and words in found[0][1], found


@pytest.mark.parametrize("check", [
    "success_ratio >= 99%", "success_ratio >= 1", "success_ratio == 100%", "error_ratio <= 0.01",
    "shed_ratio == 0", "errors == 0", "requests >= 1", "p(99) < 500ms", "p(95, ok) < 1s", "p(99) < 500",
    "avg_latency(ok, attempts) < 50ms", "time_to_replicas(Echo, 3) < 30s", "recovery_time < 5000ms",
    "workload(train, loss) < -0.5", "exit_code(train) == 0", "resource_killer_started == 1",
    "ok_rps >= 5", "max_nodes(A100) <= 2",
])
def test_checks_that_judge_are_kept(check: str) -> None:
    assert validate_checks([SLOSpec(check=check)]) == []


def test_a_bound_problem_is_only_about_the_bound() -> None:
    check = parse_check("requests != 0.5")
    assert "can never fail" in bound_problem(check.metric, check.op, check.bound, check.unit, check.written)


def test_duplicate_slo_names_are_refused() -> None:
    lines = problems(slos=[{"check": "p(99) < 1s", "name": "fast"}, {"check": "p(50) < 1s", "name": "fast"}])
    assert lines == ["s.yaml: slos.1.name: expected a name no other SLO has, 'fast' is also slos.0 "
                     "(set `name:` on one of them: reports keep one verdict per name)"]


def test_autoscaling_slo_on_a_fixed_deployment_is_refused() -> None:
    lines = problems(slos=[{"check": "scale_down_time(Echo) < 10s"}], cooldown_s=5)
    assert len(lines) == 1 and "expected a deployment with autoscaling for scale_down_time" in lines[0]
    auto = {"deployments": [{"name": "Echo", "autoscaling_config": {"min_replicas": 1, "max_replicas": 3}}]}
    assert problems(app=auto, slos=[{"check": "scale_down_time(Echo) < 10s"}], cooldown_s=5) == []
    lines = problems(app=auto, slos=[{"check": "time_to_replicas(Echo, 4) < 10s"}])
    assert len(lines) == 1 and "can never pass" in lines[0]


@pytest.mark.parametrize("shape, key, words", [
    ({"kind": "stages", "stages": [{"duration_s": 5, "users": 1}, {"duration_s": 55, "users": 4}]},
     "load.shape.stages.1.duration_s", "add up to 60 s, 50 s past the end"),
    ({"kind": "burst", "baseline": 1, "peak": 4, "start_s": 50, "burst_s": 5}, "load.shape.start_s", "40 s after"),
    ({"kind": "burst", "baseline": 1, "peak": 4, "start_s": 2, "burst_s": 3, "every_s": 4, "count": 3},
     "load.shape.count", "ends at 13 s, 3 s past the end"),
    ({"kind": "burst", "baseline": 1, "peak": 4, "start_s": 8, "burst_s": 5}, "load.shape.burst_s", "duration_s: 13"),
    ({"kind": "ramp", "from": 1, "to": 4, "ramp_s": 30}, "load.shape.ramp_s", "20 s past the end"),
    ({"kind": "trace", "points": [{"offset_s": 0, "level": 1}, {"offset_s": 12, "level": 3}]},
     "load.shape.points.1.offset_s", "2 s past the end"),
])
def test_load_past_the_run_is_refused(shape: dict[str, Any], key: str, words: str) -> None:
    lines = problems(load={"users": 2, "shape": shape})
    assert len(lines) == 1 and lines[0].startswith(f"s.yaml: {key}: expected") and words in lines[0], lines


def test_load_that_fits_is_kept() -> None:
    stages = {"kind": "stages", "stages": [{"duration_s": 4, "users": 1}, {"duration_s": 6, "users": 4}]}
    assert problems(load={"users": 2, "shape": stages}) == []
    burst = {"kind": "burst", "baseline": 1, "peak": 4, "start_s": 2, "burst_s": 3, "every_s": 4, "count": 2}
    assert problems(load={"users": 2, "shape": burst}) == []


def test_a_sampled_metric_over_a_window_shorter_than_the_interval_is_no_data() -> None:
    tl = timeline(phase("run", 0, 30), phase("load", 5, 25), phase("fault-1", 10, 10.2),
                  samples([(t, 2, 2) for t in range(0, 30)]), [request(10.1)])
    short = evaluate(SLOSpec(check="max_replicas(Echo) <= 3", window="fault-1"), tl, sample_interval_s=0.5)
    assert short.no_data and not short.passed
    assert "shorter than the recorder's interval (0.5s)" in short.message
    kept = evaluate(SLOSpec(check="max_replicas(Echo) <= 3", window="fault-1", on_no_data="pass"), tl, sample_interval_s=0.5)
    assert kept.passed and kept.no_data
    # requests are records, not samples: a short window still measures them
    assert evaluate(SLOSpec(check="success_ratio >= 99%", window="fault-1"), tl, sample_interval_s=0.5).measured == 1.0
    assert "max_replicas" in SAMPLED and "success_ratio" not in SAMPLED
