"""The scenario's `load` section: models, shapes, retries, trace CSVs, one-line errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from harness.load.process import LoadProcess, judge_reports
from harness.model.errors import ConfigError
from harness.model.load_spec import LoadSpec
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import load_scenario, scenario_from_dict
from locustfiles.policy import RetryPolicy, classify

ROOT = Path(__file__).resolve().parents[2]
BASE = {"name": "t", "duration_s": 10, "cluster": {"nodes": [{"name": "head", "num_cpus": 1}]}}


def errors_for(load: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        scenario_from_dict({**BASE, "load": load}, "s.yaml")
    return info.value.lines


def test_every_shipped_scenario_still_validates() -> None:
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and "cluster" in data:
            load_scenario(path)


def test_closed_model_keeps_its_old_keys() -> None:
    scenario = scenario_from_dict({**BASE, "load": {"users": 3, "spawn_rate": 2, "wait_ms": 5,
                                                    "path": "/x", "request_timeout_s": 2}}, "s.yaml")
    assert (scenario.load.model, scenario.load.users, scenario.load.shape.kind) == ("closed", 3, "constant")


@pytest.mark.parametrize(("load", "expected"), [
    ({"rate": 10}, "expected load.model: open with load.rate"),
    ({"model": "open"}, "expected load.rate (requests per second)"),
    ({"model": "open", "shape": {"kind": "stages", "stages": [{"duration_s": 1, "users": 2}]}},
     "expected shape.stages.0 to give rate (not users) in the open model"),
    ({"shape": {"kind": "burst", "baseline": 1, "peak": 2, "start_s": 1, "burst_s": 3, "count": 2, "every_s": 2}},
     "expected every_s > burst_s when count > 1"),
    ({"shape": {"kind": "stages", "stages": [{"duration_s": 1, "users": 1, "name": "load"}]}},
     "expected window names other than the harness's own (load)"),
    ({"shape": {"kind": "trace"}}, "expected exactly one of csv or points"),
    ({"model": "open", "shape": {"kind": "trace", "points": [
        {"offset_s": 0, "level": 1, "name": "a"}, {"offset_s": 1, "level": 1}, {"offset_s": 2, "level": 1, "name": "a"},
    ]}}, "expected each window name once (or on neighbouring rows), got ['a', 'a']"),
    ({"shape": {"kind": "wave"}}, "load.shape"),
    ({"retry": {"attempts": 0}}, "load.retry.attempts"),
    ({"shape": {"kind": "ramp", "from": 1, "to": 20000, "ramp_s": 5}}, "expected at most 10000 users"),
])
def test_bad_load_sections_get_one_line_naming_the_key(load: dict, expected: str) -> None:
    lines = errors_for(load)
    assert len(lines) == 1
    assert lines[0].startswith("s.yaml: load")
    assert expected in lines[0]


def test_trace_csv_is_read_once_with_header_comments_and_window_names(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("offset_s,rate,window\n# quiet start\n0,5\n10,25,peak\n20,5,\n")
    spec = LoadSpec.model_validate({"model": "open", "shape": {"kind": "trace", "csv": str(trace)}})
    points = spec.resolved()["shape"]["points"]
    assert [(p["offset_s"], p["level"], p["name"]) for p in points] == [(0, 5, None), (10, 25, "peak"), (20, 5, None)]
    assert spec.resolved()["shape"]["csv"] is None


def test_bad_trace_csv_names_the_line(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("0,5\n3,lots\n")
    lines = errors_for({"model": "open", "shape": {"kind": "trace", "csv": str(trace)}})
    assert "line 2" in lines[0] and str(trace) in lines[0]
    trace.write_text("5,5\n3,5\n")
    assert "increasing order" in errors_for({"model": "open", "shape": {"kind": "trace", "csv": str(trace)}})[0]
    missing = errors_for({"model": "open", "shape": {"kind": "trace", "csv": str(tmp_path / "nope.csv")}})
    assert "expected a readable trace CSV" in missing[0]


def test_classify_keeps_shed_apart_from_errors() -> None:
    assert classify(200, None) == "ok"
    assert classify(503, "HTTP 503") == "shed"
    assert classify(500, "HTTP 500") == "error"
    assert classify(0, "RetriesExceeded: original=timed out") == "timeout"
    assert classify(0, "ConnectionRefusedError: [Errno 111]") == "conn_error"


def test_retry_policy_retries_configured_failures_with_growing_seeded_backoff() -> None:
    policy = RetryPolicy.from_config(LoadSpec.model_validate(
        {"retry": {"attempts": 4, "on_status": [503], "on_timeout": False, "backoff_ms": 100, "jitter": 0.5}}
    ).retry.model_dump())
    assert policy.should_retry(1, 503, "shed")
    assert not policy.should_retry(1, 500, "error")
    assert not policy.should_retry(1, 0, "timeout")
    assert policy.should_retry(3, 0, "conn_error")
    assert not policy.should_retry(4, 503, "shed")
    pauses = [policy.backoff_s(n, random.Random(1)) for n in (1, 2, 3)]
    assert [policy.backoff_s(n, random.Random(1)) for n in (1, 2, 3)] == pauses
    for n, pause in enumerate(pauses, start=1):
        assert 0.05 * 2 ** (n - 1) <= pause <= 0.1 * 2 ** (n - 1)


def test_one_process_or_a_master_with_workers_on_loopback(tmp_path: Path) -> None:
    def process(load: dict) -> LoadProcess:
        spec = LoadSpec.model_validate(load)
        return LoadProcess(run_dir=tmp_path, spec=spec, target_url="http://127.0.0.1:8000", duration_s=5, seed=1,
                           ledger=ProcessLedger("t"))

    single = process({"users": 2})
    assert "--master" not in single.command() and single.command()[-1] == "ClosedUser"
    multi = process({"model": "open", "rate": 5, "workers": 3})
    master, worker = multi.command("master"), multi.command("worker")
    assert master[master.index("--expect-workers") + 1] == "3"
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    assert worker[worker.index("--master-host") + 1] == "127.0.0.1" and worker[-1] == "OpenUser"


def test_dropped_sends_make_the_open_model_load_invalid() -> None:
    spec = LoadSpec.model_validate({"model": "open", "rate": 5, "workers": 2, "max_dropped": 1})
    worker = {"role": "worker", "scheduled": 50, "dropped": 1, "dropped_by_reason": {"late": 1}, "max_lag_ms": 300}
    assert judge_reports(spec, [worker, {**worker, "dropped": 0}]) is None
    reason = judge_reports(spec, [worker, worker])
    assert reason is not None and "dropped 2 of 100 scheduled sends" in reason
    assert "only 1 of 2 load processes" in judge_reports(spec, [worker, {"role": "master"}])
    assert judge_reports(LoadSpec(), []) is None  # the closed model has no schedule to miss
