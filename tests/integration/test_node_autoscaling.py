"""Node autoscaling on real local clusters: Ray's autoscaler over the harness's fake provider.

Three harness runs as subprocesses (about 2 minutes together; the first is `make slow`'s):
- the shipped node_autoscaling scenario with a cloud_api_lag fault during the scale-up:
  a second A100 node comes and goes, judged by node SLOs; nothing is left after a normal end;
  a terminate_instance shot against moto on loopback reads the fake node's instance id on
  the node and reports `not_injected` (moto never lists that id);
- the same scenario, the harness SIGKILLed while a fake node runs: the reaper leaves nothing
  (Ray's agents, Locust, the fake nodes) and forgets the run;
- a runaway autoscaler past the node cap: host_guard, exit 3, the verdict says how many it wanted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.local import free_port
from harness.procs.ledger import OwnedProcess
from tests.integration.robust_support import (
    PROJECT_ROOT,
    HarnessRun,
    alive,
    kill_leftovers,
    owned_by_run,
    wait_for,
)

pytestmark = pytest.mark.integration

SHIPPED = PROJECT_ROOT / "configs" / "scenarios" / "node_autoscaling.yaml"
RUNAWAY = PROJECT_ROOT / "tests" / "integration" / "scenarios" / "node_runaway.yaml"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-west-2"}
LAG = "{fault: cloud_api_lag, args: {lag_s: 4, duration_s: 14}, schedule: {at_s: [2]}}"


class Watcher:
    """Every process of a run seen while it ran (ledger record plus descendants), sampled in the background."""

    def __init__(self, run: HarnessRun):
        self.run = run
        self.seen: dict[tuple[int, float], OwnedProcess] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                found = owned_by_run(self.run) if self.run.has_run_dir() else self.run.descendants()
            except (AssertionError, OSError):
                found = self.run.descendants()
            for entry in found:
                self.seen[(entry.pid, entry.create_time)] = entry
            self._stop.wait(0.3)

    def stop(self) -> list[OwnedProcess]:
        self._stop.set()
        self._thread.join(timeout=5)
        return list(self.seen.values())


def named(entries: list[OwnedProcess], name: str) -> int:
    return sum(1 for e in entries if e.name == name)


def raylets(entries: list[OwnedProcess]) -> int:
    return named(entries, "raylet")


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """EC2 on loopback (moto): a cloud API with no instance of the fake nodes' ids."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


# `make slow`, not `make test` (about a minute): the weekly suite's node_autoscaling_faults entry
# runs cloud_api_lag on the same autoscaling cluster, judged by the same node SLOs.
@pytest.mark.slow
def test_scale_up_and_down_with_cloud_api_lag_judged_by_node_slos(tmp_path: Path, moto_endpoint: str) -> None:
    # terminate_instance reads the fake node's RAY_CLOUD_INSTANCE_ID on the node; moto never lists it.
    terminate = ("{fault: terminate_instance, args: {endpoint_url: '" + moto_endpoint
                 + "', appear_timeout_s: 2, max_wait_s: 0.5}, schedule: {at_s: [12]}, optional: true}")
    run = HarnessRun(tmp_path, "nodes", f"chaos.faults=[{LAG}, {terminate}]", scenario=SHIPPED, env=FAKE_AWS)
    watcher = Watcher(run)
    seen: list[OwnedProcess] = []
    try:
        code = run.wait(240)
        seen = watcher.stop()
        summary = run.summary()
        verdicts = {v["name"]: v for v in summary["verdicts"]}
        # The autoscaler still converged: the second node came in time and went again.
        for name in ("a second A100 node in time", "A100 nodes scale back down", "no A40 node for nobody",
                     "autoscaler logged no exception", "served"):
            assert verdicts[name]["passed"], verdicts[name]["message"]
        up = verdicts["a second A100 node in time"]
        assert up["inputs"]["node_type"] == "A100" and max(v for _, v in up["inputs"]["alive"]) >= 2
        # The DescribeInstances race: a launched node Ray's autoscaler does not see yet gets
        # launched again, past max_workers. Only max_nodes may say so.
        cap = verdicts["never more than two A100 nodes"]
        assert cap["measured"] >= 2 and ("A100" in cap["message"] or cap["passed"])
        failed = {name for name, v in verdicts.items() if not v["passed"]}
        assert failed <= {"never more than two A100 nodes"}, failed
        assert code == (1 if failed else 0), run.output()[-3000:]
        chaos = [r for r in _events(run) if r.get("kind") == "chaos"]
        assert any(r.get("fault") == "cloud_api_lag" and r.get("event") == "injected" for r in chaos), chaos
        missing = [r for r in chaos if r.get("fault") == "terminate_instance" and r.get("event") == "not_injected"]
        assert missing and "never appeared in DescribeInstances" in missing[0]["detail"], chaos
        assert "instance fffff" in missing[0]["detail"]  # the id came from the node itself
        planned = verdicts["faults injected as planned"]  # optional: the miss is listed, not counted
        assert planned["passed"] and "fault-2 terminate_instance" in planned["inputs"]["optional_missed"][0]
        # The fake nodes' raylets (started by the autoscaler's monitor) were the run's, and are gone.
        assert raylets(seen) >= 2, sorted({e.name for e in seen})
        wait_for(lambda: not alive(seen), 10, f"every process of the run to exit: {alive(seen)}")
    finally:
        kill_leftovers(watcher.stop() or seen)


