"""Property test: mutations of the shipped scenarios never crash or hang validation, and
validation never accepts a check that can never fail (issue 21).

Each example takes a valid shipped scenario and changes it the way people get things
wrong: a check's operator, bound or unit; a window expression; a load shape; a hostile
value at a leaf. Validation must answer with a Scenario or a ConfigError (nothing else,
no traceback), within a few seconds, and every check it accepts must be able to fail:
an oracle independent of harness.slo.bounds probes each accepted check with values from
its metric's range.
"""

from __future__ import annotations

import copy
import math
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.model.errors import ConfigError
from harness.scenario.loader import read_yaml, scenario_from_dict
from harness.scenario.paths import resolve_paths
from harness.slo.core import OPS, parse_check
from harness.slo.registry import KINDS

ROOT = Path(__file__).resolve().parents[2]
# Every shipped scenario but those that import user code at validation (a child process
# per example would make this slow; the corpus covers user code).
SHIPPED = sorted(
    p for p in [*(ROOT / "configs" / "scenarios").glob("*.yaml"), *(ROOT / "configs" / "release").glob("*-app.yaml"),
                ROOT / "configs" / "apps" / "mix.yaml"]
    if "user_class" not in p.read_text()
)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SLOW_S = 10.0  # validation of one scenario takes milliseconds: this is a hang

OPS_TEXT = sorted(OPS)
UNITS = ["", "ms", "s", "%"]
NUMBERS = st.one_of(st.sampled_from([0, 1, 100, 101, -5, 0.5, 2.5, 99, 99.9, 255, 256, 1e6]),
                    st.integers(min_value=-300, max_value=300),
                    st.floats(min_value=-1000, max_value=1000, allow_nan=False).map(lambda f: round(f, 2)))
WINDOW_NAMES = ["load", "run", "after_load", "cluster_start", "app_deploy", "cooldown", "baseline", "burst-1",
                "recovery-1", "fault-1", "stage-2", "nope", "hold"]
WINDOWS = st.one_of(
    st.sampled_from(WINDOW_NAMES),
    st.builds(lambda n, s, u: f"first {s}{u} of {n}", st.sampled_from(WINDOW_NAMES), st.sampled_from([0, 1, 5, 30]),
              st.sampled_from(["s", "ms"])),
    st.builds(lambda n, s: f"{s}s after {n}", st.sampled_from(WINDOW_NAMES), st.sampled_from([0, 1, 5, 30])),
    st.builds(lambda a, b: f"from {a} to {b}", st.sampled_from(WINDOW_NAMES), st.sampled_from(WINDOW_NAMES)),
    st.builds(lambda w, n: f"{w} {n}", st.sampled_from(["after", "before", "during"]), st.sampled_from(WINDOW_NAMES)),
)
SHAPES = st.one_of(
    st.builds(lambda a, b: {"kind": "stages", "stages": [{"duration_s": a, "users": 2}, {"duration_s": b, "users": 4}]},
              st.sampled_from([1, 5, 20, 60]), st.sampled_from([1, 5, 20, 60])),
    st.builds(lambda s, b, c: {"kind": "burst", "baseline": 2, "peak": 6, "start_s": s, "burst_s": b,
                               "every_s": b + 2, "count": c},
              st.sampled_from([0, 2, 9, 50]), st.sampled_from([1, 3, 8]), st.sampled_from([1, 2, 4])),
    st.builds(lambda r: {"kind": "ramp", "from": 1, "to": 5, "ramp_s": r}, st.sampled_from([1, 10, 100])),
)
HOSTILE = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.integers(min_value=-10**6, max_value=10**6),
                    st.sampled_from([float("inf"), float("nan"), 1e308, "2024-01-31", [], {}]))


def shipped(index: int) -> tuple[dict[str, Any], str]:
    path = SHIPPED[index % len(SHIPPED)]
    data = read_yaml(path)
    resolve_paths(data, path)  # as load_scenario does: its paths are relative to its folder
    return data, str(path.relative_to(ROOT))


