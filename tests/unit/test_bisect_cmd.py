"""`harness bisect` without a cluster: the app resolved in a commit's worktree, bad input,
resuming, the setup cache and the report's shapes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.cluster.pool import reuse_key
from harness.gate.bisect import git
from harness.gate.bisect import setup as bisect_setup
from harness.gate.bisect.bisect_report import document, markdown, table_lines
from harness.gate.bisect.bisect_state import BisectState, Commit, RunRecord
from harness.gate.bisect.commit_run import scenario_for
from harness.gate.bisect.search import Step
from harness.gate.sequential import SequentialRule
from tests.fixtures.bisect_repo import make_repo

SCENARIO = """
name: bisect-unit
duration_s: 3
timeout_s: 60
cluster:
  nodes: [{name: head, num_cpus: 1, object_store_mb: 100}]
app: {import_path: "latency_app:app", python_path: [lib]}
slos:
  - {name: median latency, check: "p(50) < 30ms"}
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("bisect-cmd-repo")
    return path, make_repo(path, commits=6, regression_at=3)


def test_the_app_resolves_in_each_worktree_and_the_cluster_spec_stays_the_same(repo, tmp_path) -> None:
    path, ids = repo
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(SCENARIO)
    trees = [git.add_worktree(path, c, tmp_path / "wt" / c[:12]) for c in (ids[0], ids[-1])]
    try:
        assert "SLEEP_MS = 5" in (trees[0] / "latency_app.py").read_text()
        assert "SLEEP_MS = 60" in (trees[1] / "latency_app.py").read_text()
        loaded = [scenario_for(str(scenario_file), [], path, tree, ["/venv/site"]) for tree in trees]
        for tree, scenario in zip(trees, loaded, strict=True):
            env = scenario.app.serve_config.data["applications"][0]["runtime_env"]
            assert env["working_dir"] == f"local://{tree}"
            assert env["env_vars"]["PYTHONPATH"] == f"{tree / 'lib'}:/venv/site"
            assert scenario.python_path == []
        assert reuse_key(loaded[0]) == reuse_key(loaded[1])  # one shared cluster for every commit
        assert subprocess.run(["git", "-C", str(path), "status", "--porcelain"], capture_output=True,
                              text=True, check=True).stdout == ""  # the user's checkout untouched
    finally:
        for tree in trees:
            git.remove_worktree(path, tree)
    assert not any(t.exists() for t in trees)
    assert "wt" not in git.git(path, "worktree", "list")


def test_the_commit_range_is_first_parent_oldest_first(repo) -> None:
    path, ids = repo
    assert git.commit_range(path, ids[1], "main") == ids[1:]
    with pytest.raises(git.GitError, match="not an ancestor"):
        git.commit_range(path, ids[4], ids[2])
    with pytest.raises(git.GitError, match="same commit"):
        git.commit_range(path, ids[2], ids[2])


@pytest.mark.parametrize(("extra", "expected"), [
    (["--alpha", "0.7"], "--alpha 0.7: expected a probability between 0 and 0.5"),
    (["--flake-rate", "0.95"], "--flake-rate 0.95: expected 0 <= rate < --broken-rate (0.9)"),
    (["--max-runs", "0"], "--max-runs 0: expected 1 to 200"),
])
def test_bad_options_are_one_line_and_exit_2(repo, tmp_path, capsys, extra, expected) -> None:
    path, ids = repo
    code = main(["bisect", "x.yaml", "--repo", str(path), "--good", ids[0], "--bad", ids[-1], *extra])
    assert code == 2
    assert capsys.readouterr().err.strip() == expected


def test_refs_that_make_no_range_are_exit_2(repo, tmp_path, capsys) -> None:
    path, ids = repo
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(SCENARIO)
    code = main(["bisect", str(scenario_file), "--repo", str(path), "--good", ids[4], "--bad", ids[1]])
    assert code == 2
    assert "is not an ancestor of --bad" in capsys.readouterr().err
    code = main(["bisect", str(scenario_file), "--repo", str(path), "--good", "nope", "--bad", ids[1]])
    assert code == 2
    assert "git rev-parse" in capsys.readouterr().err


def test_a_stopped_bisect_with_other_settings_is_not_resumed(repo, tmp_path, capsys) -> None:
    path, ids = repo
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(SCENARIO)
    folder = tmp_path / "results" / f"bisect-bisect-unit-{ids[0][:8]}-{ids[-1][:8]}"
    _state(path, ids, str(scenario_file.resolve()), alpha=0.1).save(folder)
    code = main(["bisect", str(scenario_file), "--repo", str(path), "--good", ids[0], "--bad", ids[-1],
                 "--results", str(tmp_path / "results")])
    assert code == 2
    err = capsys.readouterr().err
    assert "a stopped bisect with other settings (alpha: stored 0.1, now 0.05" in err
    assert "--fresh starts over" in err


