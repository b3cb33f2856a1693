"""The CI examples in docs/ci stay true to the code: every harness command they run parses
with today's CLI, the suite they name exists, and the JUnit they publish is the file a
suite writes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import build_parser
from harness.gate.session import LATEST_SUITE

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "docs" / "ci"


def commands(doc: object) -> list[str]:
    """Every shell line of a workflow or job (GitHub `run:`, GitLab `script:`/`after_script:`)."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "run" and isinstance(value, str):
                found += value.splitlines()
            elif key in ("script", "after_script") and isinstance(value, list):
                found += [str(v) for v in value]
            else:
                found += commands(value)
    elif isinstance(doc, list):
        for item in doc:
            found += commands(item)
    return found




def _words(text: str) -> set[str]:
    return set(re.findall(r"([0-3])\) word=\"?(\w+)", text))


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_example_commands_parse_and_publish_the_suite_junit(name: str) -> None:
    doc = yaml.safe_load((CI / name).read_text())
    lines = commands(doc)
    harness = [line for line in lines if ".venv/bin/harness " in line]
    assert harness, "the example runs no harness command"
    for line in harness:
        words = shlex.split(line[line.index(".venv/bin/harness "):].split(";")[0])
        argv = [re.sub(r"\$\{?(\w+)\}?", "x", word) for word in words[1:]]
        args = build_parser().parse_args(argv)  # exits 2 on an unknown flag
        assert args.command == "suite" and args.summary_md is not None
    assert any(f"results/{LATEST_SUITE}/junit.xml results/junit.xml" in line for line in lines)
    if name.startswith("github"):
        [step] = [s for s in doc["jobs"]["gate"]["steps"] if "junit-report" in s.get("uses", "")]
        published = step["with"]["report_paths"]
    else:
        published = doc[".release-gate"]["artifacts"]["reports"]["junit"]
    assert published == "results/junit.xml"
    text = (CI / name).read_text()
    named = set(re.findall(r"(?:SUITE: |'|\{SUITE: )(presubmit|nightly|smoke|weekly)\b", text))
    assert {"presubmit", "nightly", "weekly"} <= named
    for suite in named:
        assert (ROOT / "configs" / "suites" / f"{suite}.yaml").is_file(), suite
    # exit codes in words, as the job summary / log line says them
    assert _words(text) == {("0", "pass"), ("1", "blocked"), ("2", "config"), ("3", "infra")}


def test_github_example_caches_retries_schedules_keeps_history_and_limits_concurrency() -> None:
    doc = yaml.safe_load((CI / "github-actions.yml").read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers and len(triggers["schedule"]) == 2
    assert doc["concurrency"]["group"] and "cancel-in-progress" in doc["concurrency"]
    steps = doc["jobs"]["gate"]["steps"]
    [cache] = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == ".venv" and "hashFiles('constraints.txt'" in cache["with"]["key"]
    [suite] = [s for s in steps if ".venv/bin/harness suite" in s.get("run", "")]
    script = suite["run"]
    assert 'if [ "$code" -ne 3 ]' in script and "for attempt in 1 2" in script  # exit 3 once more
    assert "GITHUB_STEP_SUMMARY" in script
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    history = [s for s in uploads if s["with"]["name"] == "harness-history"]
    assert history and history[0]["with"]["path"] == "results/history.sqlite"
    assert any("gh run download" in s.get("run", "") and "harness-history" in s["run"] for s in steps)
    selector = doc["jobs"]["gate"]["env"]["SUITE"]
    for cron in triggers["schedule"]:
        assert cron["cron"] in selector or "nightly" in selector


def test_gitlab_example_caches_retries_schedules_keeps_history_and_limits_concurrency() -> None:
    doc = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    base = doc[".release-gate"]
    assert base["retry"] == {"max": 1, "exit_codes": [3]}
    assert "constraints.txt" in base["cache"]["key"]["files"] and base["cache"]["paths"] == [".venv/"]
    assert base["resource_group"].startswith("release-gate")
    assert base["artifacts"]["when"] == "always" and "results/" in base["artifacts"]["paths"]
    assert any("history.sqlite" in line and "jobs/artifacts" in line for line in base["script"])
    jobs = {name: job for name, job in doc.items() if not name.startswith(".")}
    sources = {job["variables"]["SUITE"]: job["rules"][0]["if"] for job in jobs.values()}
    assert "merge_request_event" in sources["presubmit"]
    assert "schedule" in sources["nightly"] and "schedule" in sources["weekly"]
    assert all(job["extends"] == ".release-gate" for job in jobs.values())


@pytest.mark.parametrize(("name", "schema"), [("github-actions.yml", "vendor.github-workflows"),
                                              ("gitlab-ci.yml", "vendor.gitlab-ci")])
def test_ci_example_matches_the_ci_systems_schema(name: str, schema: str) -> None:
    """The workflow/pipeline schemas GitHub and GitLab publish (vendored by check-jsonschema,
    so no network): a misspelt key or a wrong type fails here, not on the user's CI."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(checker), "--builtin-schema", schema, str(CI / name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_examples_run_each_shipped_suite_at_its_frequency(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pull requests run presubmit, the schedules nightly and weekly: each suite file says
    it is meant for that frequency, so a suite renamed or repurposed breaks this test."""
    from harness.gate.suite_config import load_suite

    monkeypatch.chdir(ROOT)  # scenario paths in suites are relative to the project root
    gitlab = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    suites = {job["variables"]["SUITE"] for name, job in gitlab.items() if not name.startswith(".")}
    assert suites == {"presubmit", "nightly", "weekly"}
    for suite in suites:
        resolved = load_suite(ROOT / "configs" / "suites" / f"{suite}.yaml")
        assert resolved.suite.frequency == suite, (suite, resolved.suite.frequency)
