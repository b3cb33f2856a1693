"""Memory SLOs (issue 23): the growth estimator on seeded synthetic series, peak memory,
subjects and bounds refused before the run, process roles and the warm-up window."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from harness.measure import memory_series, windows
from harness.measure.records import Memory
from harness.measure.timeline import Window
from harness.model.errors import ConfigError
from harness.model.scenario import SLOSpec
from harness.run.memory_sampler import MemorySampler, replica_pids, role_of
from harness.scenario.loader import scenario_from_dict
from harness.slo.core import evaluate, validate_checks
from tests.unit.slo_timelines import T0, phase, timeline

INTERVAL_S = 0.5


def sawtooth(seed: int, seconds: float, base_mb: float, growth: float, swing_mb: float = 30.0,
             period_s: float = 7.0, noise_mb: float = 2.0) -> list[tuple[float, float]]:
    """A garbage-collected process: allocations climb by `swing_mb` over each (jittered) period
    and are freed at once, with noise; the floor rises by `growth` of base_mb over `seconds`."""
    rng = random.Random(seed)
    points, phase_s, period = [], 0.0, period_s
    for k in range(int(seconds / INTERVAL_S) + 1):
        t = k * INTERVAL_S
        phase_s += INTERVAL_S
        if phase_s >= period:
            phase_s, period = 0.0, period_s * rng.uniform(0.6, 1.4)
        floor = base_mb * (1 + growth * t / seconds)
        points.append((t, floor + swing_mb * phase_s / period + rng.gauss(0, noise_mb)))
    return points


def memory_run(points: list[tuple[float, float]], n: int = 2, load: tuple[float, float] = (0, 600)) -> Any:
    """A run whose Echo replicas (n of them) each hold `points` MB, and raylet 30 MB."""
    records = [Memory.new(t=T0 + t, roles={"replica": {"mb": v * n, "n": n, "max_mb": v + 1},
                                           "raylet": {"mb": 30.0, "n": 1, "max_mb": 30.0}},
                          deployments={"Echo": {"mb": v * n, "n": n, "max_mb": v + 1}},
                          object_store={"head": 1.0, "worker": 2.0}) for t, v in points]
    end = max(t for t, _ in points)
    return timeline(phase("run", -5, end + 1), phase("load", *load), records)


def judge(check: str, tl: Any, window: str | None = None) -> Any:
    return evaluate(SLOSpec(check=check, window=window), tl, sample_interval_s=INTERVAL_S)


@pytest.mark.parametrize("seed", range(20))
def test_sawtooth_without_growth_passes(seed: int) -> None:
    points = sawtooth(seed, 600, base_mb=150, growth=0.0)
    verdict = judge("memory_growth(Echo) < 10%", memory_run(points))
    assert verdict.passed, verdict.message
    assert abs(verdict.measured) < 0.03  # the sawtooth alone swings 20% of the level


@pytest.mark.parametrize("seed", range(20))
def test_steady_growth_under_a_sawtooth_fails(seed: int) -> None:
    points = sawtooth(seed, 600, base_mb=150, growth=0.2)
    verdict = judge("memory_growth(Echo) < 10%", memory_run(points))
    assert not verdict.passed
    assert verdict.measured == pytest.approx(0.2, abs=0.04)  # the floor's 20%, not the peaks'
    assert "Echo's average process grew from" in verdict.why


def test_a_replaced_replica_does_not_tilt_the_trend() -> None:
    """A replica replaced late in the window: its fresh successor pulls the average down for a
    few buckets. A least-squares line through the same minima tilts; the median of slopes not."""
    points = [(t, 100.0 if 60 <= t < 70 else 150.0) for t in (k * INTERVAL_S for k in range(181))]
    trend = memory_series.growth(points, Window("w", 0, 90))
    assert trend is not None and abs(trend.growth) < 0.01
    minima = trend.minima
    mean_t = sum(t for t, _ in minima) / len(minima)
    mean_v = sum(v for _, v in minima) / len(minima)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in minima) / sum((t - mean_t) ** 2 for t, _ in minima)
    assert abs(slope * 90 / 150) > 0.05  # least squares would see a 5%+ trend where there is none


def test_a_sawtooth_period_up_to_a_bucket_is_absorbed() -> None:
    """Buckets are window / 20 long (here 30 s): a collector's cycle up to that long leaves
    the floor flat, wherever the window cuts its last cycle."""
    for period in (3.0, 12.0, 29.0):
        points = [(t, 150 + 40 * ((t % period) / period)) for t in (k * INTERVAL_S for k in range(1201))]
        trend = memory_series.growth(points, Window("w", 0, 600))
        assert trend is not None and abs(trend.growth) < 0.02, (period, trend.growth)


def test_growth_is_judged_after_the_warm_up_by_default() -> None:
    """A process that fills its caches in its first 10 s, then stays flat (a third of a short
    load: too much for the median of slopes to ignore)."""
    points = [(t, 200.0 if t >= 10 else 100 + 10 * t) for t in (k * INTERVAL_S for k in range(61))]
    tl = memory_run(points, load=(0, 30))
    assert judge("memory_growth(Echo) < 10%", tl).passed
    assert judge("memory_growth(Echo) < 10%", tl).window == "after 10s of load"
    assert not judge("memory_growth(Echo) < 10%", tl, window="load").passed


def test_too_few_samples_is_no_data_with_reason() -> None:
    tl = memory_run([(t, 100.0) for t in (0, 0.5, 1, 1.5, 2)], load=(0, 2))
    verdict = judge("memory_growth(Echo) < 10%", tl, window="load")
    assert verdict.no_data and not verdict.passed and "a trend needs 8 or more" in verdict.message


def test_growth_of_a_role_and_of_the_object_store() -> None:
    tl = memory_run(sawtooth(1, 120, 100, 0.0), load=(0, 120))
    assert judge("memory_growth(raylet) < 1%", tl).measured == pytest.approx(0.0)
    assert judge("memory_growth(object_store) < 1%", tl).measured == pytest.approx(0.0)


def test_peak_memory_per_process_total_and_all() -> None:
    points = [(t, 100.0 + t) for t in (k * INTERVAL_S for k in range(41))]  # 100 -> 120 MB
    tl = memory_run(points, load=(0, 20))
    one = judge("peak_memory(Echo) < 500MB", tl)
    assert one.passed and one.measured == pytest.approx(121.0) and one.window == "run"
    assert judge("peak_memory(Echo, total) < 0.2GB", tl).measured == pytest.approx(240.0)
    assert judge("peak_memory(replica) < 0.1GB", tl).passed is False
    assert judge("peak_memory < 300MB", tl).measured == pytest.approx(270.0)  # every process: 240 + 30
    assert judge("peak_memory(object_store) < 1MB", tl).measured == pytest.approx(2.0)  # the fullest node
    assert judge("peak_memory(object_store, total) < 1GiB", tl).measured == pytest.approx(3.0)
    failed = judge("peak_memory(Echo) < 110MiB", tl)  # 110 MiB = 115.3 MB
    assert not failed.passed and "Echo (the largest single process) peaked at 121.0MB" in failed.message


def test_no_memory_samples_says_why() -> None:
    tl = timeline(phase("run", 0, 30), phase("load", 0, 30))
    verdict = judge("peak_memory(Echo) < 500MB", tl)
    assert verdict.no_data and "no memory samples in this run" in verdict.message
    other = memory_run([(t, 100.0) for t in range(30)], load=(0, 30))
    verdict = judge("peak_memory(Other) < 500MB", other)
    assert verdict.no_data and "no memory samples of 'Other' (sampled: raylet, replica, Echo" in verdict.message


def scenario_problems(*checks: str, duration_s: int = 60, **slo: Any) -> list[str]:
    data: dict[str, Any] = {"name": "m", "duration_s": duration_s,
                            "cluster": {"nodes": [{"name": "head", "num_cpus": 2}]},
                            "load": {"users": 2}, "slos": [{"check": c, **slo} for c in checks]}
    try:
        scenario_from_dict(data, "s.yaml")
    except ConfigError as exc:
        return exc.lines
    return []


def test_subjects_are_deployments_or_roles_with_a_close_match() -> None:
    assert scenario_problems("memory_growth(Echo) < 10%", "peak_memory(raylet) < 500MB",
                             "peak_memory(object_store, total) < 1GB", "peak_memory < 4GB") == []
    found = scenario_problems("memory_growth(Ecoh) < 10%", "peak_memory(raylets) < 500MB")
    assert len(found) == 2
    assert "slos.0.check: expected a deployment of app 'app' or a role (Echo, driver, gcs" in found[0]
    assert found[0].endswith("got 'Ecoh': did you mean 'Echo'?")
    assert found[1].endswith("got 'raylets': did you mean 'raylet'?")


@pytest.mark.parametrize("check, words", [
    ("memory_growth(Echo) < 10", "memory_growth(Echo) is a growth ('%'): write 10%, not 10"),
    ("peak_memory(Echo) < 500", "write 500MB, not 500"),
    ("peak_memory(Echo) < 500ms", "write 500MB, not 500ms"),
    ("p(99) < 5MB", "p(99) is a latency"),
    ("memory_growth < 10%", "expected memory_growth(Deployment or role), got memory_growth()"),
    ("memory_growth(Echo, raylet) < 10%", "expected memory_growth(Deployment or role)"),
    ("peak_memory(Echo, totl) < 1GB", "got 'totl' (did you mean 'total'?)"),
    ("peak_memory(Echo) < -1MB", "can never pass"),
    ("memory_growth(Echo) < -150%", "can never pass"),
])
def test_bounds_and_arguments_refused(check: str, words: str) -> None:
    found = validate_checks([SLOSpec(check=check)])
    assert len(found) == 1 and words in found[0][1], found


def test_default_warm_up_window_must_fit_the_load() -> None:
    found = scenario_problems("memory_growth(Echo) < 10%", duration_s=8)
    assert len(found) == 1 and "'after 10s of load (the default window of memory_growth)'" in found[0]
    assert "inverted" in found[0]
    assert scenario_problems("memory_growth(Echo) < 10%", duration_s=8, window="after 2s of load") == []


def test_after_warm_up_window_form() -> None:
    spans = {"run": Window("run", 0, 100), "load": Window("load", 10, 70)}
    window = windows.resolve("after 15s of load", spans)
    assert (window.start, window.end) == (25, 70)
    assert windows.resolve("after 1m of load", spans).start == 70  # clamped: holds no time
    assert windows.parse("after fault-1")[0] == "after"  # the other forms are unchanged
    assert windows.parse("30s after fault-1")[0] == "after_for"


@pytest.mark.parametrize("name, cmdline, role", [
    ("gcs_server", ["/x/ray/core/src/ray/gcs/gcs_server", "--log_dir=/t"], ("gcs", None)),
    ("raylet", ["/x/ray/core/src/ray/raylet/raylet", "--raylet_socket_name=/t"], ("raylet", None)),
    ("ray::ServeRepli", ["ray::ServeReplica:app:Echo", "", ""], ("replica", "Echo")),
    ("ray::ServeRepli", ["ray::ServeReplica:app:Echo.handle_request", ""], ("replica", "Echo")),
    ("ray::ServeContr", ["ray::ServeController", "", ""], ("serve_controller", None)),
    ("ray::ProxyActor", ["ray::ProxyActor", "", ""], ("proxy", None)),
    ("ray::Dashboard", ["ray::DashboardAgent", "", ""], ("agent", None)),
    ("python", ["/v/bin/python", "-u", "/v/ray/_private/log_monitor.py"], ("agent", None)),
    ("python", ["/v/bin/python", "/v/ray/dashboard/dashboard.py", "--host=127.0.0.1"], ("agent", None)),
    ("ray::IDLE", ["ray::IDLE", "", ""], ("worker", None)),
    ("ray::count", ["ray::count_task", ""], ("worker", None)),
    ("python", ["/v/bin/python", "-m", "locust", "-f", "x.py"], ("load", None)),
    ("python", ["/v/bin/python", "train.py"], ("other", None)),
])
def test_roles_from_process_titles(name: str, cmdline: list[str], role: tuple[str, str | None]) -> None:
    assert role_of(name, cmdline, 42, driver_pid=1) == role


def test_driver_and_replica_pids() -> None:
    assert role_of("python", ["python", "-m", "harness"], 7, driver_pid=7) == ("driver", None)
    details = {"applications": {"a": {"deployments": {"Echo": {"replicas": [{"pid": 10}, {"pid": None}]}}},
                                "b": {"deployments": {"Echo": {"replicas": [{"pid": 11}]}}}}}
    assert replica_pids(details, ["a"]) == {10: "Echo"}
    assert replica_pids(details, ["a", "b"]) == {10: "a/Echo", 11: "b/Echo"}


def test_estimator_is_fast_on_a_long_soak() -> None:
    """A 60-minute soak at 2 Hz: 7,200 samples, 20 buckets, 190 pairs."""
    import time

    points = sawtooth(3, 3600, 150, 0.05)
    started = time.perf_counter()
    trend = memory_series.growth(points, Window("w", 0, 3600))
    assert time.perf_counter() - started < 0.5
    assert trend is not None and trend.buckets == memory_series.MAX_BUCKETS
    assert trend.growth == pytest.approx(0.05, abs=0.03) and not math.isnan(trend.slope_mb_per_s)


def test_report_charts_memory_by_role_and_the_object_store() -> None:
    from harness.report.chart_series import build_series
    from harness.report.html import attach_slo_bounds

    tl = memory_run([(t, 100.0 + t) for t in range(30)], load=(0, 30))
    series = build_series(tl)
    charts = {c.key: c for c in series.charts}
    memory_chart = charts["memory"]
    assert [s.label for s in memory_chart.series] == ["Echo (replicas, up to 2)", "raylet (up to 1)"]
    assert memory_chart.series[0].points[-1] == (29.0 + 5, 129.0)  # seconds since the run's start, MB
    assert [s.label for s in charts["object_store"].series] == ["head", "worker"]
    verdicts = [judge("memory_growth(Echo) < 10%", tl).as_dict(), judge("peak_memory(object_store) < 1GB", tl).as_dict()]
    attach_slo_bounds(series, verdicts)
    assert len(memory_chart.bounds) == 1 and not memory_chart.bounds[0].passed
    assert len(charts["object_store"].bounds) == 1 and charts["object_store"].bounds[0].passed


def test_sampler_takes_the_run_s_processes_not_those_from_before_it(tmp_path: Any) -> None:
    """A child the host had before the run (a test's own cluster) is not the run's; one the
    run started is, with the harness itself as `driver`."""
    import subprocess
    import sys
    from types import SimpleNamespace

    from harness.procs.ledger import ProcessLedger

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    before = subprocess.Popen(sleeper)
    try:
        ledger = ProcessLedger("t", tmp_path / "owned.json")
        during = subprocess.Popen([*sleeper, "locust"])  # a `load` process by its command line
        try:
            record = MemorySampler().sample(SimpleNamespace(ledger=ledger, cluster=None))
            assert record["roles"]["driver"]["n"] == 1 and record["roles"]["driver"]["mb"] > 10
            assert record["roles"]["load"]["n"] == 1
            assert "other" not in record["roles"]  # `before` is not the run's
            assert "object_store" not in record and record["sample_ms"] >= 0
        finally:
            during.kill()
            during.wait()
    finally:
        before.kill()
        before.wait()


def test_a_child_caught_between_fork_and_exec_gets_its_role_at_the_next_walk(tmp_path: Any) -> None:
    """Before exec a child shows its parent's command line: Locust caught then (a busy machine)
    must still be `load` once it runs, not `other` for the whole run."""
    import os
    import sys
    import time
    from types import SimpleNamespace

    import psutil

    from harness.procs.ledger import ProcessLedger

    ledger = ProcessLedger("t", tmp_path / "owned.json")
    me = psutil.Process()
    before_exec = role_of(me.name(), me.cmdline(), -1, driver_pid=0)[0]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: hold until told, then become a `load` process
        os.read(read_end, 1)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "locust"])
    try:
        ctx = SimpleNamespace(ledger=ledger, cluster=None)
        sampler = MemorySampler(refresh_s=0)  # every sample walks the tree
        assert sampler.processes(ctx)[pid].role == before_exec
        os.write(write_end, b"x")
        deadline = time.monotonic() + 10
        while psutil.Process(pid).cmdline()[-1:] != ["locust"]:
            assert time.monotonic() < deadline, "the child never exec'd"
            time.sleep(0.01)
        assert sampler.processes(ctx)[pid].role == "load"
        assert sampler.sample(ctx)["roles"]["load"]["n"] == 1
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read_end)
        os.close(write_end)
