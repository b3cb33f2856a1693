"""The bisect's next step, derived from the runs so far (pure; no git, no cluster).

Commits are indexed oldest first: 0 is the good ref, n-1 the bad one. Everything the
search knows is each commit's run outcomes (True = the scenario passed), so the next
step is recomputed from them alone: resuming a stopped bisect is reading its runs back.

Order: (1) measure the flake rate on the good commit when none was given (its first
`measure_runs` runs, Beta-prior posterior mean, harness.gate.sequential.flake_probability);
(2) confirm the good commit passes and (3) the bad one fails; (4) binary search, each
probed commit decided pass or fail by Wald's SPRT (harness.gate.sequential).

The error bound: the search blames the wrong commit only if one of its decisions is
wrong. It takes at most ceil(log2(n-1)) + 2 decisions (two confirmations and the binary
search over the n-1 candidates), so giving each decision alpha and beta of
alpha_total / that number bounds a wrong blame by alpha_total (a union bound, with
Wald's approximations and a correct flake rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.gate.sequential import SequentialDecision, SequentialRule, flake_probability

DEFAULT_ALPHA = 0.05
DEFAULT_MAX_RUNS = 20
DEFAULT_MEASURE_RUNS = 5
DEFAULT_BROKEN_PROBABILITY = 0.9


def decisions_needed(n_commits: int) -> int:
    """Most decisions a bisect over n_commits (good and bad included) takes."""
    candidates = max(n_commits - 1, 1)
    return math.ceil(math.log2(candidates)) + 2


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What a bisect decides with: the flake rate (None: measure it) and the bounds."""

    n_commits: int
    alpha: float = DEFAULT_ALPHA
    flake: float | None = None
    broken_probability: float = DEFAULT_BROKEN_PROBABILITY
    max_runs: int = DEFAULT_MAX_RUNS
    measure_runs: int = DEFAULT_MEASURE_RUNS

    @property
    def per_decision_alpha(self) -> float:
        return self.alpha / decisions_needed(self.n_commits)

    def rule(self, flake: float) -> SequentialRule:
        per = self.per_decision_alpha
        return SequentialRule(flake_probability=flake, broken_probability=self.broken_probability,
                              alpha=per, beta=per, max_runs=self.max_runs)

    def expected_runs(self, flake: float) -> float:
        """Runs a bisect takes on average (Wald's ASN: half the probes good, half broken)."""
        rule = self.rule(flake)
        good, bad = rule.expected_runs(broken=False), rule.expected_runs(broken=True)
        search = decisions_needed(self.n_commits) - 2
        measured = self.measure_runs if self.flake is None else 0
        return max(measured, good) + bad + search * (good + bad) / 2

    def run_budget(self) -> int:
        """The most runs a bisect may take."""
        return decisions_needed(self.n_commits) * self.max_runs


@dataclass(frozen=True, kw_only=True)
class Step:
    """Run `probe` next, or stop: `outcome` is found / good_fails / bad_passes / undecided."""

    probe: int | None = None
    outcome: str | None = None
    blamed: int | None = None  # the first bad commit (outcome "found")
    last_good: int | None = None
    flake: float | None = None  # the flake rate the rule used (None while measuring)
    message: str = ""
    decisions: tuple[tuple[int, SequentialDecision], ...] = ()


def measured_flake(plan: Plan, good_runs: Sequence[bool]) -> float | None:
    if plan.flake is not None:
        return plan.flake
    if len(good_runs) < plan.measure_runs:
        return None
    first = good_runs[: plan.measure_runs]
    return flake_probability(sum(first), len(first) - sum(first))


def next_step(plan: Plan, runs: Sequence[Sequence[bool]]) -> Step:
    """runs[i]: the outcomes of commit i so far, oldest first."""
    n = plan.n_commits
    if len(runs) != n or n < 2:
        raise ValueError(f"expected outcomes for {n} commits (at least 2), got {len(runs)}")
    flake = measured_flake(plan, runs[0])
    if flake is None:
        return Step(probe=0, message="measuring the flake rate on the good commit")
    rule = plan.rule(flake)
    decided: list[tuple[int, SequentialDecision]] = []

    def judge(index: int, role: str) -> tuple[str, Step | None]:
        decision = rule.decide(runs[index])
        if decision.state == "undecided":
            if decision.runs < rule.max_runs:
                return "", Step(probe=index, flake=flake, decisions=tuple(decided))
            return "", Step(outcome="undecided", flake=flake, decisions=tuple(decided),
                            message=f"the {role} commit is undecided after {decision.runs} runs "
                                    f"(failed {decision.failures}): not a stable pass or failure")
        decided.append((index, decision))
        return decision.state, None

    state, stop = judge(0, "good")
    if stop is not None:
        return stop
    if state == "fail":
        return Step(outcome="good_fails", flake=flake, decisions=tuple(decided),
                    message=f"the good commit failed {_of(runs[0])} runs: it is not good "
                            f"at this confidence")
    state, stop = judge(n - 1, "bad")
    if stop is not None:
        return stop
    if state == "pass":
        return Step(outcome="bad_passes", flake=flake, decisions=tuple(decided),
                    message=f"the bad commit passed {_of(runs[n - 1], passes=True)} runs: "
                            f"not a stable failure")
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        state, stop = judge(mid, "probed")
        if stop is not None:
            return stop
        if state == "pass":
            lo = mid
        else:
            hi = mid
    return Step(outcome="found", blamed=hi, last_good=lo, flake=flake, decisions=tuple(decided),
                message=f"first bad commit: index {hi}")


def _of(outcomes: Sequence[bool], passes: bool = False) -> str:
    count = sum(1 for o in outcomes if o == passes)
    return f"{count} of {len(outcomes)}"