@pytest.mark.no_timing  # what a SIGKILL leaves: nothing, whenever the fake node comes
def test_sigkill_with_fake_nodes_running_leaves_nothing(tmp_path: Path) -> None:
    """The harness SIGKILLed mid-load: its reaper kills every process of the run and forgets it.

    Ray's node agents outlive a SIGKILLed driver on their own, the Locust process runs
    beside the cluster, and the autoscaler's monitor started a fake node: all must go.
    (Also what tests/integration/test_robust_kill.py proved on a fixed cluster: merged here.)
    """
    run = HarnessRun(tmp_path, "killed-nodes", scenario=SHIPPED)
    watcher = Watcher(run)
    seen: list[OwnedProcess] = []
    try:
        wait_for(run.load_started, 180, "load to start")
        # 90 s: `make test` runs this at the lowest CPU priority beside the timing tests.
        wait_for(lambda: raylets(list(watcher.seen.values())) >= 2, 90, "a fake node's raylet")
        # The fake node's agents too (the head's and the node's: two of each), so that all are awaited below.
        wait_for(lambda: named(list(watcher.seen.values()), "ray::DashboardAgent") >= 2, 30, "the fake node's agents")
        owned = owned_by_run(run)
        assert any("locust" in " ".join(p.live_process().cmdline()) for p in alive(owned))
        run.kill(signal.SIGKILL)
        run.wait(10)
        seen = list({(e.pid, e.create_time): e for e in watcher.stop() + owned}.values())
        names = {e.name for e in seen}
        assert {"raylet", "gcs_server", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names
        wait_for(lambda: not alive(seen), 15, f"every process of the run to exit: {alive(seen)}")
        log = (run.run_dir / "reaper.log").read_text()
        assert "harness pid" in log and "killed" in log
        assert not list(run.runs_dir.glob("*.json")), "the reaper forgets the run it reaped"
    finally:
        kill_leftovers(watcher.stop() or seen)


def test_runaway_autoscaler_is_stopped_by_the_host_guard(tmp_path: Path) -> None:
    run = HarnessRun(tmp_path, "runaway", scenario=RUNAWAY)
    watcher = Watcher(run)
    seen: list[OwnedProcess] = []
    try:
        code = run.wait(180)
        seen = watcher.stop()
        summary = run.summary()
        assert code == 3, run.output()[-3000:]
        error = summary["error"]
        assert error["kind"] == "host_guard"
        assert "node runaway" in error["message"] and "node cap of this machine is 2" in error["message"]
        wanted = int(error["message"].split("wanted ")[1].split()[0])
        assert wanted > 2
        assert raylets(seen) <= 1 + 2  # the head and at most the cap
        # The verdicts are still computed: the refusals the monitor logged are quoted.
        logged = next(v for v in summary["verdicts"] if v["name"] == "autoscaler logged no exception")
        assert not logged["passed"] and "NodeCapReached: node cap 2 reached" in logged["message"], logged
        wait_for(lambda: not alive(seen), 10, f"every process of the run to exit: {alive(seen)}")
    finally:
        kill_leftovers(watcher.stop() or seen)


def _events(run: HarnessRun) -> list[dict]:
    import json

    path = run.run_dir / "timeline" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
