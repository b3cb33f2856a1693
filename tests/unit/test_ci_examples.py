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


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_example_commands_parse_and_publish_the_suite_junit(name: str) -> None:
    doc = yaml.safe_load((CI / name).read_text())
    lines = commands(doc)
    harness = [line for line in lines if line.startswith(".venv/bin/harness ")]
    assert harness, "the example runs no harness command"
    for line in harness:
        argv = [re.sub(r"\$\{?(\w+)\}?", "x", word) for word in shlex.split(line)[1:]]
        args = build_parser().parse_args(argv)  # exits 2 on an unknown flag
        assert args.command == "suite" and args.summary_md is not None
    assert any(f"results/{LATEST_SUITE}/junit.xml results/junit.xml" in line for line in lines)
    if name.startswith("github"):
        [step] = [s for s in doc["jobs"]["gate"]["steps"] if "junit-report" in s.get("uses", "")]
        published = step["with"]["report_paths"]
    else:
        published = doc["release-gate"]["artifacts"]["reports"]["junit"]
    assert published == "results/junit.xml"
    text = (CI / name).read_text()
    suite = re.search(r"(?:SUITE: |'|\|\| ')(nightly|smoke|weekly)", text)
    assert suite and (ROOT / "configs" / "suites" / f"{suite.group(1)}.yaml").is_file()


@pytest.mark.parametrize(("name", "schema"), [("github-actions.yml", "vendor.github-workflows"),
                                              ("gitlab-ci.yml", "vendor.gitlab-ci")])
def test_ci_example_matches_the_ci_systems_schema(name: str, schema: str) -> None:
    """The workflow/pipeline schemas GitHub and GitLab publish (vendored by check-jsonschema,
    so no network): a misspelt key or a wrong type fails here, not on the user's CI."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(checker), "--builtin-schema", schema, str(CI / name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
