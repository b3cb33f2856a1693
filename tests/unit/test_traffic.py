"""Request mixes and user classes: validation against the Serve config, seeded choices and bodies,
per-request SLOs."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from harness.load.traffic import resolve_requests
from harness.measure.timeline import Timeline
from harness.model.errors import ConfigError
from harness.model.scenario import SLOSpec
from harness.scenario.loader import load_scenario
from harness.slo.core import evaluate
from locustfiles.request_mix import RequestMix
from locustfiles.schedule import request_sequence

ROOT = Path(__file__).resolve().parents[2]
MIX = ROOT / "configs" / "apps" / "mix.yaml"
USER_CLASS = ROOT / "configs" / "apps" / "user_class.yaml"


def errors(path: Path, overrides: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, overrides)
    return info.value.lines


@pytest.mark.parametrize(("override", "expected"), [
    ("load.requests.0.app=nope", "load.requests.0.app: expected an app of the Serve config (api, predict), got 'nope'"),
    ("load.requests.2={name: x, path: /elsewhere}",
     "load.requests.2.path: expected a path under a route_prefix of the Serve config (/api, /predict)"),
    ("load.requests.0.body_template.prompt={gauss: 1}",
     "load.requests.0.body_template.prompt: expected one of choice, int, float, line_of, value as the field's kind"),
    ("load.requests.0.body_template.max_tokens={int: [9, 2]}",
     "load.requests.0.body_template.max_tokens.int: expected [low, high] ints with low <= high"),
    ("load.requests.0.body_template.prompt={line_of: nope.txt}",
     "load.requests.0.body_template.prompt.line_of: expected an existing text file"),
    ("load.requests.1.name=predict", "load.requests.1.name: expected a name used once"),
    ("load.requests.0.timeout_s=60", "load.requests.0.timeout_s: expected at most load.request_timeout_s (10)"),
    ("slos.0.request=nope", "slos.0.request: expected a request of load.requests (predict, bad-body, echo)"),
    ("slos.5.request=echo", "slos.5.request: expected a request metric (max_replicas is about replicas)"),
    ("slos.5.check=max_replicas(nope/Echo) <= 2", "slos.5.check: expected an app of the Serve config in 'nope/Echo'"),
    ("load.user_class=configs.apps.users:ShopperUser", "load.user_class: expected load.requests or load.user_class"),
])
def test_bad_traffic_is_one_line_naming_the_key(override: str, expected: str) -> None:
    lines = errors(MIX, [override])
    assert any(line.startswith(f"{MIX}: {expected}") for line in lines), lines


def test_a_bare_deployment_name_two_apps_have_must_name_its_app(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "applications:\n"
        "  - {name: a, route_prefix: /a, import_path: m:app, deployments: [{name: Echo}]}\n"
        "  - {name: b, route_prefix: /b, import_path: m:app, deployments: [{name: Echo}]}\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: s\nduration_s: 5\ncluster: {{nodes: [{{name: h, num_cpus: 1}}]}}\n"
                        f"app: {{config: {config}}}\nslos: [{{check: 'max_replicas(Echo) <= 4'}}]\n")
    assert errors(scenario, []) == [
        f"{scenario}: slos.0.check: expected App/Deployment for 'Echo', which several apps have (a/Echo, b/Echo)"]
    assert load_scenario(scenario, ["slos.0.check=max_replicas(b/Echo) <= 4"]).slos[0].check


@pytest.mark.parametrize(("user_class", "expected"), [
    ("tests.fixtures.apps.users:NotAUser", "expected a Locust HttpUser or FastHttpUser subclass"),
    ("tests.fixtures.apps.nope:X", "expected an importable module 'tests.fixtures.apps.nope'"),
    ("tests.fixtures.apps.users:Missing", "expected a class 'Missing'"),
    ("not a path", "expected 'pkg.module:ClassName'"),
])
def test_a_user_class_that_is_not_a_locust_user_is_one_line(user_class: str, expected: str) -> None:
    lines = errors(USER_CLASS, [f"load.user_class={user_class}"])
    assert len(lines) == 1 and lines[0].startswith(f"{USER_CLASS}: load.user_class: {expected}"), lines


def test_a_requests_user_and_a_fast_user_both_pass() -> None:
    assert load_scenario(USER_CLASS, ["load.user_class=tests.fixtures.apps.users:RequestsUser"]).load.user_class


def test_the_same_seed_sends_the_same_sequence_of_requests_and_another_seed_does_not() -> None:
    weights = [3.0, 1.0, 2.0]
    first = request_sequence(weights, 7, 600)
    assert first == request_sequence(weights, 7, 600)
    assert first != request_sequence(weights, 8, 600)
    counts = Counter(first)
    assert 0.4 < counts[0] / 600 < 0.6 and 0.1 < counts[1] / 600 < 0.25  # 3:1:2 of 600 is 300:100:200


def test_paths_resolve_under_their_apps_and_line_files_are_read_once() -> None:
    resolved = {r["name"]: r for r in resolve_requests(load_scenario(MIX))}
    assert resolved["predict"]["path"] == "/predict" and resolved["echo"]["path"] == "/api"
    assert resolved["predict"]["template"]["prompt"][0] == "choice"
    assert len(resolved["predict"]["template"]["prompt"][1]) == 5  # the lines of prompts.txt
    assert json.loads(resolved["bad-body"]["body"]) == {"prompt": "no max_tokens"}
    assert resolved["predict"]["expect"] == [200] and resolved["echo"]["expect"] is None


def test_the_legacy_path_is_one_request_under_the_apps_route(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "configs" / "scenarios" / "smoke.yaml",
                             ["app.route_prefix=/svc", "load.path=/x", "load.method=POST"])
    assert [(r["name"], r["method"], r["path"]) for r in resolve_requests(scenario)] == [("default", "POST", "/svc/x")]


def test_body_templates_are_drawn_from_the_seed() -> None:
    mix = RequestMix(resolve_requests(load_scenario(MIX)))
    predict = next(r for r in mix.requests if r.name == "predict")
    bodies = [json.loads(predict.body_for(random.Random(3))) for _ in range(2)]
    assert bodies[0] == bodies[1]
    many = [json.loads(predict.body_for(rng)) for rng in [random.Random(4)] for _ in range(200)]
    assert all(8 <= b["max_tokens"] <= 64 and 0 <= b["temperature"] <= 1 for b in many)
    assert {b["model"] for b in many} == {"small", "large"} and len({b["prompt"] for b in many}) == 5
    assert predict.headers == {"Content-Type": "application/json"}
    assert predict.outcome_ok(200) is True and predict.outcome_ok(400) is False


def test_slos_judge_each_request_name_on_its_own() -> None:
    records = [{"t": 0.0, "kind": "phase", "name": "load", "edge": "start"},
               {"t": 10.0, "kind": "phase", "name": "load", "edge": "end"}]
    for i in range(100):
        name = "predict" if i % 2 else "echo"
        records.append({"t": 1 + i * 0.05, "kind": "request", "id": i, "name": name, "final": True,
                        "outcome": "error" if i % 10 == 1 else "ok",
                        "latency_ms": 5.0 if name == "echo" else 50.0})
    timeline = Timeline(records)
    predict = evaluate(SLOSpec(check="success_ratio >= 99%", request="predict"), timeline)
    echo = evaluate(SLOSpec(check="success_ratio >= 99%", request="echo"), timeline)
    assert not predict.passed and predict.measured == pytest.approx(0.8) and predict.name.endswith("for predict")
    assert echo.passed and echo.measured == 1.0
    assert evaluate(SLOSpec(check="p(99) < 10ms", request="echo"), timeline).passed
    assert not evaluate(SLOSpec(check="p(99) < 10ms"), timeline).passed
