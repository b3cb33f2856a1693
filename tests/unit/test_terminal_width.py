"""Every table reads at 80 columns, as a CI log shows it: no table line is wider, and a
failing verdict's why-line is printed below the table in one line of at most 80 columns
(the full text stays in JUnit), never wrapped in a cell."""

from __future__ import annotations

import html
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from harness.gate.history_cmd import label_rows, print_labels, print_scenarios
from harness.gate.suite_report import print_suite
from harness.gate.verdict import Decision
from harness.load.window_report import build_table
from harness.model.outcome import RunOutcome, Verdict
from harness.report.compare import RunFolder, build_comparison, print_comparison
from harness.report.junit import build_suite, write_junit
from harness.report.terminal import print_verdicts
from tests.synthetic_run import make_run

WHY = ("p(99) < 1000ms violated: measured 2003.4ms, expected below 1000.0ms in window 'load' "
       "(15.0s): the slowest requests all came after the replica restart")


def console() -> Console:
    return Console(width=80, record=True, file=io.StringIO(), color_system=None)


def table_lines(con: Console) -> list[str]:
    return con.export_text().splitlines()


def assert_fits(lines: list[str], allowed_long: tuple[str, ...] = ()) -> None:
    wide = [line for line in lines if len(line.rstrip()) > 80 and not line.startswith(allowed_long)]
    assert wide == []


def test_run_verdicts_fit_and_why_lines_are_one_line(tmp_path: Path) -> None:
    run = RunOutcome(run_id="20260101-000000-smoke-abcdef", scenario_name="smoke", scenario_file="configs/scenarios/smoke.yaml", seed=1,
                     run_dir="/home/ci/builds/project/results/20260101-000000-smoke-abcdef", started_at=0.0, ended_at=1.0)
    run.verdicts = [
        Verdict(name="requests succeed", check="success_ratio >= 99%", window="load", passed=True, measured=1.0, bound=0.99, op=">=", unit="ratio", message="met"),
        Verdict(name="p99 latency of checkout requests", check="p(99) < 1000ms", window="30s after fault-1", passed=False,
                measured=2003.4, bound=1000.0, op="<", unit="ms", message=WHY),
        Verdict(name="replicas back", check="replica_recovery_time(Echo) < 30s", window="fault-1 + 60s", passed=False,
                measured=float("inf"), bound=30.0, op="<", unit="s", message="never: Echo never reached 2 running replicas"),
    ]
    con = console()
    print_verdicts(con, run)
    lines = table_lines(con)
    assert_fits(lines, ("FAILED exit", "reproduce:"))  # why-lines fit too
    why_lines = [line for line in lines if line.startswith("FAIL p99 latency of checkout requests: violated")]
    assert len(why_lines) == 1 and why_lines[0].endswith("...")  # cut to one line, not wrapped
    write_junit(tmp_path / "junit.xml", [build_suite(run)])
    assert WHY in html.unescape((tmp_path / "junit.xml").read_text())  # the full text is in JUnit
    for cell in ("p99 latency of checkout requests", "30s after fault-1", "2003.4ms", "< 1000.0ms"):
        assert any(cell in line for line in lines[:8]), cell  # not wrapped inside its cell
    assert any("never" in line and "FAIL" in line and "replicas back" in line for line in lines)


def _result(name: str, status: str, blocking: bool, reasons: list[str], notes: list[str]) -> SimpleNamespace:
    attempt = SimpleNamespace(reproduce_command=f"harness reproduce /results/suite/{name}-run")
    return SimpleNamespace(name=name, status=status, attempts=[attempt, attempt], state="consistently_failing",
                           flake_rate=0.07, decision=Decision(blocking, reasons, notes), skipped_reason=None,
                           regressions=[], pooled=[])


def test_suite_table_fits_with_reasons_below() -> None:
    reason = "failed on every attempt: p99 latency of checkout requests, requests succeed; " \
             "regression: p99_ms 2003.4 vs baseline 120.0 (+1570%, limit +50%)"
    session = SimpleNamespace(
        suite=SimpleNamespace(name="nightly"), run_name="suite-nightly-20260101-000000",
        suite_dir=Path("/results/suite-nightly-20260101-000000"),
        results=[_result("autoscaling-burst-with-node-kill", "failed", True, [reason], []),
                 _result("smoke", "flaky", False, [], ["quarantined (slow proxy; owner serve): flaky"])])
    con = console()
    print_suite(con, session, 1)
    lines = table_lines(con)
    assert_fits(lines, ("blocking:", "  reproduce:", "not blocking:", "BLOCKED exit"))
    assert f"blocking: autoscaling-burst-with-node-kill: {reason}" in lines
    assert any(line.strip().startswith("smoke") and "flaky" in line for line in lines)
    assert lines[0].rstrip() == "suite nightly (suite-nightly-20260101-000000)"  # the title on one line
    session.results = session.results[1:]  # a narrow table: its title still on one line
    session.results[0].state = "passing"
    session.suite.name, session.run_name = "seeded-regression", "suite-seeded-regression-20261130-141038"
    con = console()
    print_suite(con, session, 0)
    assert table_lines(con)[0].rstrip() == "suite seeded-regression (suite-seeded-regression-20261130-141038)"
    for cell in ("autoscaling-burst-with-node-kill", "consistently_failing"):
        assert any(cell in line for line in lines), cell


