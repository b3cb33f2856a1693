"""Calibration statistics: how far each SLO's bound sits from what N runs measured.

Pure functions over verdicts (no Ray, no cluster): `harness calibrate` (see
harness.gate.calibrate_cmd) runs the scenario N times and hands the verdicts here.

For every SLO: the measured values (min, median, max), the bound, the margin
from the worst value seen to the bound, and a warning when that margin is
thinner than the spread between runs (the next run may well cross it: the SLO
would flake). A suggested bound is the worst value seen plus a stated margin:

    upper bounds (<, <=):  worst + max(margin% of |worst|, spread)
    lower bounds (>, >=):  worst - max(margin% of |worst|, spread)
    ratios (0-100%):       the margin applies to the shortfall from 100% (or 0%),
                           at least one percentage point, never past 0% or 100%
    exact bounds (==, !=): kept (they state correctness, not a tolerance)

rounded outward to two significant digits (counts: to a whole number) and written in
the SLO's own unit.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.model.outcome import Verdict, format_value
from harness.slo.core import UNIT_PATTERN, as_written, parse_check

UPPER, LOWER = ("<", "<="), (">", ">=")
RATIO_FLOOR = 0.01  # a suggested ratio bound leaves at least one percentage point


@dataclass(kw_only=True)
class SloCalibration:
    name: str
    check: str
    op: str
    bound: float
    unit: str
    values: list[float | None]  # one per run that judged it, in run order (None: no data)
    passed: int
    runs: int
    min: float | None = None
    median: float | None = None
    max: float | None = None
    spread: float | None = None
    margin: float | None = None  # worst value to the bound, positive = inside the bound
    margin_pct: float | None = None  # margin as % of |bound|
    warnings: list[str] = field(default_factory=list)
    suggested: float | None = None
    suggested_check: str | None = None
    suggestion_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: _json_number(v) for k, v in asdict(self).items()}


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    return value


def calibrate_slo(verdicts: list[Verdict], margin_pct: float) -> SloCalibration:
    """One SLO's figures over the runs that judged it (all verdicts share name and check)."""
    first = verdicts[0]
    unit = next((v.unit for v in verdicts if v.unit), "")
    values = [v.measured for v in verdicts]
    cal = SloCalibration(name=first.name, check=first.check, op=first.op, bound=first.bound, unit=unit, values=values,
                         passed=sum(v.passed for v in verdicts), runs=len(verdicts))
    seen = [v for v in values if v is not None and not math.isnan(v)]
    if cal.passed < cal.runs:
        cal.warnings.append(f"failed in {cal.runs - cal.passed} of {cal.runs} runs")
    if len(seen) < len(values):
        cal.warnings.append(f"no data in {len(values) - len(seen)} of {len(values)} runs")
    if not seen:
        cal.suggestion_note = "kept: nothing measured"
        return cal
    cal.min, cal.max = min(seen), max(seen)
    cal.median = statistics.median(seen)
    cal.spread = cal.max - cal.min if all(math.isfinite(v) for v in seen) else math.inf
    cal.margin = margin_to_bound(first.op, first.bound, cal.min, cal.max)
    if cal.margin is not None and math.isfinite(cal.margin) and first.bound:
        cal.margin_pct = cal.margin / abs(first.bound) * 100.0
    if would_flake(first.op, cal.margin, cal.spread) and cal.passed == cal.runs:
        cal.warnings.append(
            f"margin {format_value(cal.margin, unit)} is thinner than the spread seen "
            f"({format_value(cal.spread, unit)}): this SLO would flake")
    cal.suggested, cal.suggestion_note = suggest_bound(first.op, first.bound, unit, cal.min, cal.max, margin_pct)
    if cal.suggested is not None:
        cal.suggested_check = respell(first.check, cal.suggested)
    return cal


