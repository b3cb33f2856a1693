"""History in SQLite, baselines, regression checks and blocking decisions, without a cluster."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.gate.history import History, StoredResult
from harness.gate.regression import NO_BASELINE, NO_DATA, OK, REGRESSED, check_regressions
from harness.gate.states import State, current_state
from harness.gate.suite_config import RegressionCheck, RegressionPolicy
from harness.gate.verdict import SKIPPED, classify_attempts, decide, suite_exit_code

POLICY = RegressionPolicy(
    method="percent", baseline_runs=5, min_baseline_runs=3,
    checks=[RegressionCheck(metric="p99_ms", max_increase_pct=50),
            RegressionCheck(metric="ok_rps", max_decrease_pct=30)],
)


def record(history: History, scenario: str, status: str, t: float, p99: float = 100.0,
           rps: float = 40.0, config: str = "cfg") -> None:
    history.record(StoredResult(scenario=scenario, status=status, suite="nightly",
                                suite_run=f"run-{t}", config_hash=config, started_at=t,
                                metrics={"p99_ms": p99, "ok_rps": rps}))


def test_states_come_from_stored_history(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    for t, status in enumerate(["passed", "passed", "failed", "error", "failed"]):
        record(history, "a", status, float(t))
    record(history, "b", "flaky", 1.0)
    statuses = [r.status for r in history.results("a")]
    assert statuses == ["passed", "passed", "failed", "error", "failed"]
    assert current_state(statuses) == State.CONSISTENTLY_FAILING
    assert current_state([r.status for r in history.results("b")]) == State.FLAKY
    assert history.scenarios() == ["a", "b"] and history.scenarios("weekly") == []
    # a later pass closes it; the limit keeps only the newest results
    record(history, "a", "passed", 10.0)
    assert current_state([r.status for r in history.results("a")]) == State.PASSING
    assert [r.started_at for r in history.results("a", limit=2)] == [4.0, 10.0]


def test_history_reopens_and_rejects_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    record(History(path), "a", "passed", 1.0)
    reopened = History(path)
    assert reopened.results("a")[0].metrics == {"p99_ms": 100.0, "ok_rps": 40.0}
    with pytest.raises(ValueError):
        record(reopened, "a", "skipped", 2.0)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(sqlite3.DatabaseError, match="schema version 99"):
        History(path)


def test_baseline_uses_passing_runs_with_the_same_config_newest_first(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    record(history, "a", "passed", 1.0, p99=10)
    record(history, "a", "failed", 2.0, p99=999)
    record(history, "a", "flaky", 3.0, p99=30)
    record(history, "a", "passed", 4.0, p99=500, config="other")
    record(history, "a", "passed", 5.0, p99=50)
    assert [m["p99_ms"] for m in history.baseline_metrics("a", "cfg", 5)] == [50, 30, 10]
    assert [m["p99_ms"] for m in history.baseline_metrics("a", "cfg", 2)] == [50, 30]


def test_regression_against_the_baseline_blocks(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    for t, p99 in enumerate([100.0, 110.0, 90.0, 5000.0]):  # the median ignores one outlier
        record(history, "a", "passed", float(t), p99=p99)
    baseline = history.baseline_metrics("a", "cfg", POLICY.baseline_runs)
    verdicts = check_regressions({"p99_ms": 170.0, "ok_rps": 39.0}, baseline, POLICY)
    p99, rps = verdicts
    assert (p99.status, p99.baseline, p99.change_pct) == (REGRESSED, 105.0, pytest.approx(61.905, abs=1e-3))
    assert rps.status == OK and rps.baseline == 40.0
    decision = decide("passed", stable=True, quarantine_note=None, flaky_blocks=False,
                      regressions=[v.message for v in verdicts if v.regressed])
    assert decision.blocking
    assert decision.reasons[0].startswith("regression: p99_ms regressed: 170 vs baseline 105")
    # within bounds: p99 +50% exactly is allowed; throughput down 30% exactly is allowed
    ok = check_regressions({"p99_ms": 157.5, "ok_rps": 28.0}, baseline, POLICY)
    assert [v.status for v in ok] == [OK, OK]
    low = check_regressions({"p99_ms": 100.0, "ok_rps": 27.9}, baseline, POLICY)
    assert [v.status for v in low] == [OK, REGRESSED]


def test_no_verdict_without_enough_baseline_runs() -> None:
    verdicts = check_regressions({"p99_ms": 1e9}, [{"p99_ms": 1.0}, {"p99_ms": 1.0}], POLICY)
    assert [v.status for v in verdicts] == [NO_BASELINE, NO_BASELINE]
    assert "2 of 3 comparable passing runs" in verdicts[0].message
    many = [{"p99_ms": 1.0, "ok_rps": 1.0}] * 3
    assert check_regressions({"p99_ms": 1.0}, many, POLICY)[1].status == NO_DATA


def test_a_regression_does_not_block_when_the_policy_says_so_or_the_scenario_cannot() -> None:
    args = {"flaky_blocks": False, "regressions": ["p99_ms regressed"]}
    assert not decide("passed", stable=True, quarantine_note=None, regressions_block=False,
                      **args).blocking
    unstable = decide("passed", stable=False, quarantine_note=None, **args)
    assert not unstable.blocking and unstable.notes[0].startswith("unstable (stable: false)")
    jailed = decide("passed", stable=True, quarantine_note="slow proxy; owner serve", **args)
    assert not jailed.blocking and jailed.notes[0].startswith("quarantined (slow proxy; owner serve)")


def test_attempts_to_results() -> None:
    assert classify_attempts(["passed"]) == "passed"
    assert classify_attempts(["failed", "passed"]) == "flaky"
    assert classify_attempts(["error", "passed"]) == "passed"
    assert classify_attempts(["failed", "error", "passed"]) == "flaky"
    assert classify_attempts(["failed", "failed"]) == "failed"
    assert classify_attempts(["failed", "error"]) == "failed"
    assert classify_attempts(["error", "error"]) == "error"
    with pytest.raises(ValueError):
        classify_attempts([])


def test_blocking_decisions_and_exit_codes() -> None:
    failed = decide("failed", stable=True, quarantine_note=None, flaky_blocks=False,
                    failed_slos=["p99 latency"])
    assert failed.blocking and failed.reasons == ["failed on every attempt: p99 latency"]
    flaky = decide("flaky", stable=True, quarantine_note=None, flaky_blocks=False, failed_slos=["x"])
    assert not flaky.blocking
    assert decide("flaky", stable=True, quarantine_note=None, flaky_blocks=True).blocking
    assert not decide("failed", stable=True, quarantine_note="r; owner o", flaky_blocks=False).blocking
    assert not decide("error", stable=True, quarantine_note=None, flaky_blocks=False).blocking

    assert suite_exit_code([("passed", False, True), ("flaky", False, True)]) == 0
    assert suite_exit_code([("failed", True, True), ("error", False, True)]) == 1
    assert suite_exit_code([("passed", False, True), ("error", False, True)]) == 3
    assert suite_exit_code([("passed", False, True), (SKIPPED, False, True)]) == 3
    # A config found invalid at run time (after deploy): the suite file needs fixing, exit 2,
    # unless something already blocks the release.
    assert suite_exit_code([("passed", False, True), ("error", False, True)], config_error=True) == 2
    assert suite_exit_code([("failed", True, True), ("error", False, True)], config_error=True) == 1
    # an infrastructure error of a quarantined or unstable scenario does not stop a release
    assert suite_exit_code([("passed", False, True), ("error", False, False)]) == 0


OLD_HISTORY = """
CREATE TABLE results (
    id INTEGER PRIMARY KEY AUTOINCREMENT, suite TEXT NOT NULL, suite_run TEXT NOT NULL,
    scenario TEXT NOT NULL, config_hash TEXT NOT NULL, started_at REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'flaky', 'error', 'regressed')),
    attempts INTEGER NOT NULL, blocking INTEGER NOT NULL, quarantined INTEGER NOT NULL,
    metrics TEXT NOT NULL, failed_slos TEXT NOT NULL, run_dirs TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '', versions TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX results_by_scenario ON results (scenario, started_at);
