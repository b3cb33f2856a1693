"""The live view: incremental tailing, the numbers it shows, and both output modes."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.measure.timeline import (
    EVENTS_FILE,
    REQUESTS_FILE,
    TIMELINE_DIR,
    TimelineWriter,
    read_stream,
)
from harness.model.context import RunContext
from harness.model.scenario import ClusterSpec, DeploymentSpec, NodeSpec, Scenario
from harness.procs.ledger import ProcessLedger
from harness.run.live import (
    LiveState,
    LiveView,
    StreamTail,
    TimelineTail,
    render_line,
    render_panel,
)
from tests.synthetic_run import BURST, CHAOS_AT, LOAD, NODE_DEAD_AT, T0, make_run


def test_stream_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    tail = StreamTail(path)
    assert tail.read_new() == []  # the stream does not exist yet
    path.write_bytes(b'{"t": 1, "kind": "a"}\n{"t": 2, "ki')
    assert [r["t"] for r in tail.read_new()] == [1]
    with open(path, "ab") as handle:
        handle.write(b'nd": "b"}\nnot json\n{"kind": "no time"}\n{"t": 3, "kind": "c"}\n')
    assert [r["kind"] for r in tail.read_new()] == ["b", "c"]
    assert tail.read_new() == []


def test_timeline_tail_follows_streams_that_appear_later(tmp_path: Path) -> None:
    folder = tmp_path / TIMELINE_DIR
    tail = TimelineTail(folder)
    assert tail.read_new() == []
    events = TimelineWriter(folder / EVENTS_FILE)
    events.emit("sample", nodes_alive=3)
    assert [r["kind"] for r in tail.read_new()] == ["sample"]
    chaos = TimelineWriter(folder / "chaos.jsonl")
    chaos.emit("chaos", fault="kill_raylet", event="injected")
    events.emit("sample", nodes_alive=2)
    assert sorted(r["kind"] for r in tail.read_new()) == ["chaos", "sample"]
    events.close()
    chaos.close()


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    run_dir = make_run(tmp_path_factory.mktemp("results"))
    out = []
    for name in (EVENTS_FILE, REQUESTS_FILE):
        out.extend(read_stream(run_dir / TIMELINE_DIR / name))
    return sorted(out, key=lambda r: r["t"])


def _state_at(records: list[dict], offset: float) -> LiveState:
    """The state after ingesting what the streams held `offset` seconds into the run."""
    state = LiveState(planned_s=LOAD[1] - LOAD[0], config_targets={"Router": 1})
    state.ingest([r for r in records if r["t"] <= T0 + offset])
    return state


def test_rates_follow_the_load(records: list[dict]) -> None:
    base = _state_at(records, 16.0).snapshot(T0 + 16.0)
    burst = _state_at(records, BURST[1] - 0.5).snapshot(T0 + BURST[1] - 0.5)
    # The synthetic load sends ~20 req/s, ~40 req/s during the burst (5% of it shed).
    assert 12 < base.offered_rps < 28 and base.ok_rps == pytest.approx(base.offered_rps)
    assert 30 < burst.offered_rps < 52
    assert burst.ok_rps < burst.sent_rps < burst.offered_rps  # shed, and dropped sends
    assert burst.shed > 0 and base.errors == 0 and burst.dropped > 0 and base.dropped == 0
    assert base.p50_ms is not None and base.p50_ms < base.p99_ms < 40
    assert base.phase == "load"
    assert burst.phase == "load > burst-1"
    assert base.progress == pytest.approx((16.0 - LOAD[0]) / (LOAD[1] - LOAD[0]))


def test_state_shows_replicas_nodes_and_the_last_chaos_event(records: list[dict]) -> None:
    before = _state_at(records, CHAOS_AT - 1).snapshot(T0 + CHAOS_AT - 1)
    assert before.last_chaos is None and before.nodes_alive == 3
    assert before.deployments == {"Echo": (2, 2), "Router": (1, 1)}  # Router's target: the config's
    after = _state_at(records, NODE_DEAD_AT + 2).snapshot(T0 + NODE_DEAD_AT + 2)
    assert after.last_chaos == "kill_raylet noticed a40-node"
    assert after.last_chaos_age_s == pytest.approx(2.0)
    assert after.nodes_alive == 2 and after.nodes_dead == 1
    assert after.deployments["Echo"] == (1, 2)
    assert after.p99_ms > before.p99_ms  # the slowdown after the kill shows


def test_phase_before_and_after_load_and_bounded_memory(records: list[dict]) -> None:
    early = _state_at(records, 5.0).snapshot(T0 + 5.0)
    assert early.phase == "app_deploy"
    assert early.offered_rps is None and early.progress is None
    done = _state_at(records, 100.0)
    snap = done.snapshot(T0 + 43.0)
    assert snap.phase == "finishing"
    assert snap.requests == sum(1 for r in records if r["kind"] == "request")
    assert snap.dropped == sum(1 for r in records if r["kind"] == "dropped")
    assert len(done._recent) < 400  # only the last seconds of requests are kept


def test_renderers_show_every_figure(records: list[dict]) -> None:
    snap = _state_at(records, NODE_DEAD_AT + 2).snapshot(T0 + NODE_DEAD_AT + 2)
    line = render_line(snap)
    for part in ("load", "offered", "sent", "p50", "p99", "errors", "shed", "Echo 1/2", "nodes 2",
                 "kill_raylet noticed a40-node"):
        assert part in line, f"{part!r} missing from {line!r}"
    console = Console(file=io.StringIO(), width=110, record=True, color_system=None)
    console.print(render_panel(snap, "smoke"))
    text = console.export_text()
    for part in ("phase", "progress", "offered", "p99", "Echo 1/2", "2 alive, 1 dead", "kill_raylet"):
        assert part in text, f"{part!r} missing from the panel:\n{text}"


def _context(tmp_path: Path, console: Console) -> RunContext:
    scenario = Scenario(
        name="live", duration_s=4, cluster=ClusterSpec(nodes=[NodeSpec(name="head", num_cpus=1)]),
    )
    scenario.app.deployments.append(DeploymentSpec(name="Echo", num_replicas=2))
    run_dir = tmp_path / "run"
    return RunContext(
        scenario=scenario, scenario_file="live.yaml", run_id="run-1", run_dir=run_dir,
        timeline=TimelineWriter(run_dir / TIMELINE_DIR / EVENTS_FILE),
        ledger=ProcessLedger("run-1", run_dir / "owned.json"), console=console,
    )


def _await(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.parametrize("terminal", [False, True])
def test_live_view_component_draws_from_its_thread(tmp_path: Path, terminal: bool) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120, color_system=None if not terminal else "standard")
    ctx = _context(tmp_path, console)
    view = LiveView(refresh_hz=20, plain_every_s=0.2)
    requests = TimelineWriter(ctx.run_dir / TIMELINE_DIR / REQUESTS_FILE)
    view.start(ctx)
    now = time.time()
    requests.phase("load", "start", t=now - 3)
    for i in range(60):
        requests.emit("request", t=now - 3 + i * 0.05, latency_ms=5.0, outcome="ok", final=True)
    ctx.timeline.emit("sample", nodes_alive=1, deployments={"Echo": {"running": 2}})
    _await(lambda: "requests 60" in out.getvalue() or "60   errors" in out.getvalue())
    view.stop(ctx)
    requests.close()
    ctx.timeline.close()
    text = out.getvalue()
    assert "Echo 2/2" in text
    if terminal:
        assert "[live]" not in text and "progress" in text
    else:
        assert text.splitlines()[-1].startswith("[live] load")
    metrics = view.metrics()
    assert metrics["live_view_updates"] > 0
    assert 0 <= metrics["live_view_cpu_pct"] < 100
    assert not view._thread.is_alive()
