"""A burst-shaped open-model scenario against the built-in Serve app, end to end.

Two runs of the shipped burst scenario on one cluster (a ClusterPool's, as a suite's
runs share one: the second needs no cluster start of its own), and what a reader gets:
per window p50/p99, offered and sent rate, shed and error counts, in summary.json and on
the terminal (the run's console, 100 columns).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.cluster.pool import ClusterPool
from harness.model.shape import build_profile
from harness.report.run_results import RunResults
from harness.run.runner import Runner
from harness.scenario.loader import load_scenario
from locustfiles.schedule import arrival_offsets

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "configs" / "scenarios" / "burst.yaml"
# One request in flight at a time cannot keep a 50 req/s schedule of 40 ms requests.
CANNOT_KEEP_UP = ["load.max_in_flight=1", "duration_s=9"]  # 9: recovery-1 (8 s on) exists


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, dict, str]]:
    """name -> (outcome, summary, terminal output); the passing run first, on the pool's cluster."""
    tmp = tmp_path_factory.mktemp("burst")
    out = {}
    pool = ClusterPool(tmp / "pool")
    try:
        for name, overrides in (("burst", []), ("cannot_keep_up", CANNOT_KEEP_UP)):
            terminal = io.StringIO()
            scenario = load_scenario(SCENARIO, overrides)
            runner = Runner(scenario=scenario, scenario_file=str(SCENARIO), results_root=tmp / name,
                            reporter=RunResults(), overrides=overrides, pool=pool,
                            console=Console(file=terminal, width=100))
            outcome = runner.run()
            summary = json.loads((Path(outcome.run_dir) / "summary.json").read_text())
            out[name] = (outcome, summary, terminal.getvalue())
    finally:
        pool.close()
    return out


def test_burst_scenario_reports_every_window(runs: dict[str, tuple[Any, dict, str]]) -> None:
    outcome, summary, output = runs["burst"]
    assert outcome.exit_code == 0, output[-3000:]
    rows = {row["window"]: row for row in summary["artifacts"]["load_windows"]}
    assert list(rows) == ["load", "baseline", "burst-1", "recovery-1"]
    for row in rows.values():
        for key in ("p50_ms", "p99_ms", "offered_rps", "sent_rps", "ok_rps", "shed", "errors", "samples"):
            assert row[key] is not None, (row["window"], key)
    # Poisson arrivals at 8 and 50 req/s (4 s windows): the offered rates follow the shape,
    # and every window holds exactly the sends of the seeded schedule.
    assert rows["baseline"]["offered_rps"] == pytest.approx(8, rel=0.5)
    assert rows["burst-1"]["offered_rps"] == pytest.approx(50, rel=0.3)
    scenario = load_scenario(SCENARIO)
    profile = build_profile(scenario.load.resolved()["shape"], 0, scenario.duration_s, scenario.seed)
    offsets = list(arrival_offsets(profile, "poisson", scenario.seed))
    for window in profile.windows():
        scheduled = sum(1 for t in offsets if window.start <= t < window.end)
        assert rows[window.name]["requests"] + rows[window.name]["dropped"] == scheduled
    assert rows["burst-1"]["sent_rps"] == rows["burst-1"]["offered_rps"]  # nothing dropped
    # One replica holding one request and queueing two cannot serve 50 req/s of 40 ms each.
    assert rows["burst-1"]["shed"] > 10
    assert rows["burst-1"]["shed"] > rows["baseline"]["shed"]
    assert summary["metrics"]["load_dropped"] == 0
    assert {v["window"] for v in summary["verdicts"]} == {"baseline", "burst-1", "recovery-1", "load"}
    # The terminal shows the same table.
    assert "load by window (open model, burst shape)" in output
    for name in ("baseline", "burst-1", "recovery-1"):
        assert name in output


def test_a_generator_that_cannot_keep_up_makes_the_run_invalid_not_failed(
        runs: dict[str, tuple[Any, dict, str]]) -> None:
    outcome, summary, output = runs["cannot_keep_up"]
    assert outcome.exit_code == 3, output[-3000:]
    assert summary["error"]["kind"] == "load_invalid"
    assert "dropped" in summary["error"]["message"] and "max_in_flight=1" in summary["error"]["message"]
    rows = {row["window"]: row for row in summary["artifacts"]["load_windows"]}
    assert rows["burst-1"]["dropped"] > 0
    assert rows["burst-1"]["offered_rps"] > rows["burst-1"]["sent_rps"]
    assert "load_invalid" in output
