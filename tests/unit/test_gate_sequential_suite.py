"""Sequential suites (issue 22) on synthetic runs, no cluster: failed attempts are rerun
until the SPRT decides (from the scenario's measured flake probability), and an
inconclusive rank regression check reruns a passing scenario until it decides."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from harness.gate.history import History, StoredResult, flake_evidence
from harness.gate.session import SuiteSession
from harness.gate.suite_config import QuarantineList, load_suite
from harness.measure.timeline import Timeline
from harness.model.outcome import RunOutcome, Verdict
from harness.slo.core import evaluate
from tests.unit.test_gate_baseline import SCENARIO, fake_run

RANK = """regression:
  alpha: 0.01
  max_runs: 3
  checks:
    - {metric: p50_ok_ms, max_increase_pct: 5}
    - {metric: ok_rps, max_decrease_pct: 10}
"""


class Suite:
    """A suite of one scenario; each attempt pops what `attempt()` makes of the queue."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retries: int, policy: str = RANK,
                 scenario: str = SCENARIO):
        (tmp_path / "tiny.yaml").write_text(scenario)
        (tmp_path / "s.yaml").write_text(
            f"name: s\nfrequency: nightly\nretries: {retries}\n{policy}scenarios:\n  - {{scenario: tiny.yaml}}\n")
        self.resolved = load_suite(tmp_path / "s.yaml")
        self.results = tmp_path / "results"
        self.history = History(self.results / "history.sqlite")
        self.queue: list = []
        self.count = 0

        def run_once(session: SuiteSession, entry, scenario, overrides) -> tuple[RunOutcome, bool]:
            self.count += 1
            return self.attempt(session.suite_dir / f"run-{self.count}", scenario, self.queue.pop(0)), False

        monkeypatch.setattr(SuiteSession, "_run_once", run_once)

    def attempt(self, run_dir: Path, scenario, queued: tuple[float, bool] | str) -> RunOutcome:
        """(latency, passed): one latency for every request, one SLO that passes or not;
        a string: an attempt that ended in that infrastructure error (no verdict)."""
        if isinstance(queued, str):
            outcome = fake_run(run_dir, 50.0)
            outcome.error, outcome.error_kind = queued, "load_invalid"
            return outcome
        latency, passed = queued
        outcome = fake_run(run_dir, latency)
        outcome.verdicts = [Verdict(name="works", check="requests >= 1", window="load", passed=passed, measured=1.0, bound=1.0, op=">=", unit="",
                                    message="works" if passed else "works failed")]
        return outcome

    def night(self, *attempts):
        self.queue = list(attempts)
        session = SuiteSession(self.resolved, self.results, history=self.history,
                               quarantine=QuarantineList(), label=f"night-{self.count}")
        result = session.run_entry(self.resolved.entries[0])
        code = session.finish().exit_code
        return result, code, len(attempts) - len(self.queue)


def test_an_inconclusive_regression_reruns_until_the_test_decides(tmp_path, monkeypatch):
    suite = Suite(tmp_path, monkeypatch, retries=1)
    rng = np.random.default_rng(7)
    for _ in range(12):  # twelve good nights, p50 58 ms +- 1%
        result, code, ran = suite.night((58.0 * (1 + rng.normal(0, 0.01)), True))
        assert (result.status, code, ran) == ("passed", 0, 1)
    good, code, ran = suite.night((58.3, True))  # a good build: one run, within tolerance
    assert (good.status, code, ran) == ("passed", 0, 1)
    slow = [(58.0 * 1.15 * (1 + rng.normal(0, 0.01)), True) for _ in range(3)]
    result, code, ran = suite.night(*slow)
    assert ran == 3 and len(result.attempts) == 3  # 1 and 2 runs cannot reach 1% against 12
    assert result.status == "regressed" and code == 1 and result.decision.blocking
    p50 = result.regressions[0]
    assert p50.metric == "p50_ok_ms" and p50.runs == 3 and p50.change_pct > 10
    assert any(r.startswith("regression: p50_ok_ms regressed: +1") for r in result.decision.reasons)


def test_failures_rerun_until_the_sequential_rule_decides(tmp_path, monkeypatch):
    suite = Suite(tmp_path, monkeypatch, retries=4, policy="")
    # no history: flake probability 10% (the prior); two failures in a row are broken
    result, code, ran = suite.night((50.0, False), (50.0, False), (50.0, True))
    assert (result.status, code, ran) == ("failed", 1, 2)
    assert result.decision.reasons == ["failed (failed 2 of 2 runs; flake rate 10%: broken (alpha 5%)): works"]
    assert result.sequential.state == "fail" and "broken" in result.sequential.reason
    # one failure, then passes: rerun until three passes clear it as a flake
    result, code, ran = suite.night((50.0, False), (50.0, True), (50.0, True), (50.0, True))
    assert (result.status, code, ran) == ("flaky", 0, 4)
    assert result.sequential.state == "pass"


