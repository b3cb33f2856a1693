"""Machine-readable and CI-facing output without a cluster: `--json` (one document on
stdout, human text on stderr), `--version`, `schema`, `init`, the Markdown step summary,
`history` across labels, and `compare` on run folders copied elsewhere."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.cli import main
from harness.gate.history import History, StoredResult
from harness.model.outcome import RunOutcome, Verdict
from harness.report.markdown import STEP_SUMMARY_ENV, publish, run_markdown, suite_markdown
from tests.synthetic_run import make_run

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "configs" / "scenarios").glob("*.yaml"))


def json_out(capfd: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    out, err = capfd.readouterr()
    return json.loads(out), err  # the whole of stdout is one document


def test_version_names_harness_ray_and_python(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capfd.readouterr().out
    assert out.startswith("harness 0.1.0 (ray ") and "python 3." in out


def test_validate_json_ok_and_invalid(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "configs/scenarios/smoke.yaml").read_text().replace("users: 4", "userz: 4"))
    assert main(["validate", "--json", str(SCENARIOS[0]), str(bad)]) == 2
    doc, err = json_out(capfd)
    assert doc["command"] == "validate" and doc["ok"] is False
    assert [f["ok"] for f in doc["files"]] == [True, False]
    assert doc["files"][0]["slos"] >= 1
    [line] = doc["files"][1]["errors"]
    assert line.startswith(f"{bad}: load.userz: expected no such key")
    assert line in err and "ok (" in err  # the human text went to stderr


def test_run_json_on_invalid_config_is_one_document(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--json", str(ROOT / "configs/scenarios/smoke.yaml"), "--results", str(tmp_path),
                 "--set", "app.builtin.latency.ms=2000"])
    assert code == 2
    doc, err = json_out(capfd)
    assert doc == {"command": "run", "status": "invalid", "exit_code": 2, "errors": [err.strip()]}
    assert "app.builtin.latency: expected max_ms >= ms" in err


def test_schema_accepts_every_shipped_scenario_and_rejects_unknown_keys(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capfd.readouterr().out)
    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in SCENARIOS:
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    smoke = yaml.safe_load((ROOT / "configs/scenarios/smoke.yaml").read_text())
    smoke["load"]["userz"] = 4
    [error] = list(validator.iter_errors(smoke))
    assert list(error.path) == ["load"] and "userz" in error.message


def test_init_writes_a_commented_scenario_that_validates(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "checkout.yaml"
    assert main(["init", str(target)]) == 0
    text = target.read_text()
    assert text.count("#") > 10 and "name: checkout" in text
    assert (tmp_path / "scenario.schema.json").is_file()
    capfd.readouterr()
    assert main(["validate", "--json", str(target)]) == 0
    doc, _ = json_out(capfd)
    assert doc["files"][0]["scenario"] == "checkout"
    assert main(["init", str(target)]) == 2  # never overwrites without --force
    assert "expected a new file" in capfd.readouterr().err


def _outcome(passed: bool) -> RunOutcome:
    run = RunOutcome(run_id="r9", scenario_name="smoke", scenario_file="configs/scenarios/smoke.yaml", seed=3, run_dir="results/r9", started_at=0.0, ended_at=1.0)
    run.verdicts = [
        Verdict(name="requests succeed", check="success_ratio >= 99%", window="load", passed=True, measured=1.0, bound=0.99, op=">=", unit="ratio", message="met"),
        Verdict(name="p99 | latency", check="p(99) < 1000ms", window="load", passed=passed, measured=2003.0, bound=1000.0, op="<", unit="ms",
                message="p(99) < 1000ms violated: measured 2003.0ms, expected below 1000.0ms in window 'load' (15.0s)"),
    ]
    return run


def test_run_markdown_has_table_why_line_and_reproduce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    md = run_markdown(_outcome(passed=False))
    assert "### ❌ smoke: failed (exit 1)" in md
    assert "| p99 \\| latency | load | 2003.0ms |  | < 1000.0ms | **FAIL** |" in md  # a | in a name is escaped
    assert "- **p99 | latency**: p(99) < 1000ms violated: measured 2003.0ms" in md
    assert "```\nharness reproduce results/r9\n```" in md
    assert "reproduce" not in run_markdown(_outcome(passed=True)).lower()
    # --summary-md FILE, and GitHub's step summary appended to (never replaced) when set
    step = tmp_path / "step.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(step))
    written = publish(md, tmp_path / "out.md")
    assert written == [tmp_path / "out.md", step]
    assert (tmp_path / "out.md").read_text() == md
    assert step.read_text() == "earlier step\n" + md + "\n"


def test_suite_markdown_names_blocking_scenarios_and_reproduce() -> None:
    summary = {
        "suite": "nightly", "verdict": "blocked", "exit_code": 1,
        "scenarios": [
            {"name": "smoke", "status": "failed", "attempts": [{"reproduce": "harness reproduce a"},
                                                              {"reproduce": "harness reproduce b"}],
             "state": "failing", "blocking": True, "reasons": ["failed on every attempt: p99 latency"],
             "notes": [], "skipped_reason": None},
            {"name": "chaos", "status": "flaky", "attempts": [{"reproduce": "x"}, {"reproduce": "y"}],
             "state": "flaky", "blocking": False, "reasons": [], "notes": [], "skipped_reason": None},
            {"name": "jailed", "status": "failed", "attempts": [{"reproduce": "z"}], "state": "quarantined",
             "blocking": False, "reasons": [], "notes": ["quarantined (slow; owner serve): failed"],
             "skipped_reason": None},
        ],
    }
    md = suite_markdown(summary)
    assert md.startswith("### ❌ suite nightly: blocked (exit 1)")
    assert "| smoke | ❌ failed | 2 | failing | **yes** |" in md
    assert "| chaos | 🟡 flaky | 2 | flaky | no |" in md
    assert "- **smoke** blocks: failed on every attempt: p99 latency" in md
    assert "- jailed does not block: quarantined (slow; owner serve): failed" in md
    assert "```\nharness reproduce b\n```" in md  # the final attempt's command


def _history(path: Path) -> None:
    history = History(path)
    now = time.time() - 1000
    for i, (label, status, p99, ray) in enumerate([
        ("v1.0", "passed", 10.0, "2.59.0"), ("v1.0", "passed", 12.0, "2.59.0"),
        ("v1.1", "failed", 50.0, "2.60.0"), ("v1.1", "passed", 14.0, "2.60.0"),
    ]):
        history.record(StoredResult(
            scenario="smoke", status=status, suite="nightly", suite_run=f"run-{i}", started_at=now + i,
            metrics={"p50_ok_ms": p99 / 2, "p99_ok_ms": p99, "ok_rps": 80.0}, label=label,
            versions={"ray": ray, "harness": "0.1.0", "app": "builtin-0.1.0"},
        ))


def test_history_json_and_across_labels(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "history.sqlite"
    _history(db)
    assert main(["history", "--json", "--history", str(db)]) == 0
    doc, err = json_out(capfd)
    [row] = doc["scenarios"]
    assert row["scenario"] == "smoke" and row["results"] == ["passed", "passed", "failed", "passed"]
    assert row["last_label"] == "v1.1" and row["last_versions"]["ray"] == "2.60.0"
    assert row["p99_ok_baseline_ms"] == 12.0  # median of the passing runs' p99
    assert "smoke" in err
    assert main(["history", "smoke", "--by-label", "--json", "--history", str(db)]) == 0
    doc, err = json_out(capfd)
    assert [(r["label"], r["results"], r["p99_ok_ms"], r["ray"]) for r in doc["labels"]] == [
        ("v1.0", ["passed", "passed"], 11.0, "2.59.0"), ("v1.1", ["failed", "passed"], 14.0, "2.60.0")]
    assert "v1.1" in err and "FP" in err
    assert main(["history", "--label", "v1.0", "--json", "--history", str(db)]) == 0
    assert json_out(capfd)[0]["scenarios"][0]["results"] == ["passed", "passed"]
    assert main(["history", "--by-label", "--history", str(db)]) == 2  # needs one scenario


def test_history_of_an_older_file_gains_label_and_versions(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.sqlite"
    History(db)
    with sqlite3.connect(db) as conn:  # a version-1 file: without the two columns
        conn.execute("ALTER TABLE results DROP COLUMN label")
        conn.execute("ALTER TABLE results DROP COLUMN versions")
        conn.execute("INSERT INTO results (suite, suite_run, scenario, config_hash, started_at, status,"
                     " attempts, blocking, quarantined, metrics, failed_slos, run_dirs)"
                     " VALUES ('s', 'r', 'old', 'h', 1.0, 'passed', 1, 0, 0, '{}', '[]', '[]')")
    [old] = History(db).results("old")
    assert (old.label, old.versions) == ("", {})


def test_compare_two_run_folders_copied_elsewhere(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    a = make_run(tmp_path / "ci", name="smoke", seed=7)
    b = make_run(tmp_path / "ci", name="smoke", seed=8)
    summary = json.loads((b / "summary.json").read_text())
    summary["config"]["duration_s"] = 60
    summary["versions"]["app"] = "shop 2.0"
    summary["artifacts"] = {"chaos_results": [{"id": "fault-1", "fault": "kill_raylet", "outcome": "injected",
                                               "targets": [{"node": "a40-node"}], "noticed_after_s": 1.6}]}
    (b / "summary.json").write_text(json.dumps(summary))
    downloaded = tmp_path / "downloads"
    shutil.copytree(a, downloaded / "a")
    shutil.copytree(b, downloaded / "b")
    shutil.rmtree(tmp_path / "ci")  # nothing may be read from where the runs were made
    assert main(["compare", "--json", str(downloaded / "a"), str(downloaded / "b")]) == 0
    doc, err = json_out(capfd)
    assert [s["slo"] for s in doc["slos"]] == ["requests succeed", "p99 latency", "recovers after load"]
    p99 = next(s for s in doc["slos"] if s["slo"] == "p99 latency")
    assert p99["a"]["measured"] != p99["b"]["measured"] and p99["change"].endswith("%")
    metrics = {m["metric"]: m for m in doc["metrics"]}
    assert {"p50_ms", "p99_ms", "p99_ok_ms", "ok_rps", "sent_rps", "success_ratio", "requests"} <= set(metrics)
    assert metrics["requests"]["a"] != metrics["requests"]["b"]
    assert doc["chaos"] == [{"shot": 1, "fault": "kill_raylet", "a": None,
                             "b": summary["artifacts"]["chaos_results"][0], "a_text": "absent",
                             "b_text": "injected on a40-node, noticed 1.6s"}]
    assert {"key": "duration_s", "a": 30, "b": 60} in doc["config_differences"]
    assert doc["b"]["versions"]["app"] == "shop 2.0"
    assert "p99 latency" in err and "duration_s: 30 -> 60" in err
    assert main(["compare", str(downloaded / "a"), str(tmp_path / "nothing")]) == 2
