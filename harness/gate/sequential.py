"""Sequential decisions on run failures: is a scenario's build good (its failures are
flakes) or broken?  Wald's sequential probability ratio test (SPRT) on Bernoulli runs.

Shared by suite reruns (issue 22) and `harness bisect` (issue 27). Pure functions of
run outcomes; standard library only.

H0 (good):   each run fails with probability `flake_probability`.
H1 (broken): each run fails with probability `broken_probability`.
After each run the log-likelihood ratio log P(outcomes | H1) / P(outcomes | H0) moves
by log(p1/p0) on a failure and by log((1-p1)/(1-p0)) on a pass; it decides "fail" at
log((1-beta)/alpha) or above, "pass" at log(beta/(1-alpha)) or below, and otherwise
asks for another run, up to `max_runs`. Wald's bounds keep the realised error rates
at about alpha and beta (tests/unit/test_gate_sequential.py simulates them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["pass", "fail", "undecided"]

_MIN_FLAKE = 0.001
_GAP = 0.05  # the flake rate stays this far below the broken rate, so H0 and H1 differ


@dataclass(frozen=True, kw_only=True)
class SequentialDecision:
    state: Outcome  # "pass": good build (failures explained by flakiness);
    # "fail": broken build; "undecided": need more runs / budget spent
    runs: int  # runs judged
    failures: int  # of which failed
    log_likelihood_ratio: float
    reason: str  # one human line


@dataclass(frozen=True, kw_only=True)
class SequentialRule:
    """Wald's SPRT on Bernoulli run failures.
    H0 (good): each run fails with probability flake_probability.
    H1 (broken): each run fails with probability broken_probability.
    alpha = P(decide fail | good) (false block / wrong blame), beta = P(decide pass | broken)."""

    flake_probability: float  # clipped to [0.001, broken_probability - 0.05]
    broken_probability: float = 0.9
    alpha: float = 0.05
    beta: float = 0.05
    max_runs: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.broken_probability < 1.0:
            raise ValueError(f"broken_probability must lie in (0, 1), got {self.broken_probability}")
        if self.broken_probability - _GAP <= _MIN_FLAKE:
            raise ValueError(
                f"broken_probability must exceed {_MIN_FLAKE + _GAP}, got {self.broken_probability}"
            )
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise ValueError(f"{name} must lie in (0, 0.5), got {value}")
        if self.max_runs < 1:
            raise ValueError(f"max_runs must be at least 1, got {self.max_runs}")
        clipped = min(max(float(self.flake_probability), _MIN_FLAKE), self.broken_probability - _GAP)
        object.__setattr__(self, "flake_probability", clipped)

    # The two steps of the log-likelihood ratio and its two thresholds.
    @property
    def fail_step(self) -> float:
        return math.log(self.broken_probability / self.flake_probability)

    @property
    def pass_step(self) -> float:
        return math.log((1.0 - self.broken_probability) / (1.0 - self.flake_probability))

    @property
    def upper(self) -> float:
        """At or above: broken."""
        return math.log((1.0 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        """At or below: good."""
        return math.log(self.beta / (1.0 - self.alpha))

    def decide(self, outcomes: Sequence[bool]) -> SequentialDecision:
        """Judge runs in order (True = the run passed). The decision is taken at the first
        run where the ratio crosses a threshold; runs after it are not judged."""
        llr = 0.0
        runs = failures = 0
        for passed in outcomes[: self.max_runs]:
            runs += 1
            if passed:
                llr += self.pass_step
            else:
                failures += 1
                llr += self.fail_step
            if llr >= self.upper:
                return self._decision("fail", runs, failures, llr)
            if llr <= self.lower:
                return self._decision("pass", runs, failures, llr)
        return self._decision("undecided", runs, failures, llr)

    def expected_runs(self, broken: bool) -> float:
        """Wald's average sample number under H1 (broken) or H0 (good), not truncated
        at max_runs: E[N] = (P(pass) * lower + P(fail) * upper) / E[step]."""
        p = self.broken_probability if broken else self.flake_probability
        p_decide_fail = 1.0 - self.beta if broken else self.alpha
        mean_step = p * self.fail_step + (1.0 - p) * self.pass_step
        return max(1.0, ((1.0 - p_decide_fail) * self.lower + p_decide_fail * self.upper) / mean_step)

    def _decision(self, state: Outcome, runs: int, failures: int, llr: float) -> SequentialDecision:
        head = (
            f"failed {failures} of {runs} run{'s' if runs != 1 else ''}; "
            f"flake rate {_percent(self.flake_probability)}"
        )
        if state == "fail":
            tail = f"broken (alpha {_percent(self.alpha)})"
        elif state == "pass":
            tail = f"good, failures are flakes (beta {_percent(self.beta)})"
        elif runs >= self.max_runs:
            tail = f"undecided, budget of {self.max_runs} runs spent"
        else:
            tail = "undecided, needs more runs"
        return SequentialDecision(state=state, runs=runs, failures=failures, log_likelihood_ratio=llr, reason=f"{head}: {tail}")


def flake_probability(
    passes: int, failures: int, *, prior_passes: float = 9.0, prior_failures: float = 1.0
) -> float:
    """Posterior mean flake rate from a good build's history (Beta prior, default ~10%)."""
    if passes < 0 or failures < 0:
        raise ValueError("passes and failures must not be negative")
    return (failures + prior_failures) / (passes + failures + prior_passes + prior_failures)


def _percent(value: float) -> str:
    return f"{value * 100:.3g}%"
