"""`harness validate` on suites, Serve config warnings and --strict, user code with a time limit (issue 21)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.load.traffic import IMPORT_TIMEOUT_ENV

ROOT = Path(__file__).resolve().parents[2]
TYPO_CONFIG = str(ROOT / "tests/unit/mistakes/serve_config/_support/num_replicaz.serve.yaml")
SCENARIO = f"""name: typo
duration_s: 10
cluster:
  nodes: [{{name: head, num_cpus: 2}}]
app: {{config: {TYPO_CONFIG}}}
slos: [{{check: "success_ratio >= 99%"}}]
"""


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_unknown_serve_keys_warn_and_strict_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.yaml"
    # Paths resolve against the scenario's folder (issue 26): name the config from there.
    scenario.write_text(SCENARIO.replace(TYPO_CONFIG, os.path.relpath(ROOT / TYPO_CONFIG, tmp_path)))
    assert main(["validate", str(scenario)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ")
    assert "num_replicaz.serve.yaml: applications.0.deployments.0.num_replicaz: did you mean num_replicas?" in err[0]
    assert main(["validate", "--strict", str(scenario)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{scenario}: app.config: ")
    assert err[0].endswith("num_replicaz.serve.yaml: applications.0.deployments.0.num_replicaz: did you mean "
                           "num_replicas? (expected a key Ray's DeploymentSchema knows: Ray ignores others, and "
                           "--strict refuses them)")


def test_shipped_suites_validate_as_suites(capsys: pytest.CaptureFixture[str]) -> None:
    suites = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs" / "suites").glob("*.yaml"))
    assert main(["validate", *suites, "configs/release/seeded.yaml"]) == 0
    out = capsys.readouterr().out
    assert "configs/suites/nightly.yaml: ok (suite nightly," in out
    assert "configs/release/seeded.yaml: ok (suite seeded-regressions, " in out


def test_a_blocking_user_module_is_one_line_within_the_limit(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(IMPORT_TIMEOUT_ENV, "1.5")
    started = time.monotonic()
    code = main(["validate", "tests/unit/mistakes/user_code/import_blocks.yaml"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].endswith("load.user_class: importing 'tests.unit.mistakes.user_code._support.blocking' "
                           "took longer than 1.5 s")
    assert elapsed < 10  # the limit, not the module's 600 s sleep
