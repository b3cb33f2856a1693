"""Fail-fast (issue 22 item 4): a run ends early only when an SLO can no longer pass.

Synthetic timelines (records as the harness writes them) are fed to the real FailFast
component in arrival order; at every step its decision is compared with what the whole
run's verdict turns out to be. An early outlier that recovers must never abort.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from harness.measure.records import Abort, Request
from harness.measure.stats import percentile
from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import AbortRun, RunContext
from harness.model.errors import ConfigError
from harness.model.scenario import SLOSpec
from harness.procs.ledger import ProcessLedger
from harness.run.failfast import FailFast, mark_aborted, plan_watches
from harness.scenario.loader import scenario_from_dict
from harness.slo import certain
from harness.slo.core import evaluate, parse_check
from tests.unit.slo_timelines import T0, phase, request, timeline

RATE, DURATION = 10, 30  # uniform arrivals: exactly 300 planned requests, one every 0.1 s


def scenario(*slos: dict[str, Any], load: dict[str, Any] | None = None, **extra: Any):
    load = load or {"model": "open", "rate": RATE, "arrivals": "uniform"}
    return scenario_from_dict({"name": "ff", "seed": 1, "duration_s": DURATION,
                               "cluster": {"address": "127.0.0.1:1"}, "load": load,
                               "slos": list(slos), **extra}, "ff.yaml")


def run_records(outcome_at, latency_at=lambda i: 10.0) -> list[dict[str, Any]]:
    """The planned 300 requests, request i sent at i / RATE; load window [0, 30)."""
    records = phase("load", 0, DURATION)
    for i in range(RATE * DURATION):
        records.append(request(i / RATE, outcome_at(i), latency_at(i)))
    return records


def replay(component: FailFast, records: list[dict[str, Any]], chunk: int = 10):
    """Feed records in the order they would reach the streams; the first decision, if any."""
    start, rest = records[0], records[1:]
    arrival = sorted(rest, key=lambda r: r["t"] + r.get(Request.latency_ms, 0) / 1000.0)
    component.observe([start])
    for index in range(0, len(arrival), chunk):
        batch = arrival[index:index + chunk]
        component.observe(batch)
        now = max(r["t"] + r.get(Request.latency_ms, 0) / 1000.0 for r in batch)
        decisions = component.decide(now)
        if decisions:
            return decisions
    return None


# -- planned counts --------------------------------------------------------------------------


def test_the_open_schedule_gives_the_planned_count() -> None:
    (watch,), notes = plan_watches(scenario({"check": "success_ratio >= 99%", "abort_on_fail": True}))
    # the load process's own schedule (uniform, 0.1 s apart; float steps may fit one more)
    assert notes == [] and abs(watch.window.requests - RATE * DURATION) <= 1
    assert watch.window.length_s == DURATION


def test_unknown_planned_counts_are_not_watched_and_said() -> None:
    closed = scenario({"check": "success_ratio >= 99%", "abort_on_fail": True},
                      load={"users": 2, "wait_ms": 0})
    watches, notes = plan_watches(closed)
    assert watches == [] and "no upper bound" in notes[0]
    waiting = scenario({"check": "success_ratio >= 99%", "abort_on_fail": True}, load={"users": 2, "wait_ms": 100})
    (watch,), _ = plan_watches(waiting)
    assert watch.window.requests == 2 * (DURATION * 10 + 1)  # users x (30 s / 0.1 s + 1)
    offset = scenario({"check": "error_ratio <= 1%", "window": "load + 5s", "abort_on_fail": True})
    watches, notes = plan_watches(offset)
    assert watches == [] and "no planned request count" in notes[0]


# -- the rules agree with the verdict at the end, for every count the run may end with ----------


@pytest.mark.parametrize("pct", [50.0, 90.0, 99.0, 99.9, 100.0])
def test_more_slow_requests_than_allowed_fail_for_every_final_count(pct: float) -> None:
    check = parse_check(f"p({pct:g}) < 100ms")
    for planned in (1, 7, 100, 301, 1000):
        allowed = certain.allowed_against(check, planned)
        for n in range(allowed + 1, planned + 1):  # the run may end with any count up to planned
            values = [1.0] * (n - allowed - 1) + [100.0] * (allowed + 1)
            assert percentile(sorted(values), pct) >= 100.0, (pct, planned, n)
        fast = [1.0] * (planned - allowed) + [100.0] * allowed  # at the allowance: it may still pass
        assert percentile(sorted(fast), pct) < 100.0


def test_ratio_rule_spends_the_budget_of_the_whole_window() -> None:
    check = parse_check("success_ratio >= 95%")
    assert certain.requests_certain(check, certain.CheckTally(40, 15), 300) is None  # 285/300 = 95% still
    assert "best it can end is 94.67%" in certain.requests_certain(check, certain.CheckTally(41, 16), 300)
    assert certain.requests_certain(check, certain.CheckTally(41, 16), None) is None  # no planned count
    assert certain.requests_certain(check, certain.CheckTally(400, 100), 300) is None  # more than planned: unsure


def test_which_checks_can_be_certain() -> None:
    assert certain.supported("success_ratio >= 99%") and certain.supported("error_ratio < 1%")
    assert certain.supported("p(99, ok) < 500ms") and certain.supported("recovery_time < 10s")
    assert not certain.supported("success_ratio <= 99%")  # more good requests could still break it
    assert not certain.supported("p(99, attempts) < 5ms") and not certain.supported("requests >= 10")
    assert not certain.supported("p(50) > 10ms")


# -- replays: never an abort on a value that recovers ----------------------------------------


def test_an_early_error_burst_that_recovers_is_not_aborted() -> None:
    # The first 25 requests fail: the running success ratio is 0% (k6's abortOnFail would
    # stop here), but the window's budget is 30 of 300, and the run ends at 91.7%.
    spec = {"check": "success_ratio >= 90%", "abort_on_fail": True}
    records = run_records(lambda i: "error" if i < 25 else "ok")
    assert replay(FailFast(scenario(spec)), records) is None
    assert evaluate(SLOSpec(check=spec["check"]), timeline(records)).passed


def test_early_slow_outliers_that_recover_are_not_aborted() -> None:
    spec = {"check": "p(99) < 100ms", "abort_on_fail": True}
    records = run_records(lambda i: "ok", lambda i: 900.0 if i < 3 else 10.0)  # 3 of 300 allowed
    assert replay(FailFast(scenario(spec)), records) is None
    assert evaluate(SLOSpec(check=spec["check"]), timeline(records)).passed


def test_a_spent_error_budget_aborts_at_the_request_that_spent_it() -> None:
    spec = {"name": "requests succeed", "check": "success_ratio >= 90%", "abort_on_fail": True}
    records = run_records(lambda i: "error" if 50 <= i < 120 else "ok")
    (decision,) = replay(FailFast(scenario(spec)), records, chunk=1)
    # the 31st failure is request 80, sent at 8.0 s (answered 10 ms later)
    assert decision.slo == "requests succeed" and decision.decided_at_s == pytest.approx(8.01)
    assert decision.planned_s == DURATION
    assert not evaluate(SLOSpec(check=spec["check"]), timeline(records)).passed  # it did fail


def test_slow_requests_over_the_allowance_abort() -> None:
    records = run_records(lambda i: "ok", lambda i: 1500.0 if i % 50 == 0 else 20.0)  # 6 slow
    (decision,) = replay(FailFast(scenario({"check": "p(99) < 1s", "abort_on_fail": True})), records, chunk=1)
    assert "4 requests at or over 1000.0ms, more than the 3" in decision.reason
    assert decision.decided_at_s == pytest.approx(15.0 + 1.5)  # the 4th slow one, sent at 15 s


def test_random_runs_never_abort_a_run_that_passes() -> None:
    # 300 seeded random runs near the bound: whenever FailFast aborts, the full run fails.
    rng = np.random.default_rng(22)
    spec = SLOSpec(check="success_ratio >= 95%", abort_on_fail=True)
    component_scenario = scenario(spec.model_dump())
    aborted = passed_after_abort = 0
    for _ in range(300):
        bad = rng.random(RATE * DURATION) < rng.uniform(0.02, 0.08)
        front = rng.random() < 0.5  # half the runs fail early and recover
        if front:
            bad = np.sort(bad)[::-1]
        records = run_records(lambda i, bad=bad: "error" if bad[i] else "ok")
        if replay(FailFast(component_scenario), records, chunk=5):
            aborted += 1
            passed_after_abort += evaluate(spec, timeline(records)).passed
    assert aborted > 50 and passed_after_abort == 0


# -- time bounds ---------------------------------------------------------------------------


def test_a_time_bound_passed_without_the_event_aborts_and_not_sooner() -> None:
    spec = {"check": "recovery_time < 5s", "abort_on_fail": True}
    component = FailFast(scenario(spec, load={"model": "open", "rate": RATE, "arrivals": "uniform",
                                              "request_timeout_s": 1, "retry": {"attempts": 1}}))
    fails_until = 7.0  # requests fail for 7 s: recovery_time 7 s, over 5 s
    records = run_records(lambda i: "error" if i / RATE < fails_until else "ok")
    component.observe([records[0]])
    first = None
    for i, record in enumerate(records[1:]):
        component.observe([record])
        now = T0 + i / RATE + 0.01
        if component.decide(now):
            first = now - T0
            break
    # data is complete up to now - 2 s (1 s timeout + 1 s); 5 s after the start: at 7 s
    assert first == pytest.approx(7.0, abs=0.11)
    recovered = FailFast(scenario(spec))
    assert replay(recovered, run_records(lambda i: "error" if i < 40 else "ok")) is None


# -- the component in a run ------------------------------------------------------------------


def test_tick_writes_an_abort_record_and_raises(tmp_path: Path) -> None:
    sc = scenario({"name": "ok ratio", "check": "success_ratio >= 99%", "abort_on_fail": True})
    folder = tmp_path / "timeline"
    requests = TimelineWriter(folder / "requests.jsonl")
    for record in run_records(lambda i: "error" if i < 10 else "ok")[:12]:
        requests.emit(record["kind"], **{k: v for k, v in record.items() if k != "kind"})
    requests.close()
    events = TimelineWriter(folder / "events.jsonl")
    ctx = RunContext(scenario=sc, scenario_file="ff.yaml", run_id="r", run_dir=tmp_path, timeline=events, ledger=ProcessLedger("r"),
                     console=Console(file=io.StringIO()))
    component = FailFast(sc)
    component.start(ctx)
    with pytest.raises(AbortRun) as raised:
        component.tick(ctx)
    events.close()
    assert "ok ratio" in str(raised.value)
    (abort,) = Timeline.load(tmp_path).events_of(Abort)
    assert abort[Abort.slo] == "ok ratio" and abort[Abort.planned_s] == DURATION
    assert component.metrics()["fail_fast_watched"] == 1


def test_the_aborted_verdict_says_when_it_was_decided() -> None:
    records = run_records(lambda i: "error" if 50 <= i < 120 else "ok")
    spec = SLOSpec(name="requests succeed", check="success_ratio >= 90%", abort_on_fail=True)
    decisions = replay(FailFast(scenario(spec.model_dump())), records, chunk=1)
    cut = [r for r in records if r["t"] < T0 + decisions[0].decided_at_s]  # the run ended there
    verdicts = [evaluate(spec, timeline(phase("load", 0, 8.2), cut[2:]))]
    mark_aborted(verdicts, decisions)
    (verdict,) = verdicts
    assert not verdict.passed and verdict.aborted and verdict.outcome == "fail"
    assert "decided at 8.0 s of 30 s (aborted)" in verdict.result_text()
    assert "decided at 8.0 s of 30 s (aborted)" in verdict.interval_line(100)
    assert "fail-fast:" in verdict.message and verdict.as_dict()["decided_at_s"] == pytest.approx(8.01)
    assert verdict.why.endswith("decided at 8.0 s of 30 s (aborted)") and "best it can end" in verdict.why


# -- configuration ---------------------------------------------------------------------------


def test_abort_on_fail_on_a_check_that_cannot_be_certain_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        scenario({"check": "requests >= 100", "abort_on_fail": True})
    assert "slos.0.abort_on_fail" in str(raised.value) and "cannot be certain" in str(raised.value)


def test_fail_fast_flag_sets_every_supported_slo() -> None:
    sc = certain.with_fail_fast(scenario({"check": "requests >= 10"}, {"check": "p(99) < 1s"},
                                         {"check": "success_ratio >= 99%"}))
    assert [s.abort_on_fail for s in sc.slos] == [False, True, True]


def test_no_watch_no_component_cost() -> None:
    component = FailFast(scenario({"check": "p(99) < 1s"}))
    assert component.watches == [] and component.decide(T0 + 1) == []