def margin_to_bound(op: str, bound: float, low: float, high: float) -> float | None:
    """Distance from the worst value seen to the bound (negative: the bound was crossed)."""
    if op in UPPER:
        return bound - high if math.isfinite(high) else -math.inf
    if op in LOWER:
        return low - bound if math.isfinite(low) else -math.inf
    return None  # == and != have no distance: a run either matches or not


def would_flake(op: str, margin: float | None, spread: float | None) -> bool:
    """The worst run sits closer to the bound than the runs sit to each other."""
    if margin is None or spread is None:
        return False
    if op in ("<", ">") and margin == 0:
        return True  # touching a strict bound already fails
    return margin < spread


def suggest_bound(op: str, bound: float, unit: str, low: float, high: float,
                  margin_pct: float) -> tuple[float | None, str]:
    """(suggested bound in the metric's unit, how it was derived); None keeps the bound."""
    if op not in UPPER + LOWER:
        return None, "kept: an exact bound"
    upper = op in UPPER
    worst = high if upper else low
    if not math.isfinite(worst):
        return None, "kept: a run never reached it"
    spread = high - low
    share = margin_pct / 100.0
    if unit == "ratio":
        # Ratios live in [0, 1]: a margin on the value itself (99% - 20%) means nothing.
        shortfall = worst if upper else 1.0 - worst
        slack = max(shortfall * share, spread, RATIO_FLOOR)
        value = min(1.0, worst + slack) if upper else max(0.0, worst - slack)
        value = _round_ratio(value, up=upper)
        return value, f"worst {format_value(worst, unit)} {'+' if upper else '-'} {slack * 100:.2f} points"
    slack = max(abs(worst) * share, spread)
    value = worst + slack if upper else worst - slack
    value = round_outward(value, up=upper)
    if unit == "count":  # replicas, requests, changes: whole numbers
        value = float(math.ceil(value) if upper else math.floor(value))
    if not upper and worst >= 0:
        value = max(0.0, value)
    return value, (f"worst {format_value(worst, unit)} {'+' if upper else '-'} "
                   f"max({margin_pct:g}%, spread {format_value(spread, unit)})")


