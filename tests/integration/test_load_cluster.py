"""`load.placement: cluster` on a real 3-node local cluster: two Locust workers as Ray actors on
two worker nodes, every record streamed back, and one worker's node killed mid-run (two runs:
the run goes on without it, or fails)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.measure.timeline import read_stream
from harness.procs.ledger import read_owned
from tests.integration.conftest import surviving_run_processes, wait_for
from tests.integration.robust_support import PROJECT_ROOT, HarnessRun

pytestmark = pytest.mark.integration
SCENARIO = PROJECT_ROOT / "tests" / "integration" / "scenarios" / "load_cluster.yaml"
KILL_W2 = "chaos={faults: [{fault: terminate_node, schedule: {at_s: [3]}, targets: {nodes: [w2]}}]}"


def events(run_dir: Path, kind: str) -> list[dict]:
    return [r for r in read_stream(run_dir / "timeline" / "events.jsonl") if r.get("kind") == kind]


def stream(run_dir: Path, worker: int) -> list[dict]:
    return list(read_stream(run_dir / "timeline" / f"requests-w{worker}.jsonl"))


def streamed_before_the_end(run: HarnessRun, workers: tuple[int, ...] = (1, 2)) -> bool:
    """Request records of these workers on the timeline while the load still runs (no report yet)."""
    if not run.has_run_dir():
        return False
    records = [stream(run.run_dir, k) for k in workers]
    return all(any(r["kind"] == "request" for r in rs) and not any(r["kind"] == "load_report" for r in rs)
               for rs in records)


def test_two_workers_on_two_nodes_stream_every_record_and_a_lost_one_is_let_go(tmp_path: Path) -> None:
    """One run for what two proved apart (one cluster start less): two workers placed on two
    nodes stream their records while the load runs, w2's node is killed at 3 s and, under
    `on_worker_loss: continue`, the run goes on with w1, whose every record (and report)
    reaches the timeline once. The `fail` run below ends where this one goes on."""
    run = HarnessRun(tmp_path, "continue", "load.on_worker_loss=continue", KILL_W2, scenario=SCENARIO)
    try:
        wait_for(lambda: streamed_before_the_end(run, (1,)) or run.proc.poll() is not None, 120, "records mid-run")
        assert streamed_before_the_end(run, (1,)), run.output()[-2000:]
        assert run.wait(150) == 0, run.output()[-2000:]
    finally:
        run.kill()
    run_dir, summary = run.run_dir, run.summary()
    placed = {e["worker"]: e for e in events(run_dir, "load_worker") if e["event"] == "placed"}
    assert {k: (e["worker_node"], e["node"]) for k, e in placed.items()} == {1: ("w1", "w1"), 2: ("w2", "w2")}
    lost = [e for e in events(run_dir, "load_worker") if e["event"] == "lost"]
    assert [(e["worker"], e["worker_node"]) for e in lost] == [(2, "w2")], run.output()[-2000:]
    assert any("load worker 2 on node w2 lost" in n and "went on" in n for n in summary["notes"])
    received = summary["artifacts"]["load_workers"]
    # w1: every record it wrote (and its report) reached the timeline, none twice; no load_invalid.
    w1 = stream(run_dir, 1)
    report = next(r for r in w1 if r["kind"] == "load_report")
    requests = [r for r in w1 if r["kind"] == "request"]
    assert report["records"] + 1 == len(w1) == received["1"]["received"]
    assert len({r["id"] for r in requests}) == len(requests) == report["requests"] > 40
    # w2 sent from its own node until it died: what arrived came from there (streamed while it
    # lived: its node is gone after 3 s), none twice, and it never reported.
    w2_all = stream(run_dir, 2)
    w2 = [r for r in w2_all if r["kind"] == "request"]
    assert len(w2_all) == received["2"]["received"] and not any(r["kind"] == "load_report" for r in w2_all)
    assert w2 and len({r["id"] for r in w2}) == len(w2)
    for k, records in ((1, requests), (2, w2)):
        assert {(r["worker"], r["worker_node"], r["node"]) for r in records} == {(k, f"w{k}", f"w{k}")}
    # The open schedule is split, not duplicated: worker k sends ids k-1, k-1+2, ... (w2's cut short).
    assert sorted(r["id"] for r in requests) == list(range(0, 2 * len(requests), 2))
    # (w2's odd ids: a request in flight when its node died never reports, so no range is asserted.)
    assert all(r["id"] % 2 == 1 for r in w2)
    # Each Locust worker (a child of its actor) was recorded, and nothing of the run is left.
    owned = {p.pid for p in read_owned(run_dir / "owned_processes.json")}
    assert {e["pid"] for e in placed.values()} <= owned
    assert surviving_run_processes(run_dir) == []


def test_a_worker_node_killed_mid_run_under_fail_is_load_invalid(tmp_path: Path) -> None:
    run = HarnessRun(tmp_path, "fail", "load.on_worker_loss=fail", KILL_W2, scenario=SCENARIO)
    try:
        code = run.wait(150)
    finally:
        run.kill()
    run_dir, summary = run.run_dir, run.summary()
    lost = [e for e in events(run_dir, "load_worker") if e["event"] == "lost"]
    assert [(e["worker"], e["worker_node"]) for e in lost] == [(2, "w2")], run.output()[-2000:]
    assert code == 3 and summary["error"]["kind"] == "load_invalid", run.output()[-2000:]
    assert "load worker 2 on node w2 lost" in summary["error"]["message"]
    assert surviving_run_processes(run_dir) == []


# Not no_cluster: beside the parallel unit pass (2 cores busy) the master once missed its
# grace period in CI; it runs with the serial cluster tests instead (14 s).
def test_a_master_stopped_mid_run_closes_its_windows_and_reports(tmp_path: Path) -> None:
    """No Ray: the early-stop path (a lost worker under `fail`, an interrupt) stops the master with
    SIGINT; it quits at once, ends the `load` window, writes its report and tells its workers."""
    from bench.load_server import running_server
    from harness.load.process import LoadProcess
    from harness.model.load_spec import LoadSpec
    from harness.procs.ledger import ProcessLedger

    spec = LoadSpec.model_validate({"model": "open", "rate": 20, "workers": 2})
    ledger = ProcessLedger("stop")
    with running_server() as (url, _server):
        load = LoadProcess(run_dir=tmp_path, spec=spec, target_url=url, duration_s=30, seed=3, ledger=ledger)
        try:
            load.start()
            load.wait_started(30)
            wait_for(lambda: any(r["kind"] == "request" for r in stream(tmp_path, 1)), 15, "worker 1 sending")
            code = load.stop()
        finally:
            ledger.kill_survivors()
    assert code == 0  # quit by itself, not killed after the grace period
    master = list(read_stream(tmp_path / "timeline" / "requests.jsonl"))
    assert [(r["name"], r["edge"]) for r in master if r["kind"] == "phase"] == [("load", "start"), ("load", "end")]
    assert [r["role"] for r in master if r["kind"] == "load_report"] == ["master"]
    assert all(any(r["kind"] == "load_report" for r in stream(tmp_path, k)) for k in (1, 2))
