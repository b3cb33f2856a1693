"""Scenario states replayed from stored result sequences (Ray's release rules)."""

from __future__ import annotations

import pytest

from harness.gate.states import (
    State,
    StateRules,
    current_state,
    flake_rate,
    flips,
    next_state,
    replay,
)

P, F, K, E = "passed", "failed", "flaky", "error"


def test_no_history_is_passing() -> None:
    assert current_state([]) == State.PASSING
    assert replay([]) == []


def test_one_failure_is_failing_and_a_pass_recovers() -> None:
    assert replay([P, F, P]) == [State.PASSING, State.FAILING, State.PASSING]


def test_two_failures_in_a_row_are_consistently_failing() -> None:
    assert replay([P, F, F]) == [State.PASSING, State.FAILING, State.CONSISTENTLY_FAILING]
    # stays there while it keeps failing, and one pass closes it
    assert replay([F, F, F, F, P])[-2:] == [State.CONSISTENTLY_FAILING, State.PASSING]


def test_recovering_from_a_consistent_failure_is_not_flaky() -> None:
    # Only pass->fail flips count, as in Ray's CI state machine: F F P P is a fix, not a flake.
    assert flips([F, F, P, P]) == 0
    assert current_state([F, F, P, P]) == State.PASSING


def test_a_fail_then_pass_within_a_run_makes_the_scenario_flaky() -> None:
    assert replay([K]) == [State.FLAKY]
    assert current_state([P, P, K]) == State.FLAKY


def test_flip_rate_at_threshold_is_flaky_below_is_not() -> None:
    rules = StateRules(window=30, flaky_threshold=0.07, recently_stable=10)
    # 2 pass->fail flips in 28 results = 7.1% -> flaky; the last result passes
    history = [P] * 5 + [F] + [P] * 10 + [F] + [P] * 9 + [P, P]
    assert len(history) == 28 and flips(history) == 2
    # the last 10 are all passes: recently stable overrides the flip rate
    assert current_state(history, rules=rules) == State.PASSING
    history_not_stable = [P] * 5 + [F] + [P] * 10 + [F] + [P] * 5
    assert flake_rate(history_not_stable, rules) == pytest.approx(2 / 22)
    assert current_state(history_not_stable, rules=rules) == State.FLAKY
    # one flip after 15 clean results stays below 7% at every later step
    one_flip = [P] * 15 + [F] + [P] * 4
    assert current_state(one_flip, rules=rules) == State.PASSING
    # the same flip early in a short history is 1 in 13 (7.7%): flaky, and flaky sticks
    # until 10 clean passes, as in Ray's state machine
    early = [P] * 10 + [F] + [P] * 9
    assert replay(early, rules)[12] == State.FLAKY
    assert current_state(early, rules=rules) == State.FLAKY


def test_flaky_clears_after_ten_clean_passes_only() -> None:
    states = replay([K] + [P] * 10)
    assert states[0] == State.FLAKY
    assert all(s == State.FLAKY for s in states[1:10])
    assert states[10] == State.PASSING
    # a flaky result is not a clean pass: it restarts the count
    assert current_state([K] + [P] * 9 + [K]) == State.FLAKY


def test_flaky_that_fails_twice_in_a_row_is_consistently_failing() -> None:
    assert current_state([K, F, F]) == State.CONSISTENTLY_FAILING


def test_infrastructure_errors_are_no_verdict() -> None:
    assert replay([P, E, F, E, E]) == [State.PASSING, State.FAILING]
    assert current_state([F, E, F]) == State.CONSISTENTLY_FAILING
    assert flake_rate([E, E]) == 0.0


def test_quarantine_overrides_every_state() -> None:
    assert current_state([F, F, F], quarantined=True) == State.QUARANTINED
    assert current_state([], quarantined=True) == State.QUARANTINED


def test_window_limits_what_is_considered() -> None:
    rules = StateRules(window=5, recently_stable=3)
    old_flakes = [K, K, K] + [P] * 5
    assert current_state(old_flakes, rules=rules) == State.PASSING
    assert flake_rate(old_flakes, rules) == 0.0


def test_next_state_without_results_keeps_the_state() -> None:
    assert next_state(State.FAILING, []) == State.FAILING
