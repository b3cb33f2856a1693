"""`harness bisect`'s search against a fake runner on a generated 16-commit repository.

The app's sleep goes from 5 ms to 60 ms at one commit; the fake runner fails a run when
the commit's latency breaks the SLO (p50 < 30 ms) and, on every commit, at random 10% of
the time. The flake rate is not given: the bisect measures it on the good commit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.gate.bisect import git
from harness.gate.bisect.bisect_state import BisectState, Commit, RunRecord
from harness.gate.bisect.driver import drive
from harness.gate.bisect.search import Plan, decisions_needed, next_step
from tests.fixtures.bisect_repo import make_repo, sleep_ms_at

FLAKE = 0.10
SLO_MS = 30.0
TRIALS = 200
REGRESSION_AT = 11


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("bisect-repo")
    return path, make_repo(path, commits=16, regression_at=REGRESSION_AT)


def _simulate(plan: Plan, broken: np.ndarray, seed: int) -> tuple[int | None, int, str]:
    """One bisect: (blamed index, runs used, outcome). Draws are made up front, seeded."""
    rng = np.random.default_rng(seed)
    n = len(broken)
    budget = plan.max_runs + plan.measure_runs
    fails = (rng.random((n, budget)) < FLAKE) | broken[:, None]
    runs: list[list[bool]] = [[] for _ in range(n)]
    while (step := next_step(plan, runs)).probe is not None:
        i = step.probe
        runs[i].append(not bool(fails[i, len(runs[i])]))
    return step.blamed, sum(map(len, runs)), step.outcome or ""


def test_the_right_commit_is_named_in_95_percent_of_200_seeded_trials(repo, capsys) -> None:
    path, ids = repo
    commits = git.commit_range(path, ids[0], ids[-1])
    assert commits == ids  # first-parent, oldest first, good and bad included
    broken = np.array([sleep_ms_at(path, c) >= SLO_MS for c in commits])
    assert np.flatnonzero(broken)[0] == REGRESSION_AT
    plan = Plan(n_commits=len(commits), alpha=0.05)  # flake rate measured on the good commit
    assert decisions_needed(len(commits)) == 6  # log2(15) -> 4 probes, plus two confirmations
    results = [_simulate(plan, broken, seed) for seed in range(TRIALS)]
    right = sum(1 for blamed, _, _ in results if blamed == REGRESSION_AT)
    used = np.array([r for _, r, _ in results])
    assert right >= 0.95 * TRIALS, f"right commit in {right} of {TRIALS}"
    assert used.max() <= plan.run_budget()
    # Wald's average sample numbers predict the mean within a few runs.
    assert abs(used.mean() - plan.expected_runs(FLAKE)) < 6
    with capsys.disabled():
        print(f"\nbisect simulation: right commit {right}/{TRIALS}, runs mean {used.mean():.1f} "
              f"(max {used.max()}, budget {plan.run_budget()}, expected {plan.expected_runs(FLAKE):.1f})")


def test_a_bad_commit_that_mostly_passes_is_not_a_stable_failure() -> None:
    plan = Plan(n_commits=8, flake=0.1)
    runs: list[list[bool]] = [[True] * 5] + [[] for _ in range(6)] + [[True, False, True, True, True]]
    step = next_step(plan, runs)
    assert step.outcome == "bad_passes"
    assert step.message == "the bad commit passed 4 of 5 runs: not a stable failure"


def test_a_good_commit_that_fails_stops_the_bisect() -> None:
    plan = Plan(n_commits=4, flake=0.05)
    step = next_step(plan, [[False, False, False], [], [], []])
    assert step.outcome == "good_fails"
    assert "the good commit failed 3 of 3 runs" in step.message


def test_a_commit_that_never_settles_is_undecided() -> None:
    plan = Plan(n_commits=4, flake=0.3, broken_probability=0.6, max_runs=6)
    step = next_step(plan, [[True, False] * 3, [], [], []])
    assert step.outcome == "undecided"
    assert "undecided after 6 runs" in step.message


def test_the_driver_saves_after_every_run_and_resumes(repo, tmp_path: Path) -> None:
    path, ids = repo
    commits = git.commit_range(path, ids[3], ids[14])  # 12 commits, the regression 8th
    broken = [sleep_ms_at(path, c) >= SLO_MS for c in commits]
    state = BisectState(
        scenario="s", scenario_file="s.yaml", repo=str(path), good=commits[0], bad=commits[-1],
        overrides=[], alpha=0.05, flake_arg=0.1, flake=0.1, flake_source="--flake-rate",
        broken_probability=0.9, max_runs=20, measure_runs=5, setup=None,
        commits=[Commit(c, git.subject(path, c)) for c in commits], started_at=0.0,
    )
    rng = np.random.default_rng(7)
    calls: list[int] = []

    def fake(index: int, sha: str, _number: int) -> RunRecord:
        calls.append(index)
        if len(calls) == 4:
            raise KeyboardInterrupt  # stopped mid-bisect
        failed = broken[index] or rng.random() < FLAKE
        return RunRecord(status="failed" if failed else "passed", slos={
            "latency": {"measured": sleep_ms_at(path, sha), "passed": not broken[index]}})

    with pytest.raises(KeyboardInterrupt):
        drive(state, tmp_path, fake)
    saved = BisectState.load(tmp_path)
    assert saved is not None and saved.total_runs() == 3  # every finished run was saved
    calls.append(-1)  # the stop is behind us
    step = drive(saved, tmp_path, fake)
    assert step.outcome == "found"
    assert commits[step.blamed] == ids[REGRESSION_AT]
    assert BisectState.load(tmp_path).total_runs() == saved.total_runs()


def test_errors_stop_the_bisect_after_two_on_one_commit() -> None:
    state = BisectState(
        scenario="s", scenario_file="s.yaml", repo="r", good="a", bad="b", overrides=[],
        alpha=0.05, flake_arg=0.1, flake=0.1, flake_source="--flake-rate", broken_probability=0.9,
        max_runs=20, measure_runs=5, setup=None, commits=[Commit("a" * 40, ""), Commit("b" * 40, "")],
        started_at=0.0,
    )
    step = drive(state, None, lambda i, s, n: RunRecord(status="error", error="cluster lost"))
    assert step.outcome == "error"
    assert "2 infrastructure errors, the last: cluster lost" in step.message