PRAGMA user_version = 1;
"""


def test_a_version_1_history_is_read_under_todays_names_and_compared_like_with_like(tmp_path: Path) -> None:
    """Version 1 kept p50_ms / p99_ms over successful requests and throughput_rps (ok/s)."""
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_HISTORY)
        for i, p99 in enumerate([100.0, 110.0, 90.0]):
            db.execute(
                "INSERT INTO results (suite, suite_run, scenario, config_hash, started_at, status, attempts,"
                " blocking, quarantined, metrics, failed_slos, run_dirs) VALUES"
                " ('nightly', ?, 'a', 'cfg', ?, 'passed', 1, 0, 0, ?, '[]', '[]')",
                (f"r{i}", float(i), f'{{"p50_ms": 5.0, "p99_ms": {p99}, "throughput_rps": 40.0, '
                                    f'"success_ratio": 0.99}}'))
    history = History(path)
    assert [r.metrics for r in history.results("a")][0] == {
        "p50_ok_ms": 5.0, "p99_ok_ms": 100.0, "ok_rps": 40.0, "success_ratio": 0.99}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    # A new run's p99_ms (every final request) stays p99_ms, also when the file is opened again.
    record(history, "a", "passed", 3.0, p99=400.0)
    assert History(path).results("a")[-1].metrics == {"p99_ms": 400.0, "ok_rps": 40.0}
    # The default policy compares the populations version 1 stored: old rows are its baseline.
    default = RegressionPolicy(method="percent")
    assert [c.metric for c in default.checks] == ["p99_ok_ms", "ok_rps"]
    baseline = history.baseline_metrics("a", "cfg", 5)
    p99_ok, rps = check_regressions({"p99_ok_ms": 170.0, "ok_rps": 39.0}, baseline, default)
    assert (p99_ok.status, p99_ok.baseline) == (REGRESSED, 100.0)
    assert (rps.status, rps.baseline) == (OK, 40.0)
    # p99_ms of old rows measured another population: they are no baseline for it.
    over_all = RegressionPolicy(method="percent", checks=[
        RegressionCheck(metric="p99_ms", max_increase_pct=50),
        RegressionCheck(metric="success_ratio", max_decrease_pct=5)])
    p99, _ = check_regressions({"p99_ms": 170.0}, baseline, over_all)
    assert p99.status == NO_BASELINE and "1 of 3" in p99.message


def test_a_suite_may_still_name_throughput_rps() -> None:
    assert RegressionCheck(metric="throughput_rps", max_decrease_pct=30).metric == "ok_rps"
    with pytest.raises(ValueError):
        RegressionCheck(metric="rps_of_something", max_decrease_pct=30)
