"""The recorder keeps its cadence when polls are slow (a busy controller), and says so."""

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

    def _poll(self, ctx):
        time.sleep(self.poll_s)
        if self.fail:
            raise ConnectionError("controller unreachable")
        return {"t": time.time(), "deployments": {}}


def make_ctx(tmp_path):
    scen = Scenario.model_validate({"name": "r", "duration_s": 5, "cluster": {"nodes": [{"name": "h", "num_cpus": 1}]}})
    return RunContext(scenario=scen, scenario_file="r.yaml", run_id="r", run_dir=tmp_path,
                      timeline=TimelineWriter(tmp_path / "timeline" / "events.jsonl"),
                      ledger=ProcessLedger("r"), console=Console(quiet=True))


def run_for(recorder, ctx, seconds):
    recorder.start(ctx)
    time.sleep(seconds)
    recorder.stop(ctx)
    time.sleep(recorder.poll_s + 0.2)  # let polls in flight finish (they must not be recorded)
    ctx.timeline.close()
    return Timeline.load(ctx.run_dir)


def test_slow_polls_overlap_to_keep_the_cadence(tmp_path):
    recorder = SlowPolls(poll_s=0.6)
    timeline = run_for(recorder, make_ctx(tmp_path), 2.0)
    times = [s["t"] for s in timeline.events_of("sample")]
    # One poll at a time would give at most 4 samples in 2 s; three in flight give ~7.
    assert len(times) >= 5, len(times)
    assert recorder.metrics()["recorder_samples"] == len(times)


def test_polls_stuck_longer_than_three_intervals_are_skipped_and_counted(tmp_path):
    recorder = SlowPolls(poll_s=1.2)
    run_for(recorder, make_ctx(tmp_path), 1.2)
    assert recorder.skipped >= 2


def test_failed_polls_become_sample_errors(tmp_path):
    recorder = SlowPolls(poll_s=0.01, fail=True)
    timeline = run_for(recorder, make_ctx(tmp_path), 1.0)
    errors = timeline.events_of("sample_error")
    assert errors and "ConnectionError: controller unreachable" in errors[0]["error"]
    assert recorder.errors == len(errors) and recorder.samples == 0