def round_outward(value: float, up: bool, digits: int = 2) -> float:
    """Round to `digits` significant digits, away from the values seen."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10 ** (math.floor(math.log10(abs(value))) - digits + 1)
    steps = value / scale
    steps = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
    return float(f"{steps * scale:.12g}")


def _round_ratio(value: float, up: bool) -> float:
    """To a tenth of a percentage point, outward."""
    points = value * 1000
    points = math.ceil(points - 1e-9) if up else math.floor(points + 1e-9)
    return points / 1000


_NUMBER = re.compile(
    rf"(?P<head>(?:<=|>=|==|!=|<|>)\s*)(?P<number>-?\d+(?:\.\d+)?)(?P<tail>\s*(?:{UNIT_PATTERN})?\s*)$")


def respell(check_text: str, bound: float) -> str:
    """The check with a new bound (in the metric's unit), written in the check's own unit."""
    match = _NUMBER.search(check_text)
    if match is None:
        raise ValueError(f"not a check: {check_text!r}")
    check = parse_check(check_text)
    number = as_written(check.metric, bound, check.unit)
    text = f"{number:.6g}"
    if "e" in text:
        text = f"{number:f}".rstrip("0").rstrip(".")
    return check_text[: match.start("number")] + text + check_text[match.end("number"):]


@dataclass(kw_only=True)
class Calibration:
    scenario: str
    scenario_file: str
    seeds: list[int]
    margin_pct: float
    slos: list[SloCalibration]
    run_statuses: list[str]  # passed | failed | error, per run
    run_dirs: list[str]
    errors: list[str] = field(default_factory=list)
    shared_cluster: bool = False

    @property
    def exit_code(self) -> int:
        if self.errors or "error" in self.run_statuses or not self.run_statuses:
            return 3
        return 0 if all(s == "passed" for s in self.run_statuses) else 1

    @property
    def flaky(self) -> list[SloCalibration]:
        return [s for s in self.slos if s.warnings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "scenario_file": self.scenario_file, "seeds": self.seeds,
            "margin_pct": self.margin_pct, "shared_cluster": self.shared_cluster,
            "run_statuses": self.run_statuses, "run_dirs": self.run_dirs, "errors": self.errors,
            "exit_code": self.exit_code, "slos": [s.as_dict() for s in self.slos],
        }


def calibrate(verdict_runs: list[list[Verdict]], margin_pct: float) -> list[SloCalibration]:
    """Per SLO (in the scenario's order) over runs that produced verdicts."""
    by_name: dict[str, list[Verdict]] = {}
    for verdicts in verdict_runs:
        for verdict in verdicts:
            by_name.setdefault(verdict.name, []).append(verdict)
    return [calibrate_slo(group, margin_pct) for group in by_name.values()]


def derive_seeds(start: int, runs: int) -> list[int]:
    """Run i gets seed start + i: different per run, the same for the same command."""
    return [(start + i) % 2**32 for i in range(runs)]


def table_rows(cal: Calibration, full: bool = True) -> list[list[str]]:
    """One row per SLO; `full` adds the check and the suggested check (Markdown)."""
    rows = []
    for s in cal.slos:
        def fmt(value: float | None, unit: str = s.unit) -> str:
            return format_value(value, unit)

        margin = "exact" if s.margin is None and s.min is not None else fmt(s.margin)
        if s.margin_pct is not None:
            margin += f" ({s.margin_pct:.0f}%)"
        bound = f"{s.op} {fmt(s.bound)}"
        flag = "; ".join(s.warnings) if full else ("FLAKY" if s.warnings else "ok")
        row = [s.name, f"{s.passed}/{s.runs}", fmt(s.min), fmt(s.median), fmt(s.max), bound,
               margin, fmt(s.spread), flag or "ok"]
        if full:
            row[1:1] = [s.check]
            row.insert(-1, s.suggested_check or s.suggestion_note)
        rows.append(row)
    return rows


SHORT_HEADERS = ["SLO", "passed", "min", "median", "max", "bound", "margin", "spread", "flag"]
HEADERS = ["SLO", "check", "passed", "min", "median", "max", "bound", "margin", "spread", "suggested", "warning"]


def markdown(cal: Calibration) -> str:
    """The table as Markdown (docs/calibration.md is assembled from these)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in table_rows(cal):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"


def suggested_header(cal: Calibration, when: str, machine: str) -> list[str]:
    """Comment lines that say where each suggested bound came from."""
    seeds = ", ".join(str(s) for s in cal.seeds)
    lines = [
        f"Suggested bounds from `harness calibrate {cal.scenario_file} --runs {len(cal.seeds)}`",
        f"on {when}, {machine}; seeds {seeds}; "
        f"{'one shared cluster' if cal.shared_cluster else 'a fresh cluster per run'}.",
        f"Each bound = worst value seen +/- max({cal.margin_pct:g}% of it, the spread seen);",
        "ratios: on the shortfall from 100% (at least 1 point); == and != kept. Rounded outward.",
    ]
    for s in cal.slos:
        seen = f"min {format_value(s.min, s.unit)}, median {format_value(s.median, s.unit)}, " \
               f"max {format_value(s.max, s.unit)}"
        new = s.suggested_check or f"{s.check} ({s.suggestion_note})"
        lines.append(f"  {s.name}: {s.check} -> {new}; {seen}; passed {s.passed}/{s.runs}")
    return lines


def rewrite_checks(text: str, replacements: dict[str, str]) -> tuple[str, list[str]]:
    """Replace each old check text, found exactly once in a YAML file's text, by the new one.

    Returns the text and the checks that could not be placed (absent or ambiguous):
    the caller then writes the resolved scenario instead.
    """
    missing = []
    for old, new in replacements.items():
        if old == new:
            continue
        if text.count(old) != 1:
            missing.append(old)
            continue
        text = text.replace(old, new)
    return text, missing
