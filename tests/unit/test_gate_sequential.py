"""The SPRT on run failures: decisions on hand-made sequences, and realised error rates
from seeded, vectorised simulation (the decide() walk is checked against the same
vectorised walk on a sample of the simulated sequences)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.gate.sequential import SequentialRule, flake_probability

RUNS = 20_000
# Monte Carlo slack: 3 standard errors of a 5% rate over RUNS, plus Wald's own
# approximation (its bound is alpha / (1 - beta), ~5.3% for 5% / 5%).
SLACK = 3 * (0.05 * 0.95 / RUNS) ** 0.5 + 0.003


def _simulate(rule: SequentialRule, fail_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every simulated run's decision (+1 fail, -1 pass, 0 undecided) and runs used."""
    rng = np.random.default_rng(seed)
    failed = rng.random((RUNS, rule.max_runs)) < fail_rate
    llr = np.cumsum(np.where(failed, rule.fail_step, rule.pass_step), axis=1)
    crossed = (llr >= rule.upper) | (llr <= rule.lower)
    any_crossed = crossed.any(axis=1)
    first = np.where(any_crossed, crossed.argmax(axis=1), rule.max_runs - 1)
    at_first = llr[np.arange(RUNS), first]
    decision = np.where(~any_crossed, 0, np.where(at_first >= rule.upper, 1, -1))
    # decide() agrees with the vectorised walk
    for i in range(0, RUNS, RUNS // 50):
        got = rule.decide([not f for f in failed[i]])
        assert got.state == {1: "fail", -1: "pass", 0: "undecided"}[int(decision[i])]
        assert got.runs == first[i] + 1
    return decision, first + 1


@pytest.mark.parametrize("flake", [0.01, 0.1, 0.2])
def test_false_block_rate_on_good_builds_is_at_most_alpha(flake: float) -> None:
    rule = SequentialRule(flake_probability=flake)
    decision, _ = _simulate(rule, flake, seed=11)
    assert (decision == 1).mean() <= rule.alpha + SLACK
    # and a good build is mostly cleared within the budget
    assert (decision == -1).mean() >= 0.9


@pytest.mark.parametrize("flake", [0.01, 0.1, 0.2])
def test_missed_break_rate_on_broken_builds_is_at_most_beta(flake: float) -> None:
    rule = SequentialRule(flake_probability=flake)
    decision, runs = _simulate(rule, rule.broken_probability, seed=12)
    assert (decision == -1).mean() <= rule.beta + SLACK
    assert (decision == 1).mean() >= 0.9
    # Wald's average sample number is near the simulated one
    assert abs(runs.mean() - rule.expected_runs(broken=True)) < 1.0


def test_decisions_on_known_sequences() -> None:
    rule = SequentialRule(flake_probability=0.1)
    broken = rule.decide([False, False, False])
    assert (broken.state, broken.runs, broken.failures) == ("fail", 2, 2)
    assert broken.reason == "failed 2 of 2 runs; flake rate 10%: broken (alpha 5%)"
    # one failure at a 10% flake rate takes three passes to clear
    assert rule.decide([False, True, True]).state == "undecided"
    good = rule.decide([False, True, True, True])
    assert (good.state, good.runs, good.failures) == ("pass", 4, 1)
    assert "good" in good.reason
    assert rule.decide([False]).state == "undecided"
    assert "needs more runs" in rule.decide([False]).reason
    short = SequentialRule(flake_probability=0.1, max_runs=2)
    spent = short.decide([False, True, False, True])
    assert (spent.state, spent.runs) == ("undecided", 2)
    assert "budget of 2 runs spent" in spent.reason


def test_a_flakier_scenario_needs_more_failures_to_block() -> None:
    """The flake rate sets how many failures in a row block."""

    def failures_to_block(flake: float) -> int:
        rule = SequentialRule(flake_probability=flake)
        return rule.decide([False] * rule.max_runs).runs

    assert failures_to_block(0.01) == 1
    assert failures_to_block(0.1) == 2
    assert failures_to_block(0.5) > failures_to_block(0.1)


def test_flake_probability_is_clipped_and_validated() -> None:
    assert SequentialRule(flake_probability=0.0).flake_probability == 0.001
    assert SequentialRule(flake_probability=0.99).flake_probability == pytest.approx(0.85)
    with pytest.raises(ValueError):
        SequentialRule(flake_probability=0.1, alpha=0.0)
    with pytest.raises(ValueError):
        SequentialRule(flake_probability=0.1, max_runs=0)


def test_flake_probability_posterior_mean() -> None:
    assert flake_probability(0, 0) == pytest.approx(0.1)
    assert flake_probability(90, 0) == pytest.approx(1 / 100)
    assert flake_probability(80, 10) == pytest.approx(11 / 100)
    assert flake_probability(3, 1, prior_passes=1, prior_failures=1) == pytest.approx(2 / 6)
    with pytest.raises(ValueError):
        flake_probability(-1, 0)