def test_history_tables_fit() -> None:
    rows = [{"scenario": "autoscaling-burst-with-node-kill", "state": "consistently_failing",
             "results": ["passed", "failed"] * 15, "flake_rate": 0.5, "p99_ok_baseline_ms": 1234.5,
             "ok_rps_baseline": 180.2, "last_run": time.time(), "quarantine": {"owner": "serve", "reason": "x" * 90},
             "flake_probability": 0.1, "failures_to_block": 2}]
    con = console()
    print_scenarios(con, "history: last 30 results per scenario", rows)
    lines = table_lines(con)
    assert_fits(lines, ("quarantined:",))
    assert any("PF" * 15 in line for line in lines)  # all 30 results on one line
    for cell in ("autoscaling-burst-with-node-kill", "consistently_failing", "1234.5ms", "180.2/s",
                 "flake p 10.0%, 2 failures in a row block"):
        assert any(cell in line for line in lines), cell
    stored = [SimpleNamespace(label="release-2.60.0-rc1", status="passed", config_hash="h", started_at=1.0,
                              metrics={"p50_ok_ms": 5.0, "p99_ok_ms": 50.0, "ok_rps": 80.0},
                              versions={"ray": "2.60.0", "app": "shop-frontend 12.4.1", "harness": "0.1.0"})]
    con = console()
    print_labels(con, "smoke", label_rows(stored * 30))  # type: ignore[arg-type]
    lines = table_lines(con)
    assert_fits(lines)
    for cell in ("release-2.60.0-rc1", "shop-frontend 12.4.1", "P" * 30):
        assert any(cell in line for line in lines), cell


def test_compare_and_load_tables_fit(tmp_path: Path) -> None:
    a, b = make_run(tmp_path, "smoke", seed=7), make_run(tmp_path, "smoke", seed=8)
    summary = json.loads((b / "summary.json").read_text())
    summary["artifacts"] = {"chaos_results": [{"fault": "kill_raylet", "outcome": "injected",
                                               "targets": [{"node": "a40-node-r2"}], "noticed_after_s": 14.6}]}
    (b / "summary.json").write_text(json.dumps(summary))
    con = console()
    print_comparison(con, build_comparison(RunFolder(a), RunFolder(b)))
    lines = table_lines(con)
    assert_fits(lines, ("A: ", "B: ", "A FAIL", "B FAIL"))
    for cell in ("requests succeed", "injected on a40-node-r2, noticed 14.6s", "ok_rps"):
        assert any(cell in line for line in lines), cell
    row = {"window": "recovery-1", "seconds": 300, "requests": 123456, "offered_rps": 6000.0,
           "sent_rps": 5999.9, "p50_ms": 1234.5, "p99_ms": 98765.0, "ok": 123000, "shed": 456,
           "errors": 12345, "dropped": 1234, "retries": 99999}
    con = console()
    con.print(build_table([row], "load by window (open model, burst shape)"))
    assert_fits(table_lines(con))


def _calibration(name: str):
    from harness.gate.calibrate import Calibration, SloCalibration

    slo = SloCalibration(name=name, check="p(99) < 1000ms", op="<", bound=1000.0, unit="ms", values=[934.8, 800.0], passed=2, runs=2,
                         min=800.0, median=867.4, max=934.8, spread=134.8, margin=65.2, margin_pct=6.5, warnings=[], suggested=1200.0, suggested_check="p(99) < 1200ms")
    errored = SloCalibration(name="errored", check="errors == 0", op="==", bound=0.0, unit="count", values=[0, 0], passed=2, runs=2, min=0, median=0, max=0, spread=0)
    return Calibration(scenario="smoke", scenario_file="configs/scenarios/smoke.yaml", seeds=[1, 2], margin_pct=25, slos=[slo, errored],
                       run_statuses=["passed", "passed"], run_dirs=["a", "b"])


def test_calibrate_table_never_breaks_a_word_at_80_columns() -> None:
    """Nine columns do not fit 80: one block per SLO, every value whole (`934.8ms`, not
    `934.8m|s`; `baseline is fast`, not `baseli|ne is|fast`)."""
    from harness.gate.calibrate_cmd import print_table

    con = console()
    print_table(con, _calibration("baseline is fast"))
    lines = table_lines(con)
    assert_fits(lines)
    text = "\n".join(lines)
    for whole in ("baseline is fast", "max 934.8ms", "bound < 1000.0ms", "margin 65.2ms (6%)", "errored"):
        assert whole in text
    wide = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    print_table(wide, _calibration("fast"))
    header = next(line for line in table_lines(wide) if line.lstrip().startswith("SLO"))
    assert "median" in header  # wide enough: a real table again
