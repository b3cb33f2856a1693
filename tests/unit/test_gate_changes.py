"""Change points over a scenario's history (harness.gate.changes, `harness history --changes`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.gate.changes import change_points
from harness.gate.history import History, StoredResult


def test_a_step_is_found_where_it_began() -> None:
    rng = np.random.default_rng(1)
    series = np.r_[rng.normal(58, 0.3, 15), rng.normal(66, 0.5, 10), rng.normal(60, 0.3, 12)]
    found = change_points(series)
    assert [c.index for c in found] == [15, 25]
    assert found[0].change_pct > 5 and found[1].change_pct < -5
    assert change_points(series) == found  # seeded: the same history, the same answer


def test_a_stationary_series_rarely_has_a_change_point() -> None:
    rng = np.random.default_rng(2)
    false = sum(bool(change_points(rng.normal(58, 1, 40), seed=s)) for s in range(100))
    assert false <= 5  # the permutation test's 1%, with Monte Carlo slack
    assert change_points([5.0] * 10) == [] and change_points([1.0, 2.0]) == []


def test_history_changes_names_the_run_and_label(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    history = History(tmp_path / "history.sqlite")
    rng = np.random.default_rng(3)
    now = time.time()
    for night in range(20):
        slow = night >= 12
        history.record(StoredResult(
            scenario="tiny", status="regressed" if slow else "passed", suite="s", suite_run=f"night-{night}",
            config_hash="c", started_at=now - 86400 * (20 - night), label="v2" if slow else "v1",
            metrics={"p50_ok_ms": float(rng.normal(66 if slow else 58, 0.4)), "ok_rps": 8.0}))
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["history", "tiny", "--changes", "--results", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "tiny: change points" in shown and "night-12" in shown and "v2" in shown
    assert main(["history", "tiny", "--changes", "--json", "--results", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    [change] = doc["changes"]["tiny"]
    assert (change["metric"], change["suite_run"], change["label"]) == ("p50_ok_ms", "night-12", "v2")
    assert change["index"] == 12 and change["change_pct"] > 10
    # and the table of every scenario shows the measured flake probability
    assert main(["history", "--json", "--results", str(tmp_path)]) == 0
    [row] = json.loads(capsys.readouterr().out)["scenarios"]
    assert row["flake_probability"] == pytest.approx(1 / 30, abs=1e-4) and row["failures_to_block"] == 1
