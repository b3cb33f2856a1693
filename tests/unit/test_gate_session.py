"""SuiteSession paths that need no cluster: a suite out of time, and `harness history`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from junitparser import JUnitXml

from harness.cli import main
from harness.gate.history import History, StoredResult
from harness.gate.session import LATEST_SUITE, SuiteSession
from harness.gate.suite_config import QuarantineList, load_suite

SCENARIO = """
name: tiny
duration_s: 5
timeout_s: 60
cluster: {nodes: [{name: head, num_cpus: 1}]}
slos: [{check: "requests >= 1"}]
"""


def test_a_suite_out_of_time_skips_what_is_left_and_has_no_verdict(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(SCENARIO)
    (tmp_path / "s.yaml").write_text(
        "name: s\nfrequency: nightly\ntimeout_s: 1\nscenarios:\n"
        "  - {scenario: tiny.yaml, name: a}\n  - {scenario: tiny.yaml, name: b, stable: false}\n")
    resolved = load_suite(tmp_path / "s.yaml")
    results = tmp_path / "results"
    session = SuiteSession(resolved, results, history=History(results / "history.sqlite"),
                           quarantine=QuarantineList())
    session.started_at = time.time() - 5  # the suite's 1 s are long gone
    skipped = session.run_entry(resolved.entries[0])
    assert skipped.status == "skipped" and skipped.attempts == []
    outcome = session.finish()  # b was never run: reported as skipped too
    assert outcome.exit_code == 3  # a blocking scenario has no verdict
    assert (results / LATEST_SUITE).resolve() == outcome.suite_dir
    summary = json.loads((outcome.suite_dir / "summary.json").read_text())
    assert summary["verdict"] == "no verdict" and summary["clusters_started_by_suite"] == 0
    assert [(s["name"], s["status"]) for s in summary["scenarios"]] == [("a", "skipped"), ("b", "skipped")]
    xml = JUnitXml.fromfile(str(outcome.suite_dir / "junit.xml"))
    assert [(s.name, s.tests, s.skipped) for s in xml] == [("a", 1, 1), ("b", 1, 1)]
    assert "suite timeout of 1s elapsed" in next(iter(next(iter(xml)))).result[0].message
    assert History(results / "history.sqlite").scenarios() == []  # skips are no result


def test_history_command_shows_states_and_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    history = History(tmp_path / "history.sqlite")
    for t, status in enumerate(["passed", "failed", "failed"]):
        history.record(StoredResult(scenario="broken", status=status, suite="nightly", started_at=float(t)))
    for t, p99 in enumerate([10.0, 30.0, 20.0]):
        history.record(StoredResult(scenario="steady", status="passed", suite="nightly", started_at=float(t),
                                    metrics={"p99_ok_ms": p99, "ok_rps": 40.0}))
    history.record(StoredResult(scenario="wobbly", status="flaky", suite="weekly", started_at=1.0))
    quarantine = tmp_path / "q.yaml"
    quarantine.write_text("quarantine: [{scenario: wobbly, reason: proxy restarts, owner: serve}]\n")
    code = main(["history", "--results", str(tmp_path), "--quarantine", str(quarantine)])
    out = capsys.readouterr().out
    assert code == 0
    # A scenario's table row, its results strip and its quarantine note (below the table)
    rows: dict[str, str] = {}
    for line in out.splitlines():
        words = line.replace("quarantined: ", "").replace(":", " ").split()
        if words:
            rows[words[0]] = rows.get(words[0], "") + line + "\n"
    assert "consistently_failing" in rows["broken"] and "PFF" in rows["broken"]
    assert "passing" in rows["steady"] and "20.0ms" in rows["steady"] and "40.0/s" in rows["steady"]
    assert "quarantined" in rows["wobbly"] and "serve: proxy restarts" in rows["wobbly"]
    assert main(["history", "--results", str(tmp_path), "--suite", "weekly",
                 "--quarantine", str(quarantine)]) == 0
    assert "broken" not in capsys.readouterr().out
    assert main(["history", "--results", str(tmp_path / "none")]) == 0
    assert "no history yet" in capsys.readouterr().out
