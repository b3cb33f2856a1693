"""`load.placement: cluster` without a cluster: placement, targets, config errors, counts, the actor's stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.load.actor import LoadWorker
from harness.load.cluster_workers import ClusterWorkers, Target, _Worker, resolve_targets
from harness.load.process import judge_reports
from harness.measure.timeline import TimelineWriter, read_stream
from harness.model.errors import ConfigError
from harness.model.load_spec import LoadSpec
from harness.model.node_info import NodeInfo
from harness.model.worker_placement import PlacementError, plan_placement
from harness.procs.ledger import ProcessLedger
from harness.scenario.loader import scenario_from_dict

HEAD = NodeInfo(name="head", resources={"CPU": 0}, is_head=True, node_id="id-h")
W1 = NodeInfo(name="w1", resources={"CPU": 1, "loadgen": 1}, node_id="id-1")
W2 = NodeInfo(name="w2", resources={"CPU": 1}, node_id="id-2")
CLUSTER = {"nodes": [{"name": "head", "num_cpus": 0}, {"name": "w1", "num_cpus": 1, "resources": {"loadgen": 1}},
                     {"name": "w2", "num_cpus": 1}]}
BASE = {"name": "t", "duration_s": 10, "cluster": CLUSTER}


def test_one_worker_per_distinct_node_worker_nodes_first_head_last() -> None:
    assert [p.node.name for p in plan_placement([HEAD, W1, W2], 2, None)] == ["w1", "w2"]
    assert [(p.worker, p.node.name) for p in plan_placement([HEAD, W1, W2], 3, None)] == [
        (1, "w1"), (2, "w2"), (3, "head")]
    assert [p.node.name for p in plan_placement([HEAD, W1, W2], 1, "loadgen")] == ["w1"]


def test_fewer_nodes_than_workers_or_a_resource_nobody_has_is_a_placement_error() -> None:
    with pytest.raises(PlacementError) as info:
        plan_placement([HEAD, W1, W2], 4, None)
    assert info.value.key == "load.workers" and "at most 3" in str(info.value)
    with pytest.raises(PlacementError) as info:
        plan_placement([HEAD, W1, W2], 2, "loadgen")
    assert info.value.key == "load.workers" and "nodes offering 'loadgen'" in str(info.value)
    with pytest.raises(PlacementError) as info:
        plan_placement([HEAD, W1, W2], 1, "gpu_box")
    assert info.value.key == "load.node_resource" and "'gpu_box'" in str(info.value)


@pytest.mark.parametrize(("load", "expected"), [
    ({"placement": "cluster", "workers": 4}, "s.yaml: load.workers: expected at most 3 with load.placement: cluster"),
    ({"placement": "cluster", "node_resource": "gpu_box"},
     "s.yaml: load.node_resource: expected a resource some node offers, got 'gpu_box'"),
    ({"placement": "cluster", "workers": 2, "node_resource": "loadgen"}, "s.yaml: load.workers: expected at most 1"),
    ({"workers": 0}, "s.yaml: load.workers"),
    ({"on_worker_loss": "continue"}, "expected load.placement: cluster with load.on_worker_loss"),
    ({"placement": "cluster", "on_worker_loss": "retry"}, "load.on_worker_loss"),
    ({"placement": "cluster", "target": "any"}, "load.target"),
])
def test_bad_placements_get_one_line_naming_the_key(load: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        scenario_from_dict({**BASE, "load": load}, "s.yaml")
    assert len(info.value.lines) == 1
    assert expected in info.value.lines[0], info.value.lines


def test_a_placement_that_fits_validates_and_an_existing_cluster_is_checked_at_run_time() -> None:
    ok = scenario_from_dict({**BASE, "load": {"placement": "cluster", "workers": 3, "on_worker_loss": "continue"}},
                            "s.yaml")
    assert (ok.load.placement, ok.load.target, ok.load.on_worker_loss) == ("cluster", "node_proxy", "continue")
    remote = scenario_from_dict({**BASE, "cluster": {"address": "127.0.0.1:6379"},
                                 "load": {"placement": "cluster", "workers": 8}}, "s.yaml")
    assert remote.load.workers == 8


def test_each_worker_targets_its_own_nodes_proxy_or_says_why_not() -> None:
    placements = plan_placement([HEAD, W1, W2], 3, None)
    urls = {"w1": "http://127.0.0.1:9001", "w2": "http://127.0.0.1:9002"}
    head = "http://127.0.0.1:8000"
    own = resolve_targets(placements, "node_proxy", head, "head", urls, {"id-1", "id-2"}, False, "why")
    assert own == [Target(urls["w1"], "w1"), Target(urls["w2"], "w2"), Target(head, "head")]
    unhealthy = resolve_targets(placements, "node_proxy", head, "head", urls, {"id-1"}, False, "why")
    assert unhealthy[1].url == head and unhealthy[1].node == "head" and "no healthy Serve proxy on node w2" in (
        unhealthy[1].note or "")
    shared = resolve_targets(placements, "node_proxy", head, None, {}, set(), False, "nodes share a port")
    assert {t.url for t in shared} == {head} and shared[0].node is None
    assert shared[0].note == "nodes share a port: sending to the head's proxy"
    assert all(t.note is None and t.node == "head"
               for t in resolve_targets(placements, "head", head, "head", urls, {"id-1"}, False, "x"))
    rerouted = resolve_targets(placements, "node_proxy", head, "head", urls, {"id-1", "id-2"}, True, "x")
    assert rerouted[0].url == head and "fault proxy" in (rerouted[0].note or "")


def test_lost_workers_are_not_expected_to_report_under_continue() -> None:
    spec = LoadSpec.model_validate({"model": "open", "rate": 5, "workers": 2, "placement": "cluster"})
    worker = {"role": "worker", "worker": 1, "scheduled": 10, "dropped": 0}
    assert "only 1 of 2" in (judge_reports(spec, [worker]) or "")
    assert judge_reports(spec, [worker], lost=1) is None
    one = LoadSpec.model_validate({"model": "open", "rate": 5, "workers": 1, "placement": "cluster"})
    assert judge_reports(one, []) == "only 0 of 1 load processes reported what they sent"


def test_records_received_must_match_records_each_worker_wrote(tmp_path: Path) -> None:
    placements = plan_placement([HEAD, W1, W2], 2, None)
    targets = [Target("http://127.0.0.1:1", "w1"), Target("http://127.0.0.1:2", "w2")]
    pool = ClusterWorkers(placements=placements, targets=targets, timeline_dir=tmp_path,
                          events=TimelineWriter(tmp_path / "e.jsonl"), ledger=ProcessLedger("t"))
    assert pool.notes() == []
    noted = ClusterWorkers(placements=placements, targets=[targets[0], Target("http://h", "head", "no proxy")],
                           timeline_dir=tmp_path, events=TimelineWriter(tmp_path / "n.jsonl"), ledger=ProcessLedger("t"))
    assert noted.notes() == ["load worker 2 (node w2): no proxy"]  # before any actor starts
    pool.workers = [_Worker(placement=p, target=t, actor=None, stream=TimelineWriter(tmp_path / f"requests-w{p.worker}.jsonl"))
                    for p, t in zip(placements, targets, strict=True)]
    pool.workers[0].received, pool.workers[1].received = 11, 7
    assert pool.count_problems({1: {"records": 10}, 2: {"records": 6}}) == []
    problems = pool.count_problems({1: {"records": 10}, 2: {"records": 8}})
    assert problems == ["load worker 2 (node w2) wrote 9 records, the harness received 7"]
    assert "sent no report" in pool.count_problems({1: {"records": 10}})[0]
    pool.workers[1].lost = "its actor died"
    assert pool.count_problems({1: {"records": 10}}) == []  # lost: judged by on_worker_loss instead
    assert pool.counts()["2"]["lost"] == "its actor died"


def test_a_batch_of_records_lands_whole_in_the_worker_stream(tmp_path: Path) -> None:
    events = TimelineWriter(tmp_path / "events.jsonl")
    pool = ClusterWorkers(placements=[], targets=[], timeline_dir=tmp_path, events=events, ledger=ProcessLedger("t"))
    placement = plan_placement([HEAD, W1], 1, None)[0]
    worker = _Worker(placement=placement, target=Target("http://127.0.0.1:1", "w1"), actor=None, stream=TimelineWriter(tmp_path / "requests-w1.jsonl"))
    pool._append(worker, b'{"t":1,"kind":"request"}\n{"t":2,"kind":"request"}\n')
    assert [r["t"] for r in read_stream(tmp_path / "requests-w1.jsonl")] == [1, 2]
    worker.stream.close()
    pool._append(worker, b'{"t":3,"kind":"request"}\n')  # closed: dropped, never raised
    assert events.write_error is None


def test_the_actor_hands_over_complete_lines_only_and_says_when_all_is_read(tmp_path: Path) -> None:
    worker = LoadWorker(index=1, config={"seed": 1}, locustfile="unused.py", project_root=str(tmp_path))
    try:
        assert worker.pull()["lines"] == 0
        with open(worker.stream, "ab") as handle:
            handle.write(b'{"a":1}\n{"b":2}\n{"c":')
        first = worker.pull()
        assert (first["data"], first["lines"], first["done"]) == (b'{"a":1}\n{"b":2}\n', 2, False)
        worker.popen = subprocess.Popen([sys.executable, "-c", "pass"])
        worker.popen.wait()
        with open(worker.stream, "ab") as handle:
            handle.write(b'3}\n')
        last = worker.pull()
        assert (last["data"], last["lines"], last["exit"], last["done"]) == (b'{"c":3}\n', 1, 0, True)
        small = LoadWorker(index=2, config={}, locustfile="unused.py", project_root=str(tmp_path))
        small.stream.write_bytes(b"x" * 10 + b"\n" + b"y" * 10 + b"\n")
        small.popen = worker.popen
        assert small.pull(max_bytes=15)["done"] is False  # more than one batch: not done yet
        assert small.pull(max_bytes=15)["done"] is True
        small.cleanup()
    finally:
        worker.cleanup()
    assert not worker.dir.exists()


def test_the_locust_worker_dies_with_its_actor_process(tmp_path: Path) -> None:
    """A SIGKILLed actor (its node died, the driver died) takes its child along: PR_SET_PDEATHSIG."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "from harness.load.actor import _die_with_parent\n"
        "p = subprocess.Popen(['sleep', '60'], start_new_session=True, preexec_fn=_die_with_parent)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 10
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = psutil.Process(int(pid_file.read_text()))
        assert child.is_running()
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        child.wait(5)  # raises TimeoutExpired if it outlived its parent
    finally:
        if parent.poll() is None:
            parent.kill()