def _state(path: Path, ids: list[str], scenario_file: str = "s.yaml", alpha: float = 0.05) -> BisectState:
    return BisectState(
        scenario="bisect-unit", scenario_file=scenario_file, repo=str(path.resolve()), good=ids[0],
        bad=ids[-1], overrides=[], alpha=alpha, flake_arg=None, flake=0.1, flake_source="history",
        broken_probability=0.9, max_runs=20, measure_runs=5, setup=None,
        commits=[Commit(c, f"change {i}") for i, c in enumerate(ids)], started_at=0.0,
    )


def _run(passed: bool, ms: float) -> RunRecord:
    return RunRecord(status="passed" if passed else "failed", run_dir="/r", slos={
        "median latency": {"measured": ms, "passed": passed, "unit": "ms", "check": "p(50) < 30ms"}},
        metrics={"p50_ms": ms})


def test_the_report_names_the_commit_and_the_slo_change_within_80_columns(repo) -> None:
    path, ids = repo
    state = _state(path, ids)
    for i, commit in enumerate(state.commits):
        if i in (0, 2, 3, 5):
            commit.runs = [_run(i < 3, 6.0 + i if i < 3 else 61.0 + i) for _ in range(3)]
    rule = SequentialRule(flake_probability=0.1, alpha=0.05 / 5, beta=0.05 / 5, max_runs=20)
    decisions = tuple((i, rule.decide(state.commits[i].outcomes())) for i in (0, 5, 2, 3))
    step = Step(outcome="found", blamed=3, last_good=2, flake=0.1, decisions=decisions, message="first bad")
    doc = document(state, step, 0)
    assert doc["first_bad"]["sha"] == ids[3] and doc["last_good"]["sha"] == ids[2]
    change = doc["slo_changes"][0]
    assert change["last_good"] == 8.0 and change["first_bad"] == 64.0
    assert change["change"] == 56.0 and change["change_pct"] == 700.0
    assert change["last_good_passed"] == "3/3" and change["first_bad_passed"] == "0/3"
    assert [c["decision"] for c in doc["commits"]] == ["pass", None, "pass", "fail", None, "fail"]
    lines = table_lines(doc)
    assert max(map(len, lines)) <= 80
    assert " ".join(lines[:2]) == (f"bisect bisect-unit: first bad commit {ids[3][:12]} change 3 (last good"
                                   f"   {ids[2][:12]})")
    assert any("+56 (+700%)" in line for line in lines)
    text = markdown(doc)
    assert f"**First bad commit: `{ids[3][:12]}` change 3**" in text
    assert "| median latency | 8 ms | 64 ms | +56 (+700%) | 3/3 -> 0/3 |" in text
    json.dumps(doc)  # --json prints it


def test_setup_runs_once_per_commit_in_its_worktree(tmp_path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "marker").write_text("x")
    command = 'test -f marker && echo "$HARNESS_BISECT_COMMIT" >> "$VIRTUAL_ENV/../calls"'
    log = tmp_path / "setup.log"
    first = bisect_setup.prepare(tmp_path / "results", "a" * 40, command, tree, log)
    again = bisect_setup.prepare(tmp_path / "results", "a" * 40, command, tree, log)
    assert first == again and first.is_dir()
    calls = bisect_setup.cache_dir(tmp_path / "results", "a" * 40, command) / "calls"
    assert calls.read_text().split() == ["a" * 40]  # cached: the second call ran nothing
    with pytest.raises(bisect_setup.SetupError, match="exited 1"):
        bisect_setup.prepare(tmp_path / "results", "b" * 40, "exit 1", tree, log)


def test_the_flake_rate_from_history_counts_flaky_attempts_not_failed_results(tmp_path) -> None:
    from harness.gate.bisect.cmd import history_flake
    from harness.gate.history import History, StoredResult

    history = History(tmp_path / "history.sqlite")
    for status, attempts in [("passed", 1)] * 8 + [("flaky", 2)] * 2 + [("failed", 3)] * 3:
        history.record(StoredResult(scenario="s", status=status, attempts=attempts, suite="nightly"))
    history.record(StoredResult(scenario="s", status="failed", suite="bisect"))
    flake, source = history_flake(tmp_path / "history.sqlite", "s")
    assert flake == pytest.approx((2 + 1) / (12 + 10))  # 10 passes, 2 flaky failures, Beta(1, 9)
    assert source == "history: 2 flaky failures in 12 runs"
    assert history_flake(tmp_path / "history.sqlite", "other") is None  # too few runs: measure
