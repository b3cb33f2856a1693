import pytest

from harness.measure import windows
from harness.measure.timeline import Window
from harness.model.scenario import SLOSpec
from harness.slo.core import evaluate, validate_windows, window_of
from tests.unit.slo_timelines import T0, phase, request, timeline

NAMED = {
    "run": Window("run", 0, 100),
    "load": Window("load", 10, 60),
    "fault-1": Window("fault-1", 20, 25),
}


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("load", 10, 60),
        ("during fault-1", 20, 25),
        ("after fault-1", 25, 100),
        ("30s after fault-1", 25, 55),
        ("fault-1 + 30s", 20, 55),
        ("fault-1+500ms", 20, 25.5),
        ("first 10s of load", 10, 20),
        ("before fault-1", 0, 20),
        ("from fault-1 to load", 20, 60),
        ("2m after fault-1", 25, 100),  # cut at the end of the run
    ],
)
def test_window_expressions_resolve(text, start, end):
    window = windows.resolve(text, NAMED)
    assert (window.start, window.end) == (start, end)


def test_unknown_name_resolves_to_none():
    assert windows.resolve("after fault-2", NAMED) is None
    assert windows.resolve("from load to fault-9", NAMED) is None


@pytest.mark.parametrize("text", ["after", "30 after fault-1", "fault-1 + x", "first of load", "a b c"])
def test_bad_expressions_are_syntax_errors(text):
    with pytest.raises(windows.WindowSyntaxError, match="expected a window"):
        windows.parse(text)


def test_bad_window_is_reported_by_index():
    specs = [SLOSpec(check="requests > 1", window="load"), SLOSpec(check="requests > 1", window="after")]
    problems = validate_windows(specs)
    assert [index for index, _ in problems] == [1]


def test_default_window_comes_from_the_metric():
    assert window_of(SLOSpec(check="tasks_failed(w) == 0")) == "run"
    assert window_of(SLOSpec(check="scale_down_time(Echo) < 5s")) == "after_load"
    assert window_of(SLOSpec(check="p(99) < 5ms")) == "load"
    assert window_of(SLOSpec(check="p(99) < 5ms", window="fault-1")) == "fault-1"


def test_verdict_names_the_resolved_window():
    tl = timeline(phase("run", 0, 40), phase("load", 0, 30), phase("fault-1", 10, 12),
                  [request(t, "ok" if not 10 <= t < 14 else "error") for t in range(0, 30)])
    verdict = evaluate(SLOSpec(check="failed_requests <= 2", window="fault-1 + 5s"), tl)
    assert not verdict.passed
    assert verdict.window == "fault-1 + 5s"
    assert (verdict.window_start, verdict.window_end) == (T0 + 10, T0 + 17)
    assert "measured 4, expected at most 2 in window 'fault-1 + 5s' (7.0s)" in verdict.message


def test_window_that_never_happened_fails_naming_known_windows():
    tl = timeline(phase("run", 0, 40), phase("load", 0, 30))
    verdict = evaluate(SLOSpec(check="recovery_time < 5s", window="after fault-1"), tl)
    assert not verdict.passed
    assert "never happened" in verdict.message and "load" in verdict.message
