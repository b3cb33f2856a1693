"""Every request verdict carries its interval and an outcome (issue 22): judged by the real
SLO code, shown by every reporter, the exit code still the point estimate's."""

from __future__ import annotations

import io
import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import run_document
from harness.model.outcome import RunOutcome
from harness.model.scenario import SLOSpec
from harness.report.html import _verdict_rows
from harness.report.junit import build_suite, write_junit
from harness.report.markdown import run_markdown
from harness.report.terminal import print_verdicts
from harness.slo.core import evaluate
from tests.junit_check import junit_problems
from tests.unit.slo_timelines import phase, request, timeline


def lognormal_run(n: int = 2000, median_ms: float = 650.0, seed: int = 1, errors: int = 0):
    rng = random.Random(seed)
    records = [phase("run", 0, 40), phase("load", 1, 31)]
    records += [request(2 + i * 0.01, latency_ms=rng.lognormvariate(0, 0.2) * median_ms) for i in range(n)]
    records += [request(2.5 + i * 0.01, outcome="error", latency_ms=5.0) for i in range(errors)]
    return timeline(*records)


def test_a_bound_inside_the_interval_is_inconclusive_whatever_the_point_says() -> None:
    tl = lognormal_run()
    near = evaluate(SLOSpec(check="p(99) < 1000ms"), tl)
    assert near.interval is not None and near.interval["method"] == "order-statistics"
    assert near.interval["low"] < 1000.0 < near.interval["high"]
    assert near.outcome == "inconclusive"
    assert near.passed == (near.measured < 1000.0)  # the point estimate still decides the exit
    assert "95% interval [" in near.message and "inconclusive" in near.message
    far = evaluate(SLOSpec(check="p(99) < 2s"), tl)
    assert far.passed and far.outcome == "pass"
    assert evaluate(SLOSpec(check="p(50) < 500ms"), tl).outcome == "fail"


def test_ratios_get_a_binomial_interval_and_counts_none() -> None:
    tl = lognormal_run(n=990, errors=10)  # exactly 1% errors
    ratio = evaluate(SLOSpec(check="error_ratio <= 1%"), tl)
    assert ratio.passed and ratio.outcome == "inconclusive"
    assert ratio.interval["method"] == "clopper-pearson"
    assert ratio.interval["low"] < 0.01 < ratio.interval["high"]
    count = evaluate(SLOSpec(check="requests >= 10"), tl)
    assert count.interval is None and count.outcome == "pass"
    assert evaluate(SLOSpec(check="max_latency < 1ms"), tl).outcome == "fail"


def test_the_scenario_confidence_sets_the_width() -> None:
    tl = lognormal_run()
    spec = SLOSpec(check="p(99) < 1500ms")
    narrow, wide = evaluate(spec, tl, 0.8), evaluate(spec, tl, 0.999)
    assert narrow.interval["confidence"] == 0.8 and wide.interval["confidence"] == 0.999
    assert wide.interval["low"] <= narrow.interval["low"] <= narrow.interval["high"] <= wide.interval["high"]


def test_too_few_samples_leave_a_p99_open_above() -> None:
    verdict = evaluate(SLOSpec(check="p(99) < 10s"), lognormal_run(n=100))
    assert verdict.passed and verdict.outcome == "inconclusive"
    assert verdict.interval["high"] is None and "inf]" in verdict.interval_text()


def test_no_data_has_no_interval_and_follows_its_policy() -> None:
    verdict = evaluate(SLOSpec(check="p(99, shed) < 10ms", on_no_data="pass"), lognormal_run(n=50))
    assert verdict.no_data and verdict.interval is None and verdict.outcome == "pass"


@pytest.fixture
def outcome() -> RunOutcome:
    tl = lognormal_run()
    run = RunOutcome(run_id="r1", scenario_name="conf", scenario_file="configs/scenarios/conf.yaml", seed=3, run_dir="results/r1", started_at=0.0, ended_at=1.0)
    run.verdicts = [evaluate(SLOSpec(check=c), tl)
                    for c in ("p(99) < 1000ms", "success_ratio >= 99%", "requests >= 10")]
    return run


def test_terminal_marks_inconclusive_and_prints_interval_lines(outcome: RunOutcome) -> None:
    con = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    print_verdicts(con, outcome)
    lines = con.export_text().splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines if not line.startswith(("FAILED", "reproduce")))
    assert any(("FAIL ?" in line or "PASS ?" in line) and "p(99) < 1000ms" in line for line in lines)
    interval = [line for line in lines if line.startswith("p(99) ") and "[" in line]
    assert len(interval) == 1 and "< 1000ms" in interval[0] and "inconclusive" in interval[0]
    assert any(line.startswith("success_ratio 100.00% [") and line.endswith("PASS") for line in lines)


def test_junit_carries_outcome_and_interval_as_testcase_properties(outcome: RunOutcome, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(path, [build_suite(outcome)])
    assert junit_problems(path) == []
    cases = {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["p(99) < 1000ms"].iter("property")}
    assert props["outcome"] == "inconclusive"
    assert float(props["interval.low"]) < 1000 < float(props["interval.high"])
    assert props["interval.confidence"] == "0.95"
    assert props["result"].endswith("(inconclusive: bound inside the 95% interval)")
    assert "interval.low" not in {p.get("name") for p in cases["requests >= 10"].iter("property")}


def test_summary_json_markdown_and_html_show_it(outcome: RunOutcome) -> None:
    stored = json.loads(json.dumps([v.as_dict() for v in outcome.verdicts]))
    assert stored[0]["outcome"] == "inconclusive" and stored[0]["interval"]["confidence"] == 0.95
    assert stored[2]["interval"] is None and stored[2]["outcome"] == "pass"
    doc = json.loads(json.dumps(run_document(outcome)))  # `harness run --json`
    assert doc["verdicts"][0]["outcome"] == "inconclusive" and doc["verdicts"][0]["interval"]["low"] < 1000
    md = run_markdown(outcome)
    assert "| interval |" in md and "(inconclusive: bound inside the 95% interval)" in md
    html = _verdict_rows(stored)
    assert "(inconclusive: bound inside the 95% interval)" in html and "[99." in html
