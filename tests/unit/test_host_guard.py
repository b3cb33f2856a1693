import time
from types import SimpleNamespace

import pytest
from rich.console import Console

from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import InfraError, RunContext
from harness.model.scenario import HostGuardSpec, Scenario
from harness.procs.ledger import ProcessLedger
from harness.run.host_guard import HostGuard, Saturation, own_rss_mb


def test_saturation_needs_an_unbroken_stretch():
    sat = Saturation("host CPU", 90, "%")
    assert sat.update(95, 0.0) == 0.0
    assert sat.update(99, 4.0) == 4.0
    assert sat.update(50, 5.0) == 0.0  # one sample under the bound resets the clock
    assert sat.update(91, 6.0) == 0.0
    assert sat.update(92, 9.0) == 3.0
    assert "stayed at or above 90% for 3.0s (peak 92.0%)" in sat.describe(3.0)


class ScriptedGuard(HostGuard):
    """The real guard, fed a scripted series of host measurements instead of psutil's."""

    def __init__(self, spec, values):
        super().__init__(spec)
        self.values = iter(values)

    def measure(self, ctx):
        return next(self.values)


def make_ctx(tmp_path):
    scen = Scenario.model_validate({"name": "g", "duration_s": 5, "cluster": {"nodes": [{"name": "h", "num_cpus": 1}]}})
    return RunContext(scenario=scen, scenario_file="g.yaml", run_id="g", run_dir=tmp_path,
                      timeline=TimelineWriter(tmp_path / "timeline" / "events.jsonl"),
                      ledger=ProcessLedger("g"), console=Console(quiet=True))


def test_guard_raises_infra_error_after_for_s(tmp_path):
    spec = HostGuardSpec(cpu_percent=90, memory_percent=None, for_s=0.3, interval_s=0.2)
    guard = ScriptedGuard(spec, [{"cpu_percent": 95.0}] * 20)
    ctx = make_ctx(tmp_path)
    guard.start(ctx)
    deadline = time.monotonic() + 5
    with pytest.raises(InfraError) as info:
        while time.monotonic() < deadline:
            guard.tick(ctx)
            time.sleep(0.05)
    assert info.value.kind == "host_guard"
    assert "host CPU stayed at or above 90%" in info.value.message
    assert guard.tripped == "cpu_percent"
    ctx.timeline.close()
    timeline = Timeline.load(tmp_path)
    assert timeline.events_of("host") and timeline.events_of("host_guard")


def test_guard_stays_quiet_when_load_dips(tmp_path, monkeypatch):
    # A scripted clock, 0.25 s a tick (exact in binary): on the real one a starved test process (the unit
    # tests run at nice 19 beside the cluster tests) stretched two samples past for_s.
    clock = iter(0.25 * i for i in range(1000))
    monkeypatch.setattr("harness.run.host_guard.time", SimpleNamespace(monotonic=lambda: next(clock)))
    spec = HostGuardSpec(cpu_percent=90, memory_percent=None, for_s=0.5, interval_s=0.2)
    guard = ScriptedGuard(spec, [{"cpu_percent": v} for v in [95, 95, 10, 95, 95, 10, 95, 95, 10] * 3])
    ctx = make_ctx(tmp_path)
    guard.start(ctx)
    for _ in range(27):
        guard.tick(ctx)
    assert guard.tripped is None
    assert guard.metrics()["host_peak_cpu_percent"] == 95


def test_real_measurements_are_sane(tmp_path):
    guard = HostGuard(HostGuardSpec(cpu_percent=100, memory_percent=100, own_memory_mb=1e6))
    ctx = make_ctx(tmp_path)
    guard.start(ctx)
    values = guard.measure(ctx)
    assert 0 <= values["cpu_percent"] <= 100 and 0 < values["memory_percent"] <= 100
    assert values["own_memory_mb"] == pytest.approx(own_rss_mb(ctx), rel=0.5)
    assert values["own_memory_mb"] > 10  # at least this Python process
