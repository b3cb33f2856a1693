"""The recorder keeps its cadence when polls are slow (a busy controller), and says so.

Each test waits for what it checks (polls overlapping, polls skipped, errors recorded)
instead of counting samples in a fixed time: on a loaded machine a thread may start late.
"""

import threading
import time

from rich.console import Console

from harness.measure.timeline import Timeline, TimelineWriter
from harness.model.context import RunContext
from harness.model.scenario import RecorderSpec, Scenario
from harness.procs.ledger import ProcessLedger
from harness.run.recorder import Recorder


class SlowPolls(Recorder):
    """The real recorder loop with polls that take `poll_s` instead of asking Ray."""

    def __init__(self, poll_s: float, fail: bool = False):
        super().__init__(RecorderSpec(interval_s=0.25))
        self.poll_s, self.fail = poll_s, fail
        self._lock = threading.Lock()
        self.running = 0
        self.most_running = 0  # the most polls in flight at once

    def _poll(self, ctx):
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.poll_s)
        with self._lock:
            self.running -= 1
        if self.fail:
            raise ConnectionError("controller unreachable")
        return {"t": time.time(), "deployments": {}}


def make_ctx(tmp_path):
    scen = Scenario.model_validate({"name": "r", "duration_s": 5, "cluster": {"nodes": [{"name": "h", "num_cpus": 1}]}})
    return RunContext(scenario=scen, scenario_file="r.yaml", run_id="r", run_dir=tmp_path,
                      timeline=TimelineWriter(tmp_path / "timeline" / "events.jsonl"),
                      ledger=ProcessLedger("r"), console=Console(quiet=True))


def wait_for(condition, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def run_until(recorder, ctx, condition):
    recorder.start(ctx)
    try:
        wait_for(condition)
    finally:
        recorder.stop(ctx)
    recorder._pool.shutdown(wait=True)  # polls in flight end after stop (and are not recorded)
    ctx.timeline.close()
    return Timeline.load(ctx.run_dir)


def test_slow_polls_overlap_to_keep_the_cadence(tmp_path):
    recorder = SlowPolls(poll_s=0.6)
    # A poll of 0.6 s at a 0.25 s interval: the next ones start while it is still waiting.
    timeline = run_until(recorder, make_ctx(tmp_path), lambda: recorder.most_running >= 2 and recorder.samples >= 3)
    times = [s["t"] for s in timeline.events_of("sample")]
    assert len(times) >= 3 and recorder.most_running >= 2
    assert recorder.metrics()["recorder_samples"] == len(times)


def test_polls_stuck_longer_than_three_intervals_are_skipped_and_counted(tmp_path):
    recorder = SlowPolls(poll_s=1.2)
    run_until(recorder, make_ctx(tmp_path), lambda: recorder.skipped >= 2)
    assert recorder.most_running == 3  # never more polls in flight than the recorder allows
    assert recorder.metrics()["recorder_skipped"] == recorder.skipped


def test_failed_polls_become_sample_errors(tmp_path):
    recorder = SlowPolls(poll_s=0.01, fail=True)
    timeline = run_until(recorder, make_ctx(tmp_path), lambda: recorder.errors >= 2)
    errors = timeline.events_of("sample_error")
    assert errors and "ConnectionError: controller unreachable" in errors[0]["error"]
    assert recorder.errors == len(errors) and recorder.samples == 0
