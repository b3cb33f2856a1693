"""`harness bisect --setup`: each probed commit's dependency installed into a venv of its
own (cached), which the commit's replicas import from. --broken-rate 0.99: one run decides
each of the three commits (3 runs, not 5); every commit is still probed and set up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.fixtures.bisect_repo import make_repo
from tests.integration.test_bisect_run import SCENARIO

# Writes the app's dependency into the commit's venv: only --setup provides it.
SETUP = ("python -c \"import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], "
         "'bisect_dep.py').write_text('VALUE = 1')\"")


@pytest.mark.slow  # `make slow`: three runs plus a venv per commit (about 40 s)
def test_setup_installs_each_commits_dependency_into_a_cached_venv(tmp_path: Path, capsys) -> None:
    repo = tmp_path / "app"
    ids = make_repo(repo, commits=3, regression_at=2, bad_sleep_ms=150, imports="import bisect_dep")
    scenario = tmp_path / "latency.yaml"
    scenario.write_text(SCENARIO)
    results = tmp_path / "results"
    code = main(["bisect", str(scenario), "--repo", str(repo), "--good", ids[0], "--bad", ids[-1],
                 "--flake-rate", "0.01", "--broken-rate", "0.99", "--setup", SETUP, "--results", str(results), "--json",
                 "--no-history"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc["message"]
    assert doc["first_bad"]["sha"] == ids[2]
    probed = {c["sha"][:12] for c in doc["commits"] if c["runs"]}
    cached = {d.name.split("-")[0] for d in (results / "bisect-cache").iterdir()
              if (d / ".harness-setup.json").is_file()}
    assert cached == probed  # one venv per probed commit, set up once
    assert not (results / "history.sqlite").exists()
