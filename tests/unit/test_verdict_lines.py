"""Why-lines that name the cause (issue 11): one line of 80 columns, the full text kept."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from harness.model.outcome import RunOutcome
from harness.model.scenario import SLOSpec
from harness.report.terminal import print_verdicts
from harness.scenario.loader import scenario_from_dict
from harness.slo.core import evaluate
from tests.unit.slo_timelines import phase, request, timeline

TRACEBACK = """\
2026-01-01 INFO worker.py:1 Connecting to existing Ray cluster
Traceback (most recent call last):
  File "train.py", line 3, in <module>
    import pandas
ModuleNotFoundError: No module named 'pandas'
(raylet) [2026-01-01] some shutdown chatter
"""


@pytest.mark.parametrize("text, expected", [
    (TRACEBACK, "ModuleNotFoundError: No module named 'pandas'"),
    ("ok\nray.exceptions.RayTaskError(ValueError): bad input\n", "ray.exceptions.RayTaskError(ValueError): bad input"),
    ("step 1\nERROR: could not reach the GCS\nbye\n", "ERROR: could not reach the GCS"),
    ("step 1\nstep 2\n", "step 2"),
    ("\n\n", None),
])
def test_last_error_line_prefers_the_exception(text, expected):
    from harness.slo.causes import last_error_line

    assert last_error_line(text) == expected


def test_log_cause_reads_only_the_end_of_a_big_log(tmp_path):
    from harness.slo.causes import log_cause

    log = tmp_path / "x.log"
    log.write_text("noise\n" * 100_000 + TRACEBACK)
    assert log_cause(log) == "ModuleNotFoundError: No module named 'pandas'"
    assert log_cause(tmp_path / "missing.log") is None


def _verdicts():
    records = [phase("run", 0, 20), phase("load", 1, 11)] + [request(2 + i, latency_ms=900.0) for i in range(5)]
    long_name = "the p99 of every request in the load window stays well below half a second " * 2
    specs = [SLOSpec(check="p(99) < 500ms", name=long_name.strip()), SLOSpec(check="requests >= 1")]
    return [evaluate(spec, timeline(*records)) for spec in specs]


def test_failing_verdicts_fit_80_columns_and_keep_the_full_text():
    outcome = RunOutcome(run_id="r1", scenario_name="s", scenario_file="s.yaml", seed=0, run_dir="/tmp/r1", started_at=0.0)
    outcome.verdicts = _verdicts()
    out = io.StringIO()
    print_verdicts(Console(file=out, width=80, color_system=None), outcome)
    lines = out.getvalue().splitlines()
    assert [li for li in lines if len(li.rstrip()) > 80 and not li.startswith("FAILED exit")] == []
    verdict = outcome.verdicts[0]
    # Below the 80-column table, the why-line is one line of at most 80 columns that
    # leads with the cause even when the SLO's name is long; the full text is kept.
    assert [li for li in lines if li.startswith("FAIL ")] == [verdict.line()]
    assert len(verdict.line()) == 80 and verdict.line().endswith("...")
    assert "violated: measured 900.0ms" in verdict.line()
    assert "measured 900.0ms, expected below 500.0ms" in verdict.message  # the full text, kept
    assert verdict.as_dict()["message"] == verdict.message


def test_infrastructure_error_line_names_the_part_in_one_line():
    outcome = RunOutcome(run_id="r1", scenario_name="s", scenario_file="s.yaml", seed=0, run_dir="/tmp/r1", started_at=0.0)
    outcome.fail("app_deploy", "RuntimeError: Failed to import 'my_app'\n" + "x" * 200)
    out = io.StringIO()
    print_verdicts(Console(file=out, width=80, color_system=None), outcome)
    lines = out.getvalue().splitlines()
    assert f"infrastructure error (app_deploy): RuntimeError: Failed to import 'my_app' {'x' * 200}" in lines
    assert not any(set(li.strip()) == {"x"} for li in lines)  # one log line, not wrapped


SHED_RUN = [phase("run", 0, 20), phase("load", 1, 11)] + [request(2 + i) for i in range(5)]


def test_no_data_fails_by_default_and_says_the_policy():
    verdict = evaluate(SLOSpec(check="p(99, shed) < 500ms"), timeline(*SHED_RUN))
    assert not verdict.passed and verdict.no_data
    assert "p(99, shed) < 500ms failed: no data" in verdict.message and "on_no_data: fail" in verdict.message


def test_no_data_may_pass_when_the_slo_says_so():
    data = {"name": "s", "duration_s": 5, "cluster": {"nodes": [{"name": "head", "num_cpus": 1}]},
            "slos": [{"check": "p(99, shed) < 500ms", "on_no_data": "pass"}]}
    spec = scenario_from_dict(data, "s.yaml").slos[0]
    verdict = evaluate(spec, timeline(*SHED_RUN))
    assert verdict.passed and verdict.no_data and verdict.on_no_data == "pass"
    assert "p(99, shed) < 500ms passed: no data" in verdict.message and "on_no_data: pass" in verdict.message
    # Data, when there is some, is judged as always: the policy only answers for none.
    shed = SHED_RUN + [request(3, outcome="shed", latency_ms=900.0)]
    assert not evaluate(spec, timeline(*shed)).passed


def test_on_no_data_takes_only_fail_or_pass():
    data = {"name": "s", "duration_s": 5, "cluster": {"nodes": [{"name": "head", "num_cpus": 1}]},
            "slos": [{"check": "requests >= 1", "on_no_data": "skip"}]}
    with pytest.raises(Exception) as info:
        scenario_from_dict(data, "s.yaml")
    assert "s.yaml: slos.0.on_no_data: expected 'fail' or 'pass'" in str(info.value)


def test_load_error_quotes_the_locust_log(tmp_path):
    from harness.load.process import LoadProcess, _Proc
    from harness.model.load_spec import LoadSpec
    from harness.procs.ledger import ProcessLedger

    log = tmp_path / "locust.log"
    log.write_text("[2026] INFO Starting Locust\nTraceback (most recent call last):\n"
                   "ImportError: cannot import name 'FastHttpUser'\n")
    load = LoadProcess(run_dir=tmp_path, spec=LoadSpec(), target_url="http://127.0.0.1:1", duration_s=5, seed=0,
                       ledger=ProcessLedger("r"))
    load._procs = [_Proc(name="locust", popen=None, log_path=log, log=None)]  # type: ignore[arg-type]
    assert load.cause() == f"ImportError: cannot import name 'FastHttpUser' (log {log})"


def test_the_line_does_not_repeat_the_check():
    no_data = evaluate(SLOSpec(check="p(99, shed) < 500ms"), timeline(*SHED_RUN))
    assert no_data.line() == "FAIL p(99, shed) < 500ms: no data (nothing measured); on_no_data: fail"
    slow = evaluate(SLOSpec(check="p(99) < 5ms"), timeline(*SHED_RUN))
    assert slow.line().startswith("FAIL p(99) < 5ms: violated: measured 10.0ms, expected below 5.0ms")
