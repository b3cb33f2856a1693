"""Baselines that do not drift into a regression (issue 11), on synthetic runs: no cluster."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.gate.history import History, StoredResult
from harness.gate.metrics import key_metrics
from harness.gate.session import SuiteSession
from harness.gate.states import current_state
from harness.gate.suite_config import QuarantineList, load_suite
from harness.model.outcome import RunOutcome

SCENARIO = """
name: tiny
duration_s: 5
timeout_s: 60
cluster: {nodes: [{name: head, num_cpus: 1}]}
slos: [{check: "requests >= 1"}]
"""


def fake_run(run_dir: Path, latency_ms: float) -> RunOutcome:
    """A finished run's timeline: 10 s of load, 20 ok requests a second at one latency."""
    timeline = run_dir / "timeline"
    timeline.mkdir(parents=True)
    t0 = 1_000.0
    events = [{"t": t0, "kind": "phase", "name": "load", "edge": "start"},
              {"t": t0 + 10, "kind": "phase", "name": "load", "edge": "end"}]
    requests = [{"t": t0 + i / 20, "kind": "request", "outcome": "ok", "latency_ms": latency_ms, "final": True}
                for i in range(200)]
    (timeline / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in events))
    (timeline / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests))
    outcome = RunOutcome(run_id=run_dir.name, scenario_name="tiny", scenario_file="tiny.yaml", seed=0, run_dir=str(run_dir), started_at=time.time())
    outcome.key_metrics = key_metrics(run_dir)  # as the runner hands them from its one read
    return outcome


