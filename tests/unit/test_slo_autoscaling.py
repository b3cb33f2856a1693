import math

import pytest

from harness.model.scenario import SLOSpec
from harness.slo.core import evaluate, parse_check
from harness.slo.registry import SLOSyntaxError
from tests.unit.slo_timelines import phase, sample, samples, timeline

# Load from 10 s to 40 s. The autoscaler raises the target 1 -> 3 at 14 s, replicas follow
# at 16 s (2) and 19 s (3); after load the target drops to 1 at 45 s, replicas at 47 s.
SCALE_UP = [(5, 1, 1), (10, 1, 1), (12, 1, 1), (14, 1, 3), (16, 2, 3), (19, 3, 3), (30, 3, 3),
            (42, 3, 3), (45, 3, 1), (47, 1, 1), (55, 1, 1)]


def scaled_run(points=SCALE_UP, **extra):
    return timeline(phase("run", 0, 60), phase("load", 10, 40), samples(points, **extra))


def judge(check, window=None, tl=None):
    return evaluate(SLOSpec(check=check, window=window), tl or scaled_run())


def test_time_to_replicas_counts_from_window_start():
    verdict = judge("time_to_replicas(Echo, 3) < 10s")
    assert verdict.passed and verdict.measured == pytest.approx(9.0)
    assert verdict.inputs["running"][0] == [0.0, 1.0]  # the points used, relative to the window
    assert verdict.inputs["direction"] == "up"


def test_time_to_replicas_fails_when_too_slow_and_names_the_values():
    verdict = judge("time_to_replicas(Echo, 3) < 5s")
    assert not verdict.passed
    assert "measured 9.00s, expected below 5.00s in window 'load'" in verdict.message


def test_never_reached_is_never_and_says_why():
    verdict = judge("time_to_replicas(Echo, 4) < 60s")
    assert not verdict.passed and math.isinf(verdict.measured)
    assert "measured never" in verdict.message
    assert "never reached 4 running replicas (highest seen 3" in verdict.message


def test_bound_in_ms_is_converted_to_seconds():
    assert parse_check("time_to_replicas(Echo, 3) < 9500ms").bound == pytest.approx(9.5)
    assert judge("time_to_replicas(Echo, 3) < 9500ms").passed


def test_time_to_target_uses_the_peak_target():
    verdict = judge("time_to_target(Echo) < 10s")
    assert verdict.passed and verdict.measured == pytest.approx(9.0)
    assert verdict.inputs["peak_target"] == 3


def test_scale_down_time_defaults_to_after_load_and_min_replicas():
    tl = scaled_run(min_replicas=1)
    verdict = judge("scale_down_time(Echo) < 10s", tl=tl)
    assert verdict.window == "after_load"
    assert verdict.passed and verdict.measured == pytest.approx(7.0)  # 40 s -> 47 s


def test_scale_down_time_without_floor_asks_for_n():
    verdict = judge("scale_down_time(Echo) < 10s")
    assert not verdict.passed and "write scale_down_time(Echo, N)" in verdict.message
    assert judge("scale_down_time(Echo, 1) < 6s").measured == pytest.approx(7.0)


def test_already_at_level_is_zero():
    assert judge("time_to_replicas(Echo, 1) <= 0s").passed


def test_max_replicas_counts_live_replicas():
    points = [sample(12, running=2, total=2), sample(20, running=3, total=5), sample(30, running=3, total=3)]
    tl = timeline(phase("run", 0, 60), phase("load", 10, 40), points)
    verdict = evaluate(SLOSpec(check="max_replicas(Echo) <= 4"), tl)
    assert not verdict.passed and verdict.measured == 5
    assert verdict.inputs["at_s"] == pytest.approx(20.0)


def test_min_replicas_over_load():
    assert judge("min_replicas(Echo) >= 1").passed
    dip = SCALE_UP[:5] + [(25, 0, 3)] + SCALE_UP[5:]
    assert not judge("min_replicas(Echo) >= 1", tl=scaled_run(dip)).passed