def can_fail(check_text: str) -> bool:
    """Whether some value the metric can take violates the check (independent of bounds.py:
    probe values around the bound and at the ends of the metric's range)."""
    check = parse_check(check_text)
    kind = KINDS[check.metric]
    probes = {check.bound + d for d in (-1, -0.5, -1e-6, 0, 1e-6, 0.5, 1)} | {kind.low, kind.high, 0.0, 1.0, 1e9}
    inside = [v for v in probes if kind.low <= v <= kind.high and not math.isnan(v)
              and (not kind.whole or math.isinf(v) or float(v).is_integer())]
    return any(not OPS[check.op](v, check.bound) for v in inside)


class Hung(Exception):
    pass


def _hung(signum: int, frame: Any) -> None:
    raise Hung(f"validation ran past {SLOW_S:g} s")


def validate(data: dict[str, Any], source: str) -> Any:
    """Scenario or None (refused); a hang is cut by an alarm and fails the example."""
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.setitimer(signal.ITIMER_REAL, SLOW_S)
    try:
        scenario = scenario_from_dict(data, source)
    except ConfigError as exc:
        assert exc.lines and all(line.startswith(source) and "\n" not in line for line in exc.lines), exc.lines
        scenario = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < SLOW_S
    return scenario


def assert_every_check_can_fail(scenario: Any) -> None:
    if scenario is None:
        return
    for spec in scenario.slos:
        assert can_fail(spec.check), f"accepted a check that can never fail: {spec.check!r}"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # shipped scenarios name files relative to the project root


def test_shipped_scenarios_are_valid_and_their_checks_can_fail() -> None:
    for index in range(len(SHIPPED)):
        data, source = shipped(index)
        scenario = validate(data, source)
        assert scenario is not None, source
        assert_every_check_can_fail(scenario)


@SETTINGS
@given(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=20),
       st.sampled_from(OPS_TEXT), NUMBERS, st.sampled_from(UNITS))
def test_mutated_bounds_never_pass_a_check_that_cannot_fail(which: int, slo: int, op: str, number: float,
                                                              unit: str) -> None:
    data, source = shipped(which)
    slos = data.get("slos") or []
    if not slos:
        return
    target = slos[slo % len(slos)]
    check = parse_check(target["check"])
    head = check.text.split(check.op, 1)[0].strip()  # the metric and its arguments, as written
    data = copy.deepcopy(data)
    data["slos"][slo % len(slos)] = {**target, "check": f"{head} {op} {number:g}{unit}"}
    assert_every_check_can_fail(validate(data, source))


@SETTINGS
@given(st.integers(min_value=0, max_value=50), WINDOWS, st.sampled_from([0, 5]))
def test_mutated_windows_never_crash(which: int, window: str, cooldown: float) -> None:
    data, source = shipped(which)
    data = copy.deepcopy(data)
    data["cooldown_s"] = cooldown
    if data.get("slos"):
        data["slos"][0] = {**data["slos"][0], "window": window}
    assert_every_check_can_fail(validate(data, source))


@SETTINGS
@given(st.integers(min_value=0, max_value=50), SHAPES)
def test_mutated_load_shapes_never_crash(which: int, shape: dict[str, Any]) -> None:
    data, source = shipped(which)
    if data.get("app") == "none":
        return
    data = copy.deepcopy(data)
    load = dict(data.get("load") or {})
    load.pop("rate", None)
    load.update(model="closed", shape=shape)
    data["load"] = load
    scenario = validate(data, source)
    if scenario is not None:  # accepted: the shape fits the run
        stages = shape.get("stages") or []
        assert sum(s["duration_s"] for s in stages) <= scenario.duration_s
        if shape["kind"] == "burst":
            last = shape["start_s"] + (shape["count"] - 1) * shape["every_s"] + shape["burst_s"]
            assert last <= scenario.duration_s
        if shape["kind"] == "ramp":
            assert shape["ramp_s"] <= scenario.duration_s


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


@SETTINGS
@given(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=500), HOSTILE)
def test_hostile_leaves_never_crash(which: int, leaf: int, value: Any) -> None:
    data, source = shipped(which)
    data = copy.deepcopy(data)
    leaves = _leaves(data)
    *parents, last = leaves[leaf % len(leaves)]
    node: Any = data
    for part in parents:
        node = node[part]
    node[last] = value
    assert_every_check_can_fail(validate(data, source))