class Nightly:
    """One suite file and one history; each night() is a suite run of a build with this p99."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 policy: str = "regression: {method: percent}\n"):
        (tmp_path / "tiny.yaml").write_text(SCENARIO)
        (tmp_path / "s.yaml").write_text(
            f"name: s\nfrequency: nightly\nretries: 0\n{policy}scenarios:\n  - {{scenario: tiny.yaml}}\n")
        self.resolved = load_suite(tmp_path / "s.yaml")
        self.results = tmp_path / "results"
        self.history = History(self.results / "history.sqlite")
        self.nights = 0
        self.latency = 0.0

        def run_once(session: SuiteSession, entry, scenario, overrides):
            return fake_run(session.suite_dir / f"run-{self.nights}", self.latency), False

        monkeypatch.setattr(SuiteSession, "_run_once", run_once)

    def night(self, latency_ms: float):
        self.nights += 1
        self.latency = latency_ms
        session = SuiteSession(self.resolved, self.results, history=self.history,
                               quarantine=QuarantineList(), label=f"suite-s-night{self.nights}")
        result = session.run_entry(self.resolved.entries[0])
        return result, session.finish().exit_code


def test_a_slow_build_stays_blocked_however_often_it_runs(tmp_path, monkeypatch, capsys):
    nights = Nightly(tmp_path, monkeypatch)
    for _ in range(3):  # the good build: p99 100 ms
        result, code = nights.night(100.0)
        assert (result.status, code) == ("passed", 0)
    for _ in range(4):  # the slow build: p99 160 ms (+60%, the limit is +50%)
        result, code = nights.night(160.0)
        assert result.status == "regressed" and result.decision.blocking and code == 1
        assert any("p99_ok_ms regressed: 160 vs baseline 100" in r for r in result.decision.reasons)
    stored = nights.history.results("tiny")
    assert [r.status for r in stored] == ["passed"] * 3 + ["regressed"] * 4
    assert nights.history.baseline_metrics("tiny", stored[-1].config_hash, 5) == [stored[0].metrics] * 3
    assert result.state == "consistently_failing"  # a regressed run is a failure for the state
    assert current_state([r.status for r in stored]).value == "consistently_failing"

    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["history", "--results", str(nights.results)]) == 0
    shown = capsys.readouterr().out
    lines = shown.splitlines()
    row = next(line for line in lines if line.startswith("tiny") and "consistently_failing" in line)
    assert "100.0ms" in row  # the baseline shown did not move either
    assert any(line.split() == ["tiny", "PPPRRRR"] for line in lines)  # R: its own letter
    assert any(line.startswith("R regressed") for line in lines)


def test_a_person_accepting_the_new_numbers_moves_the_baseline(tmp_path, monkeypatch, capsys):
    nights = Nightly(tmp_path, monkeypatch)
    for _ in range(3):
        nights.night(100.0)
    result, code = nights.night(160.0)
    assert result.status == "regressed" and code == 1
    assert main(["baseline", "accept", "tiny", "--reason", "new tokenizer costs 60 ms, agreed",
                 "--by", "release-eng", "--results", str(nights.results)]) == 0
    assert "baseline of tiny accepted" in capsys.readouterr().out
    accept = nights.history.latest_accept("tiny")
    assert (accept.reason, accept.accepted_by, accept.suite_run) == (
        "new tokenizer costs 60 ms, agreed", "release-eng", "suite-s-night4")
    for _ in range(3):  # compared with the accepted run and the runs after it: not blocked
        result, code = nights.night(160.0)
        assert (result.status, code) == ("passed", 0)
    result, code = nights.night(260.0)  # and a regression against the new numbers is caught
    assert result.status == "regressed" and code == 1
    assert any("baseline 160" in r for r in result.decision.reasons)
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["history", "--results", str(nights.results)]) == 0
    shown = capsys.readouterr().out
    assert "baseline of tiny accepted" in shown and "by release-eng (run suite-s-night4): new tokenizer" in shown


def test_accept_names_a_missing_scenario_in_one_line(tmp_path, capsys):
    History(tmp_path / "history.sqlite")
    assert main(["baseline", "accept", "nope", "--reason", "why not", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{tmp_path / 'history.sqlite'}: nope: expected a recorded run of 'nope' with metrics"]


def test_the_suite_may_accept_by_an_explicit_rule(tmp_path, monkeypatch):
    policy = "regression: {method: percent, accept_after: 2}\n"
    nights = Nightly(tmp_path, monkeypatch, policy)
    for _ in range(3):
        nights.night(100.0)
    assert [nights.night(160.0)[0].status for _ in range(2)] == ["regressed", "regressed"]
    accept = nights.history.latest_accept("tiny")
    assert accept is not None and "accept_after: 2" in accept.reason and accept.accepted_by == "suite s policy"
    assert nights.night(160.0)[1] == 0


OLD_SCHEMA = """
CREATE TABLE results (
    id INTEGER PRIMARY KEY AUTOINCREMENT, suite TEXT NOT NULL, suite_run TEXT NOT NULL,
    scenario TEXT NOT NULL, config_hash TEXT NOT NULL, started_at REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'flaky', 'error')),
    attempts INTEGER NOT NULL, blocking INTEGER NOT NULL, quarantined INTEGER NOT NULL,
    metrics TEXT NOT NULL, failed_slos TEXT NOT NULL, run_dirs TEXT NOT NULL
);
CREATE INDEX results_by_scenario ON results (scenario, started_at);
INSERT INTO results VALUES (7, 's', 'r1', 'tiny', 'h', 1.0, 'passed', 1, 0, 0, '{"p99_ms": 5}', '[]', '[]');
PRAGMA user_version = 1;
"""


def test_a_history_from_before_regressed_existed_takes_it(tmp_path):
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    history = History(path)
    history.record(StoredResult(scenario="tiny", status="regressed", config_hash="h", started_at=2.0, metrics={"p99_ms": 9}))
    assert [(r.status, r.metrics) for r in history.results("tiny")] == [  # version 1's p99_ms was over ok requests
        ("passed", {"p99_ok_ms": 5}), ("regressed", {"p99_ms": 9})]
    assert history.baseline_metrics("tiny", "h", 5) == [{"p99_ok_ms": 5}]
    with sqlite3.connect(path) as db:
        indexes = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    assert "results_by_scenario" in indexes
