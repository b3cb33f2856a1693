"""One run of the scenario against one commit's worktree, on the bisect's shared cluster.

The scenario file stays the yardstick (the same SLOs for every commit); the app comes
from the commit's worktree:
- relative paths in `app.config` and `app.python_path` are taken from the repository
  root, so they point into the worktree (absolute paths inside --repo are moved there too);
- every Serve application gets the worktree as its `runtime_env.working_dir` (a
  `local://` URI, unless the config file sets its own), so `app.import_path` resolves in
  the worktree, and `app.python_path` (plus a --setup venv) becomes the application's
  PYTHONPATH instead of the cluster's. The cluster's spec is then the same for every
  commit and one cluster serves them all (harness.cluster.pool); each commit's
  replicas start in workers of their own runtime env, so no module of another commit
  is cached in them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.cluster.pool import ClusterPool
from harness.gate.bisect import setup as bisect_setup
from harness.gate.bisect.bisect_state import RunRecord
from harness.gate.bisect.git import add_worktree, remove_worktree
from harness.model.errors import ConfigError
from harness.model.scenario import Scenario
from harness.scenario.loader import load_scenario, seed_override


def in_worktree(value: str, repo: Path, worktree: Path) -> str:
    path = Path(value)
    if not path.is_absolute():
        return str(worktree / path)
    try:
        return str(worktree / path.resolve().relative_to(repo.resolve()))
    except ValueError:
        return value  # outside the repository: the same for every commit


def scenario_for(scenario_file: str, overrides: list[str], repo: Path, worktree: Path,
                 extra_paths: list[str]) -> Scenario:
    """The scenario with its app resolved in `worktree`; raises ConfigError."""
    moved: list[str] = []

    def rewrite(data: dict[str, Any]) -> None:
        app = data.get("app")
        if not isinstance(app, dict):
            return
        if isinstance(app.get("config"), str):
            app["config"] = in_worktree(app["config"], repo, worktree)
        paths = app.pop("python_path", None) or []
        if isinstance(paths, list):
            moved.extend(in_worktree(str(p), repo, worktree) for p in paths)

    scenario = load_scenario(scenario_file, overrides, rewrite=rewrite)
    if scenario.app is not None:
        for application in scenario.app.serve_config.data.get("applications") or []:
            application["runtime_env"] = runtime_env(application.get("runtime_env"), worktree,
                                                     moved + extra_paths)
    return scenario


def runtime_env(env: Any, worktree: Path, python_path: list[str]) -> dict[str, Any]:
    env = dict(env) if isinstance(env, dict) else {}
    env.setdefault("working_dir", f"local://{worktree}")
    if python_path:
        env_vars = dict(env.get("env_vars") or {})
        own = env_vars.get("PYTHONPATH")
        env_vars["PYTHONPATH"] = os.pathsep.join([*python_path, *([own] if own else [])])
        env["env_vars"] = env_vars
    return env


class CommitRunner:
    """Runs the scenario on a commit: its worktree, its --setup venv, the shared cluster."""

    def __init__(self, *, repo: Path, scenario_file: str, overrides: list[str], folder: Path,
                 results_root: Path, setup: str | None, console: Console, pool: ClusterPool,
                 base_seed: int):
        self.base_seed = base_seed  # run k of a commit uses seed base_seed + k
        self.repo, self.scenario_file, self.overrides = repo, scenario_file, overrides
        self.folder, self.results_root, self.setup = folder, results_root, setup
        self.console, self.pool = console, pool
        self.worktrees: dict[str, Path] = {}

    def worktree(self, commit: str) -> Path:
        # One worktree at a time: a commit is probed until it is decided, then the next.
        for other in [c for c in self.worktrees if c != commit]:
            self.remove(other)
        if commit not in self.worktrees:
            self.worktrees[commit] = add_worktree(self.repo, commit, self.folder / "worktrees" / commit[:12])
        return self.worktrees[commit]

    def remove(self, commit: str) -> None:
        path = self.worktrees.pop(commit, None)
        if path is not None:
            remove_worktree(self.repo, path)

    def close(self) -> None:
        for commit in list(self.worktrees):
            self.remove(commit)
        left = self.folder / "worktrees"  # a bisect killed before its cleanup left these
        for path in sorted(left.iterdir()) if left.is_dir() else []:
            remove_worktree(self.repo, path)

    def __call__(self, index: int, commit: str, number: int) -> RunRecord:
        from harness.report.run_results import RunResults
        from harness.run.runner import Runner  # imports Ray

        tree = self.worktree(commit)
        extra: list[str] = []
        try:
            if self.setup:
                log = self.folder / "setup" / f"{commit[:12]}.log"
                extra.append(str(bisect_setup.prepare(self.results_root, commit, self.setup, tree, log)))
            overrides = [*self.overrides, *seed_override(self.base_seed + number)]
            scenario = scenario_for(self.scenario_file, overrides, self.repo, tree, extra)
        except bisect_setup.SetupError as exc:
            return RunRecord(status="error", error=str(exc))
        except ConfigError as exc:
            return RunRecord(status="error", error=f"at {commit[:12]}: {' '.join(exc.lines)}")
        runner = Runner(scenario=scenario, scenario_file=self.scenario_file, results_root=self.folder / "runs",
                        reporter=RunResults(), overrides=overrides,
                        console=self.console, pool=self.pool)
        runner.ctx.artifacts.bisect_commit = commit
        outcome = runner.run()
        if outcome.error_kind == "interrupted":
            raise KeyboardInterrupt  # stopped by the user: no verdict, the bisect stops and saves
        metrics = outcome.key_metrics if outcome.error is None else {}
        return RunRecord(
            status=outcome.status, run_dir=outcome.run_dir,
            seconds=round(outcome.ended_at - outcome.started_at, 3) if outcome.ended_at else 0.0,
            error=outcome.error or "",
            slos={v.name: {"measured": v.measured, "passed": v.passed, "unit": v.unit, "check": v.check}
                  for v in outcome.verdicts},
            metrics=metrics,
        )
