"""SLO arithmetic on synthetic timelines: pure functions, no cluster."""

from __future__ import annotations

import math

import pytest

from harness.measure.stats import percentile
from harness.measure.timeline import Timeline
from harness.model.scenario import SLOSpec
from harness.slo.core import evaluate, parse_check
from harness.slo.registry import SLOSyntaxError


def req(t: float, latency_ms: float, outcome: str = "ok", final: bool = True) -> dict:
    status = {"ok": 200, "error": 500, "shed": 503, "timeout": 0}[outcome]
    return {"t": t, "kind": "request", "latency_ms": latency_ms, "outcome": outcome,
            "status": status, "final": final}


def phase(t: float, name: str, edge: str) -> dict:
    return {"t": t, "kind": "phase", "name": name, "edge": edge}


def timeline_with(requests: list[dict], load=(0.0, 100.0)) -> Timeline:
    return Timeline([phase(load[0], "load", "start"), *requests, phase(load[1], "load", "end")])


def test_parse_units():
    assert parse_check("p(99) < 500ms").bound == 500
    assert parse_check("p(99) < 0.5s").bound == 500
    assert parse_check("success_ratio >= 99.5%").bound == pytest.approx(0.995)
    assert parse_check("requests >= 10").bound == 10
    with pytest.raises(SLOSyntaxError):
        parse_check("p99 << 5")


def test_nearest_rank_percentile():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_latency_percentile_verdict_names_window_and_value():
    requests = [req(1 + i * 0.1, float(i + 1)) for i in range(100)]
    verdict = evaluate(SLOSpec(check="p(99) < 50ms"), timeline_with(requests))
    assert not verdict.passed
    assert verdict.measured == 99
    assert "measured 99.0ms" in verdict.message and "below 50.0ms" in verdict.message
    assert "window 'load'" in verdict.message
    assert verdict.inputs["samples"] == 100


def test_success_ratio_counts_only_final_attempts():
    requests = [req(1, 5, "error", final=False), req(1.1, 5, "ok")] + [req(2 + i, 5) for i in range(8)]
    requests.append(req(20, 5, "error"))
    verdict = evaluate(SLOSpec(check="success_ratio >= 90%"), timeline_with(requests))
    assert verdict.measured == pytest.approx(9 / 10)
    assert verdict.passed
    assert verdict.inputs["by_outcome"] == {"ok": 9, "error": 1}


def test_shed_is_not_an_error():
    requests = [req(i, 1, "shed") for i in range(1, 4)] + [req(10 + i, 1) for i in range(7)]
    tl = timeline_with(requests)
    assert evaluate(SLOSpec(check="shed_ratio <= 30%"), tl).passed
    assert evaluate(SLOSpec(check="error_ratio == 0"), tl).passed


def test_requests_outside_window_are_ignored():
    requests = [req(150, 900.0)] + [req(1 + i, 10.0) for i in range(10)]
    verdict = evaluate(SLOSpec(check="max_latency < 100ms"), timeline_with(requests))
    assert verdict.passed and verdict.measured == 10.0


def test_no_data_fails_with_reason():
    verdict = evaluate(SLOSpec(check="p(50) < 10ms"), timeline_with([]))
    assert not verdict.passed
    assert "no data" in verdict.message


def test_unknown_window_fails_naming_known_windows():
    verdict = evaluate(SLOSpec(check="p(50) < 10ms", window="burst-9"), timeline_with([req(1, 1)]))
    assert not verdict.passed
    assert "burst-9" in verdict.message and "load" in verdict.message