def test_a_stable_history_makes_one_failure_block(tmp_path, monkeypatch):
    suite = Suite(tmp_path, monkeypatch, retries=2, policy="")
    for night in range(200):  # clean results: 30 in view (history_runs), flake probability 2.5%
        suite.history.record(StoredResult(scenario="tiny", status="passed", suite="s", config_hash="x",
                                          started_at=time.time() - 86400 * (200 - night)))
    assert flake_evidence(suite.history.results("tiny", 1000)) == (200, 0)
    result, code, ran = suite.night((50.0, False), (50.0, True))
    assert (result.status, code, ran) == ("failed", 1, 1)  # no rerun: a flake is too unlikely
    assert result.flake_probability == pytest.approx(1 / 40)
    assert result.decision.reasons == [
        "failed (failed 1 of 1 run; flake rate 2.5%: broken (alpha 5%)): works"]


def test_budget_spent_keeps_rays_rule(tmp_path, monkeypatch):
    suite = Suite(tmp_path, monkeypatch, retries=1, policy="")
    result, code, ran = suite.night((50.0, False), (50.0, True))
    assert (result.status, code, ran) == ("flaky", 0, 2)  # undecided: fail-then-pass is flaky
    assert result.sequential.state == "undecided"


def test_error_retries_rerun_an_attempt_without_a_verdict_and_only_that(tmp_path, monkeypatch):
    suite = Suite(tmp_path, monkeypatch, retries=0, policy="error_retries: 1\n")
    invalid = "load generator fell 1990 ms behind"
    result, code, ran = suite.night(invalid, (50.0, True))  # an invalid run, then a verdict
    assert (result.status, code, ran) == ("passed", 0, 2)
    result, code, ran = suite.night(invalid, (50.0, False), (50.0, True))  # the failure gets no rerun
    assert (result.status, code, ran) == ("failed", 1, 2)
    result, code, ran = suite.night((50.0, False), (50.0, True))  # retries: 0 still holds for a failure
    assert (result.status, code, ran) == ("failed", 1, 1)
    result, code, ran = suite.night(invalid, invalid, (50.0, True))  # one rerun of an error, not two
    assert (result.status, code, ran) == ("error", 3, 2)
    (tmp_path / "without").mkdir()
    without = Suite(tmp_path / "without", monkeypatch, retries=0, policy="")
    result, code, ran = without.night(invalid, (50.0, True))  # default 0: as before
    assert (result.status, ran) == ("error", 1)


P50_SCENARIO = """
name: tiny
duration_s: 5
timeout_s: 60
cluster: {nodes: [{name: head, num_cpus: 1}]}
slos: [{name: fast, check: "p(50) < 100ms"}, {name: some, check: "requests >= 1"}]
"""


class PooledSuite(Suite):
    """Attempts whose requests have the latencies queued; verdicts by the real evaluate()."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retries: int):
        super().__init__(tmp_path, monkeypatch, retries, policy="", scenario=P50_SCENARIO)

    def attempt(self, run_dir: Path, scenario, queued: np.ndarray) -> RunOutcome:
        outcome = fake_run(run_dir, 1.0)
        lines = [json.dumps({"t": 1000.0 + i / 10, "kind": "request", "outcome": "ok",
                             "latency_ms": float(v), "final": True}) for i, v in enumerate(queued)]
        (run_dir / "timeline" / "requests.jsonl").write_text("\n".join(lines) + "\n")
        timeline = Timeline.load(run_dir)
        outcome.verdicts = [evaluate(spec, timeline, scenario.confidence) for spec in scenario.slos]
        return outcome


def lognormal_runs(seed: int, median_ms: float, runs: int, requests: int = 60) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [median_ms * np.exp(rng.normal(0.0, 0.3, requests)) for _ in range(runs)]


def test_an_inconclusive_pass_reruns_until_the_pooled_requests_decide(tmp_path, monkeypatch):
    suite = PooledSuite(tmp_path, monkeypatch, retries=3)
    result, code, ran = suite.night(*lognormal_runs(1, 94.0, 4))
    first = result.attempts[0].verdicts[0]
    assert first.passed and first.outcome == "inconclusive"  # one run's 60 requests cannot tell
    assert ran == 3 and (result.status, code) == ("passed", 0)  # 2 runs: [90, 100.2], 3: [90, 97]
    [fast] = result.pooled
    assert fast.outcome == "pass" and fast.inputs["pooled_attempts"] == ran
    assert fast.message.startswith(f"pooled over {ran} attempts: p(50) < 100ms met")


def test_pooled_requests_decide_a_failure_the_runs_alone_would_call_flaky(tmp_path, monkeypatch):
    suite = PooledSuite(tmp_path, monkeypatch, retries=4)
    for night in range(30):  # a scenario that fails every other run: flake probability ~44%
        suite.history.record(StoredResult(scenario="tiny", status="flaky", suite="s", config_hash="x", attempts=2,
                                          started_at=time.time() - 86400 * (30 - night)))
    result, code, ran = suite.night(*lognormal_runs(2, 112.0, 5))
    assert result.flake_probability > 0.4 and result.sequential.state == "undecided"
    assert (result.status, code) == ("failed", 1) and ran == 2  # the SPRT alone needs 5 failures
    assert [v.outcome for v in result.pooled] == ["fail"]
    assert result.decision.reasons[0].startswith("failed (pooled over 2 attempts: p(50) < 100ms violated")


def test_no_rerun_budget_fails_as_before(tmp_path, monkeypatch):
    suite = Suite(tmp_path, monkeypatch, retries=0, policy="")
    result, code, ran = suite.night((50.0, False))
    assert (result.status, code, ran) == ("failed", 1, 1) and result.sequential.state == "undecided"
    assert result.decision.reasons == ["failed on every attempt: works"]
