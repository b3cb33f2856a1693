"""The timeline is append-only and readable up to the last complete record."""

from __future__ import annotations

from harness.measure.timeline import (
    EVENTS_FILE,
    TIMELINE_DIR,
    Timeline,
    TimelineWriter,
    read_stream,
)


def test_torn_last_line_is_skipped(tmp_path):
    stream = tmp_path / TIMELINE_DIR / EVENTS_FILE
    writer = TimelineWriter(stream)
    writer.phase("load", "start", t=1.0)
    writer.emit("sample", t=2.0, nodes_alive=3)
    writer.close()
    with open(stream, "a") as handle:
        handle.write('{"t": 3.0, "kind": "sam')  # a crash mid-write
    records = list(read_stream(stream))
    assert [r["kind"] for r in records] == ["phase", "sample"]


def test_windows_from_phases_and_open_window_ends_at_last_record(tmp_path):
    writer = TimelineWriter(tmp_path / TIMELINE_DIR / EVENTS_FILE)
    writer.phase("run", "start", t=0.0)
    writer.phase("load", "start", t=1.0)
    writer.phase("load", "end", t=11.0)
    writer.phase("burst-1", "start", t=5.0)  # never ended: the run died
    writer.emit("sample", t=12.5)
    writer.close()
    timeline = Timeline.load(tmp_path)
    assert timeline.window("load").duration == 10.0
    assert timeline.window("burst-1").end == 12.5
    assert timeline.window("after_load").start == 11.0
    assert timeline.window("run").start == 0.0


def test_streams_merge_on_one_clock(tmp_path):
    events = TimelineWriter(tmp_path / TIMELINE_DIR / EVENTS_FILE)
    requests = TimelineWriter(tmp_path / TIMELINE_DIR / "requests.jsonl")
    events.emit("sample", t=2.0)
    requests.emit("request", t=1.0, latency_ms=3.0, outcome="ok")
    events.close()
    requests.close()
    timeline = Timeline.load(tmp_path)
    assert [r["t"] for r in timeline.requests] == [1.0]
    assert [e["t"] for e in timeline.events] == [2.0]
