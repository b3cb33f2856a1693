"""A dead run's leftovers are cleaned by the next run; runs at once do not interfere.

One scenario serves every test here (to keep the integration budget): a run is
killed with its reaper (as when the OOM killer takes both), an unrelated Ray
cluster runs beside, then two runs start at once: one must pass, one must fail
an SLO, and between them they clean the dead run's leftovers exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.procs.ledger import OwnedProcess
from harness.procs.run_registry import RunEntry
from tests.integration.conftest import UnrelatedCluster
from tests.integration.robust_support import (
    HEAD_ONLY,
    HarnessRun,
    alive,
    kill_leftovers,
    owned_by_run,
    wait_for,
)

pytestmark = pytest.mark.integration


@dataclass
class Scene:
    dead_entry: RunEntry
    leftovers: list[OwnedProcess]
    unrelated: UnrelatedCluster
    passing: HarnessRun
    failing: HarnessRun
    codes: tuple[int, int]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, unrelated_cluster: UnrelatedCluster):
    work = tmp_path_factory.mktemp("robust-concurrent")
    cleanup: list[OwnedProcess] = []
    try:
        # Head-only runs: leftovers, cleaning and isolation are the same on one node, and two
        # runs at once on 2 cores start and serve faster without a second node each.
        dead = HarnessRun(work, "dead", HEAD_ONLY)
        wait_for(dead.load_started, 120, "load of the first run to start")
        entries = [p for p in dead.runs_dir.glob("*.json") if not p.name.endswith(".seen.json")]
        assert len(entries) == 1, entries
        entry = RunEntry.read(entries[0])
        assert entry is not None and entry.reaper_pid is not None
        owned = owned_by_run(dead)
        cleanup += owned
        os.kill(entry.reaper_pid, signal.SIGKILL)
        dead.kill(signal.SIGKILL)
        dead.wait(10)
        # The raylets and the GCS die with the driver (awaited, up to 10 s); what is left then stays.
        deadline = time.monotonic() + 10
        while any(e.name in ("gcs_server", "raylet") for e in alive(owned)) and time.monotonic() < deadline:
            time.sleep(0.1)
        leftovers = alive(owned)

        # 4 s of load (short.yaml has 8): ~19 req/s clear `requests >= 20` five times over.
        passing = HarnessRun(work, "passing", HEAD_ONLY, "duration_s=4")
        failing = HarnessRun(work, "failing", HEAD_ONLY, "duration_s=4", "slos.1.check=requests >= 1000000")
        codes = (passing.wait(180), failing.wait(180))
        cleanup += passing.recorded() + failing.recorded()
        yield Scene(entry, leftovers, unrelated_cluster, passing, failing, codes)
    finally:
        kill_leftovers(cleanup)


def test_dead_run_leaves_agents_without_its_reaper(scene: Scene) -> None:
    names = {p.name for p in scene.leftovers}
    assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} & names, names


def test_next_run_cleans_dead_runs_leftovers_once(scene: Scene) -> None:
    line = f"cleaned leftovers of dead run {scene.dead_entry.run_id}"
    outputs = [scene.passing.output(), scene.failing.output()]
    assert sum(line in out for out in outputs) == 1, [o[-2000:] for o in outputs]
    assert not alive(scene.leftovers), alive(scene.leftovers)
    assert scene.dead_entry.temp_root and not Path(scene.dead_entry.temp_root).exists()
    assert not [p for p in scene.passing.runs_dir.glob("*.json")], "every run forgot itself"


def test_unrelated_cluster_is_left_alone(scene: Scene) -> None:
    assert scene.unrelated.process.poll() is None
    assert len(scene.unrelated.alive_members()) == len(scene.unrelated.members)


def test_concurrent_runs_give_their_own_verdicts(scene: Scene) -> None:
    assert scene.codes == (0, 1), [scene.passing.output()[-2000:], scene.failing.output()[-2000:]]
    passed = {v["name"]: v["passed"] for v in scene.passing.summary()["verdicts"]}
    failed = {v["name"]: v["passed"] for v in scene.failing.summary()["verdicts"]}
    assert passed == {"requests succeed": True, "enough traffic": True}
    assert failed == {"requests succeed": True, "enough traffic": False}


def test_concurrent_runs_use_their_own_ports_and_dirs(scene: Scene) -> None:
    a, b = scene.passing.summary(), scene.failing.summary()
    ports_a = set(a["artifacts"]["ports"].values()) | {a["http_port"]}
    ports_b = set(b["artifacts"]["ports"].values()) | {b["http_port"]}
    assert len(ports_a) == len(a["artifacts"]["ports"]) + 1
    assert not ports_a & ports_b, ports_a & ports_b
    assert scene.passing.run_dir != scene.failing.run_dir
    assert a["metrics"]["requests"] > 0 and b["metrics"]["requests"] > 0
