"""The schedule generator: a pure function of (shape, seed)."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from harness.model.shape import build_profile
from locustfiles.schedule import arrival_offsets

ROOT = Path(__file__).resolve().parents[2]
BURST = {"kind": "burst", "baseline": 10, "peak": 50, "start_s": 4, "burst_s": 2, "every_s": 6, "count": 2}


def schedule(shape: dict, seed: int, process: str = "poisson", duration: float = 20, base: float = 20) -> list[float]:
    return list(arrival_offsets(build_profile(shape, base, duration, seed), process, seed))


def count_in(offsets: list[float], start: float, end: float) -> int:
    return sum(1 for t in offsets if start <= t < end)


def test_same_seed_gives_the_same_sends_and_another_seed_does_not() -> None:
    first = schedule(BURST, seed=42)
    again = schedule(BURST, seed=42)
    other = schedule(BURST, seed=43)
    assert first == again
    assert len(first) > 100
    assert first != other


def test_noise_is_seeded_too() -> None:
    sine = {"kind": "sine", "mean": 30, "amplitude": 10, "period_s": 8, "noise": 5}
    assert schedule(sine, 7) == schedule(sine, 7)
    a = build_profile(sine, 0, 16, 7)
    b = build_profile(sine, 0, 16, 8)
    assert [a.level(t / 2) for t in range(32)] != [b.level(t / 2) for t in range(32)]


def test_schedule_module_needs_no_gevent() -> None:
    code = "import sys, locustfiles.schedule; sys.exit('gevent' in sys.modules or 'locust' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_uniform_arrivals_hit_the_rate_of_every_window_exactly() -> None:
    offsets = schedule(BURST, seed=1, process="uniform")
    profile = build_profile(BURST, 0, 20, 1)
    names = [w.name for w in profile.windows()]
    assert names == ["baseline", "burst-1", "recovery-1", "burst-2", "recovery-2"]
    for window in profile.windows():
        rate = 50 if window.name.startswith("burst") else 10
        expected = rate * (window.end - window.start)
        assert abs(count_in(offsets, window.start, window.end) - expected) <= 1, window


def test_uniform_spacing_is_one_over_the_rate() -> None:
    offsets = schedule({"kind": "constant"}, seed=3, process="uniform", duration=2, base=100)
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert offsets[0] == 0.0
    assert max(gaps) - min(gaps) < 1e-6
    assert gaps[0] == pytest.approx(0.01)


def test_poisson_arrivals_have_the_mean_rate_and_exponential_gaps() -> None:
    offsets = schedule({"kind": "constant"}, seed=5, duration=200, base=50)
    assert len(offsets) == pytest.approx(10_000, rel=0.05)
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    # Exponential: mean equals standard deviation.
    assert statistics.mean(gaps) == pytest.approx(0.02, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(statistics.mean(gaps), rel=0.1)


def test_stages_name_windows_and_the_last_stage_holds() -> None:
    shape = {"kind": "stages", "stages": [
        {"duration_s": 3, "rate": 10}, {"duration_s": 2, "rate": 40, "name": "peak"}, {"duration_s": 1, "rate": 5},
    ]}
    profile = build_profile(shape, 0, 10, 0)
    assert [(w.name, w.start, w.end) for w in profile.windows()] == [
        ("stage-1", 0, 3), ("peak", 3, 5), ("stage-3", 5, 10),
    ]
    assert profile.level(9.9) == 5


def test_shape_longer_than_the_load_is_cut() -> None:
    profile = build_profile({"kind": "stages", "stages": [{"duration_s": 8, "users": 2}]}, 0, 5, 0)
    assert profile.windows()[-1].end == 5
    assert profile.level(5) == 0


def test_ramp_climbs_linearly_then_holds() -> None:
    profile = build_profile({"kind": "ramp", "from": 10, "to": 30, "ramp_s": 4}, 0, 10, 0)
    assert profile.level(0) == 10
    assert profile.level(2) == pytest.approx(20)
    assert profile.level(7) == 30
    assert [w.name for w in profile.windows()] == ["ramp", "hold"]


def test_sine_rising_only_never_falls() -> None:
    shape = {"kind": "sine", "mean": 20, "amplitude": 10, "period_s": 4, "noise": 2, "rising_only": True}
    profile = build_profile(shape, 0, 12, 9)
    levels = [profile.level(t / 10) for t in range(120)]
    assert levels == sorted(levels)
    plain = build_profile({**shape, "rising_only": False, "noise": 0}, 0, 12, 9)
    assert plain.level(1) == pytest.approx(30)
    assert plain.level(3) == pytest.approx(10)
    assert [w.name for w in plain.windows()] == ["cycle-1", "cycle-2", "cycle-3"]


def test_trace_replay_follows_its_points() -> None:
    shape = {"kind": "trace", "scale": 2, "points": [
        {"offset_s": 1, "level": 5}, {"offset_s": 3, "level": 20, "name": "spike"}, {"offset_s": 4, "level": 10},
    ]}
    offsets = schedule(shape, seed=2, process="uniform", duration=6)
    assert count_in(offsets, 0, 1) == 0
    assert count_in(offsets, 1, 3) == 20
    assert count_in(offsets, 3, 4) == 40
    assert count_in(offsets, 4, 6) == 40
    windows = build_profile(shape, 0, 6, 2).windows()
    assert [(w.name, w.start, w.end) for w in windows] == [("spike", 3, 4)]


def test_neighbouring_trace_rows_of_one_name_are_one_window() -> None:
    shape = {"kind": "trace", "points": [
        {"offset_s": 0, "level": 5}, {"offset_s": 2, "level": 20, "name": "peak"},
        {"offset_s": 3, "level": 30, "name": "peak"}, {"offset_s": 4, "level": 5},
    ]}
    windows = build_profile(shape, 0, 6, 0).windows()
    assert [(w.name, w.start, w.end) for w in windows] == [("peak", 2, 4)]
