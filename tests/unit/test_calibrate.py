"""harness.gate.calibrate: spread, margin, flake warnings and suggested bounds, on verdicts built by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.gate.calibrate import (
    Calibration,
    calibrate,
    calibrate_slo,
    derive_seeds,
    margin_to_bound,
    markdown,
    respell,
    rewrite_checks,
    round_outward,
    suggest_bound,
    suggested_header,
    would_flake,
)
from harness.gate.calibrate_cmd import write_suggested
from harness.model.outcome import Verdict
from harness.scenario.loader import load_scenario
from harness.slo.core import OPS, parse_check

ROOT = Path(__file__).resolve().parents[2]


def verdict(check: str, measured: float | None, unit: str, name: str = "slo") -> Verdict:
    parsed = parse_check(check)
    passed = measured is not None and OPS[parsed.op](measured, parsed.bound)
    return Verdict(name=name, check=check, window="load", passed=passed, measured=measured, bound=parsed.bound, op=parsed.op, unit=unit, message="")


def test_latency_spread_margin_and_suggestion() -> None:
    runs = [verdict("p(99) < 1000ms", v, "ms") for v in (300.0, 420.0, 350.0)]
    cal = calibrate_slo(runs, margin_pct=25)
    assert (cal.min, cal.median, cal.max) == (300.0, 350.0, 420.0)
    assert cal.spread == pytest.approx(120.0)
    assert cal.margin == pytest.approx(580.0) and cal.margin_pct == pytest.approx(58.0)
    assert cal.warnings == []
    # worst 420 + max(25% of 420 = 105, spread 120) = 540, rounded up to 2 digits
    assert cal.suggested == 540.0 and cal.suggested_check == "p(99) < 540ms"


def test_a_margin_thinner_than_the_spread_warns_even_when_every_run_passed() -> None:
    runs = [verdict("p(99) < 500ms", v, "ms") for v in (200.0, 480.0, 300.0)]
    cal = calibrate_slo(runs, margin_pct=25)
    assert cal.passed == 3
    assert len(cal.warnings) == 1 and "would flake" in cal.warnings[0]
    assert cal.suggested == 760.0  # 480 + spread 280 (more than 25% of 480)


def test_lower_bound_ratio_suggestion_works_on_the_shortfall() -> None:
    runs = [verdict("success_ratio >= 80%", v, "ratio") for v in (0.90, 0.97, 1.0)]
    cal = calibrate_slo(runs, margin_pct=25)
    assert cal.margin == pytest.approx(0.10)
    assert cal.warnings == []  # margin 10 points, spread 10 points: not thinner
    # shortfall 10 points: max(2.5, spread 10, floor 1) = 10 points below the worst
    assert cal.suggested == pytest.approx(0.80) and cal.suggested_check == "success_ratio >= 80%"
    perfect = calibrate_slo([verdict("success_ratio >= 99.9%", 1.0, "ratio")] * 3, 25)
    assert perfect.suggested == pytest.approx(0.99)  # never 100%: one error would fail it


def test_failures_no_data_and_never_are_reported() -> None:
    runs = [verdict("scale_down_time(Echo) < 12s", v, "s") for v in (5.0, math.inf, None)]
    cal = calibrate_slo(runs, margin_pct=25)
    assert cal.passed == 1
    assert "failed in 2 of 3 runs" in cal.warnings and "no data in 1 of 3 runs" in cal.warnings
    assert cal.margin == -math.inf and cal.suggested is None
    assert cal.suggestion_note == "kept: a run never reached it"
    assert cal.as_dict()["max"] == "inf"  # JSON has no infinity


def test_exact_bounds_are_kept_and_only_warn_on_failure() -> None:
    clean = calibrate_slo([verdict("errors == 0", 0.0, "count")] * 4, 25)
    assert clean.margin is None and clean.warnings == [] and clean.suggested is None
    assert clean.suggestion_note == "kept: an exact bound"
    dirty = calibrate_slo([verdict("errors == 0", v, "count") for v in (0.0, 2.0)], 25)
    assert dirty.warnings == ["failed in 1 of 2 runs"]


def test_a_cap_reached_exactly_every_run_does_not_flake() -> None:
    cal = calibrate_slo([verdict("max_replicas(Echo) <= 3", 3.0, "count")] * 5, 25)
    assert cal.margin == 0 and cal.spread == 0 and cal.warnings == []


@pytest.mark.parametrize(("op", "margin", "spread", "flakes"), [
    ("<", 10.0, 5.0, False), ("<", 5.0, 10.0, True), ("<=", 0.0, 0.0, False),
    ("<", 0.0, 0.0, True), (">=", 1.0, 1.0, False), ("==", None, 3.0, False),
])
def test_would_flake(op: str, margin: float | None, spread: float, flakes: bool) -> None:
    assert would_flake(op, margin, spread) is flakes


def test_margin_direction_follows_the_operator() -> None:
    assert margin_to_bound("<", 10, 2, 7) == 3
    assert margin_to_bound(">=", 100, 150, 400) == 50
    assert margin_to_bound(">", 100, 90, 120) == -10  # crossed
    assert margin_to_bound("==", 0, 0, 0) is None


def test_suggestions_round_outward_and_never_below_zero() -> None:
    assert round_outward(123.4, up=True) == 130 and round_outward(123.4, up=False) == 120
    assert round_outward(0.01234, up=True) == 0.013
    value, note = suggest_bound(">=", 100, "count", 10, 30, 25)
    assert value == 0.0 and "spread" in note  # 10 - max(2.5, 20) clipped at 0
    assert suggest_bound("<=", 3, "count", 2, 2, 25)[0] == 3  # counts are whole: 2.5 -> 3
    assert suggest_bound("<=", 3, "count", 3, 3, 25)[0] == 4  # 3.75
    assert suggest_bound("<", 60, "s", 8.0, 15.2, 25)[0] == 23  # 15.2 + spread 7.2 = 22.4


@pytest.mark.parametrize(("check", "bound", "expected"), [
    ("p(99) < 1000ms", 540.0, "p(99) < 540ms"),
    ("p(99) < 1s", 540.0, "p(99) < 0.54s"),
    ("success_ratio >= 99%", 0.975, "success_ratio >= 97.5%"),
    ("scale_down_time(Echo) < 12s", 7.5, "scale_down_time(Echo) < 7.5s"),
    ("scale_down_time(Echo) < 12000ms", 7.5, "scale_down_time(Echo) < 7500ms"),
    ("requests >= 100", 150.0, "requests >= 150"),
    ("error_ratio <= 0.5%", 0.004, "error_ratio <= 0.4%"),
    # Memory: measured in MB, written in MB, GB, MiB or GiB (the soak's calibration met these).
    ("peak_memory(Echo) < 500MB", 190.0, "peak_memory(Echo) < 190MB"),
    ("peak_memory(raylet, total) < 1GB", 250.0, "peak_memory(raylet, total) < 0.25GB"),
    ("peak_memory < 512MiB", 1.048576 * 300, "peak_memory < 300MiB"),
    ("peak_memory < 2GiB", 1073.741824 * 1.5, "peak_memory < 1.5GiB"),
    ("memory_growth(Echo) < 10%", 0.021, "memory_growth(Echo) < 2.1%"),
])
def test_respell_keeps_the_checks_spelling(check: str, bound: float, expected: str) -> None:
    assert respell(check, bound) == expected
    assert parse_check(expected).bound == pytest.approx(bound)


def test_seeds_are_distinct_and_deterministic() -> None:
    assert derive_seeds(7, 5) == [7, 8, 9, 10, 11] == derive_seeds(7, 5)
    assert derive_seeds(2**32 - 1, 2) == [2**32 - 1, 0]  # stays a valid seed


def _calibration(statuses: list[str], errors: list[str] | None = None) -> Calibration:
    runs = [[verdict("p(99) < 1000ms", 100.0 + i, "ms", "p99"), verdict("requests >= 100", 400.0, "count", "n")]
            for i in range(len(statuses))]
    return Calibration(scenario="smoke", scenario_file="configs/scenarios/smoke.yaml", seeds=derive_seeds(1, len(statuses)), margin_pct=25,
                       slos=calibrate(runs, 25), run_statuses=statuses, run_dirs=[f"r{i}" for i in range(len(statuses))], errors=errors or [])


def test_exit_codes() -> None:
    assert _calibration(["passed", "passed"]).exit_code == 0
    assert _calibration(["passed", "failed"]).exit_code == 1
    assert _calibration(["failed", "error"]).exit_code == 3
    assert _calibration(["passed", "passed"], ["interrupted"]).exit_code == 3


def test_markdown_and_header_name_every_slo() -> None:
    cal = _calibration(["passed", "passed"])
    table = markdown(cal)
    assert table.count("\n") == 2 + len(cal.slos)
    assert "p(99) < 130ms" in table  # 101 + 25% -> 126.25, rounded up
    header = suggested_header(cal, "2026-01-01 00:00 UTC", "test machine")
    assert any("p99: p(99) < 1000ms -> p(99) < 130ms" in line for line in header)


def test_rewrite_checks_reports_what_it_could_not_place() -> None:
    text = 'slos:\n  - {check: "p(99) < 1000ms"}\n  - {check: "p(99) < 1000ms", window: x}\n  - {check: "n >= 1"}\n'
    out, missing = rewrite_checks(text, {"p(99) < 1000ms": "p(99) < 500ms", "n >= 1": "n >= 2", "gone > 1": "x"})
    assert missing == ["p(99) < 1000ms", "gone > 1"]  # ambiguous, absent
    assert "n >= 2" in out and out.count("p(99) < 1000ms") == 2


@pytest.mark.parametrize("overrides", [[], ["duration_s=9"]])
def test_written_suggestion_loads_and_keeps_the_rest(tmp_path: Path, overrides: list[str]) -> None:
    source = ROOT / "configs" / "scenarios" / "smoke.yaml"
    runs = [[verdict("success_ratio >= 99%", 1.0, "ratio", "requests succeed"),
             verdict("p(99) < 1000ms", v, "ms", "p99 latency"),
             verdict("requests >= 100", n, "count", "enough traffic")]
            for v, n in ((20.0, 900.0), (35.0, 1000.0))]
    cal = Calibration(scenario="smoke", scenario_file=str(source), seeds=[1, 2], margin_pct=25, slos=calibrate(runs, 25), run_statuses=["passed"] * 2, run_dirs=["a", "b"])
    out = tmp_path / "suggested.yaml"
    write_suggested(out, str(source), overrides, cal, "2026-01-01 00:00 UTC")
    text = out.read_text()
    assert text.startswith("# Suggested bounds from `harness calibrate")
    scenario = load_scenario(out)
    checks = [s.check for s in scenario.slos]
    assert checks == ["success_ratio >= 99%", "p(99) < 50ms", "requests >= 670"]
    assert scenario.duration_s == (9 if overrides else 15)
    if not overrides:  # the original's comments survive a plain copy
        assert "# The default smoke scenario" in text


@pytest.mark.parametrize(("argv", "expected"), [
    (["--runs", "1"], "expected 2 to 100 runs"),
    (["--runs", "3", "--margin", "-5"], "expected a percentage"),
    (["--runs", "3", "--set", "users=yes-please"], "users"),
])
def test_usage_errors_exit_2_before_anything_runs(argv: list[str], expected: str, capsys, tmp_path: Path) -> None:
    from harness.cli import main

    code = main(["calibrate", str(ROOT / "configs" / "scenarios" / "smoke.yaml"), *argv,
                 "--results", str(tmp_path)])
    assert code == 2
    assert expected in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # no results directory, no run