def test_direction_changes_counts_flapping():
    assert judge("direction_changes(Echo) <= 1").measured == 1  # up once, down once
    flap = [(t, 1, 1 + (t // 2) % 2) for t in range(10, 30)]
    verdict = judge("direction_changes(Echo) <= 2", tl=scaled_run(flap))
    assert not verdict.passed and verdict.measured == 8  # 9 moves, 8 turns
    assert verdict.inputs["series"] == "target"


def test_direction_changes_falls_back_to_running_without_target():
    points = [sample(t, running=r) for t, r in [(11, 1), (12, 2), (13, 1), (14, 2)]]
    verdict = evaluate(SLOSpec(check="direction_changes(Echo) <= 5"), timeline(phase("run", 0, 20), points))
    assert verdict.measured == 2 and verdict.inputs["series"] == "running"


def test_replica_start_time_takes_the_slowest_rise():
    verdict = judge("replica_start_time(Echo) < 6s")
    assert verdict.passed and verdict.measured == pytest.approx(5.0)  # target 3 at 14 s, 3 running at 19 s
    assert verdict.inputs["rises"] == [{"at_s": 14.0, "target": 3.0, "waited_s": 5.0}]


def test_replica_start_time_never_met():
    points = [(10, 1, 1), (12, 1, 4), (30, 2, 4)]
    verdict = judge("replica_start_time(Echo) < 60s", tl=scaled_run(points))
    assert not verdict.passed and math.isinf(verdict.measured)
    assert "never reached the target 4" in verdict.message


def test_unknown_deployment_is_no_data_with_reason():
    verdict = judge("time_to_replicas(Other, 3) < 10s")
    assert not verdict.passed and verdict.measured is None
    assert "no replica samples of deployment 'Other'" in verdict.message


@pytest.mark.parametrize("check", ["time_to_replicas(Echo) < 1s", "time_to_replicas(Echo, x) < 1s",
                                   "max_replicas() <= 1", "max_replicas(A, 2) <= 1"])
def test_bad_arguments_are_syntax_errors(check):
    with pytest.raises(SLOSyntaxError):
        judge(check)


# -- the settle rule of scale_down_time (issue 11) ------------------------------------------


def _after_load(points):
    """(at, running, total, target) samples; load 10-40 s, run to 80 s, floor 1."""
    recs = [sample(at, running=r, total=tot, target=tg, min_replicas=1) for at, r, tot, tg in points]
    return timeline(phase("run", 0, 80), phase("load", 10, 40), recs)


def test_scale_down_counts_replicas_still_starting():
    # 60 replicas asked for at the end of the load, only 1 running: it is not scaled down.
    # The starting ones come up after the load (4 running), and it settles at 1 at 68 s.
    tl = _after_load([(38, 1, 60, 60), (40, 1, 60, 60), (44, 4, 60, 1), (50, 4, 30, 1),
                      (60, 2, 2, 1), (68, 1, 1, 1), (75, 1, 1, 1)])
    verdict = evaluate(SLOSpec(check="scale_down_time(Echo) < 20s"), tl)
    assert verdict.measured == pytest.approx(28.0)  # 40 s -> 68 s
    assert not verdict.passed
    assert verdict.inputs["settled_after_s"] == pytest.approx(28.0)


def test_scale_down_waits_for_the_target_too():
    # Live replicas at the floor while the autoscaler still wants 3: not settled until 52 s.
    tl = _after_load([(40, 1, 1, 3), (46, 1, 1, 3), (52, 1, 1, 1), (70, 1, 1, 1)])
    assert evaluate(SLOSpec(check="scale_down_time(Echo) < 20s"), tl).measured == pytest.approx(12.0)


def test_scale_down_dip_and_rebound_counts_from_the_last_settle():
    # At the floor at 45 s, back up to 3 at 50 s, settled again at 58 s for good.
    tl = _after_load([(40, 3, 3, 3), (45, 1, 1, 1), (50, 3, 3, 3), (55, 2, 2, 1), (58, 1, 1, 1),
                      (70, 1, 1, 1)])
    verdict = evaluate(SLOSpec(check="scale_down_time(Echo) < 10s"), tl)
    assert verdict.measured == pytest.approx(18.0)
    assert not verdict.passed


def test_scale_down_never_when_the_window_ends_first():
    tl = _after_load([(40, 3, 3, 3), (45, 1, 1, 1), (50, 3, 3, 3), (79, 3, 3, 3)])
    verdict = evaluate(SLOSpec(check="scale_down_time(Echo) < 60s"), tl)
    assert not verdict.passed and math.isinf(verdict.measured)
    assert "measured never" in verdict.message
    assert "had not settled at 1 by the window's end (3 live replicas, target 3)" in verdict.message


def test_scale_down_already_settled_is_zero():
    tl = _after_load([(35, 1, 1, 1), (50, 1, 1, 1), (70, 1, 1, 1)])
    assert evaluate(SLOSpec(check="scale_down_time(Echo) <= 0s"), tl).passed


def test_settled_since_is_one_rule_for_any_series():
    from harness.measure import series
    from harness.measure.timeline import Window

    nodes = [(0.0, 5.0), (10.0, 2.0), (12.0, 4.0), (20.0, 2.0), (30.0, 2.0)]
    wanted = [(0.0, 2.0)]
    window = Window("w", 5.0, 35.0)
    assert series.settled_since([(nodes, lambda v: v <= 2), (wanted, lambda v: v <= 2)], window) == 20.0
    assert series.settled_since([(nodes, lambda v: v <= 1)], window) is None
    assert series.settled_since([(nodes, lambda v: v <= 5)], window) == 5.0
    assert series.settled_since([([], lambda v: True)], window) is None
