"""Hostile and malformed scenario files: each is refused with exit 2 and a line naming the key.

Property-based (hypothesis): mutations of a valid scenario (wrong types, huge and
non-finite numbers, deep nesting, unknown keys and plugins), YAML tags that would
construct objects, and raw garbage. Nothing may crash, start a process or run code.
"""

from __future__ import annotations

import contextlib
import copy
import io
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import psutil
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.model.errors import ConfigError
from harness.scenario.loader import load_scenario

BASE: dict[str, Any] = {
    "name": "fuzz",
    "seed": 3,
    "duration_s": 10,
    "cluster": {"nodes": [{"name": "head", "num_cpus": 2}, {"name": "w1", "num_cpus": 1}]},
    "app": {
        "builtin": {"latency": {"distribution": "fixed", "ms": 2}},
        "deployments": [{"name": "Echo", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.5}}],
    },
    "load": {"users": 2, "wait_ms": 100},
    "slos": [{"check": "success_ratio >= 99%"}],
}
# Every mapping that is a schema model (forbids unknown keys), by key path.
MODELS = ["", "cluster", "cluster.nodes.0", "app", "app.builtin", "app.builtin.latency",
          "app.deployments.0", "app.deployments.0.ray_actor_options", "load", "slos.0"]
# Every fault the installed project declares (the harness.faults entry points).
KNOWN_FAULTS = {ep.name for ep in entry_points(group="harness.faults")}
# Every leaf of BASE a mutation may replace.
LEAVES = ["name", "seed", "duration_s", "cluster.nodes.0.name", "cluster.nodes.0.num_cpus",
          "cluster.nodes.1.num_cpus", "app.builtin.latency.distribution", "app.builtin.latency.ms",
          "app.deployments.0.name", "app.deployments.0.num_replicas",
          "app.deployments.0.ray_actor_options.num_cpus", "load.users", "load.wait_ms", "slos.0.check"]
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROCS_BEFORE: set[int] = set()


def deep(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


hostile_values = st.one_of(
    st.none(), st.booleans(), st.text(max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**100, -(10**100), float("inf"), float("-inf"), float("nan"), 1e308, -1e-308]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(min_value=65, max_value=400).map(deep),
)


def _node(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in [p for p in path.split(".") if p]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    parent = _node(data, ".".join(parents))
    parent[int(last) if isinstance(parent, list) else last] = value


def validate(path: Path) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", str(path)])
    return code, [line for line in err.getvalue().splitlines() if line]


def assert_refused(path: Path, key: str | None = None) -> list[str]:
    code, lines = validate(path)
    assert code == 2, f"{path.read_text()[:300]!r} was accepted"
    assert lines and all(line.startswith(f"{path}: ") for line in lines), lines
    if key is not None:
        assert any(f": {key}" in line or f": {key}." in line for line in lines), (key, lines)
    assert {c.pid for c in psutil.Process().children()} <= PROCS_BEFORE, "validation started a process"
    return lines


def setup_module() -> None:
    PROCS_BEFORE.update(c.pid for c in psutil.Process().children())


def test_base_scenario_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert validate(path) == (0, [])


@SETTINGS
@given(leaf=st.sampled_from(LEAVES), value=hostile_values)
def test_wrong_values_are_refused_or_valid_never_crash(tmp_path: Path, leaf: str, value: Any) -> None:
    data = copy.deepcopy(BASE)
    _set(data, leaf, value)
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(data))
    code, lines = validate(path)
    assert code in (0, 2), lines
    if code == 2:
        assert all(line.startswith(f"{path}: ") for line in lines), lines
        assert any(leaf in line or "(file)" in line or leaf.rsplit(".", 1)[0] in line for line in lines), lines


@SETTINGS
@given(where=st.sampled_from(MODELS), key=st.sampled_from(["plugins", "plugin", "x-unknown", "nme", "__class__"]),
       value=hostile_values)
def test_unknown_keys_and_plugins_are_refused_by_name(tmp_path: Path, where: str, key: str, value: Any) -> None:
    data = copy.deepcopy(BASE)
    _node(data, where)[key] = value
    path = tmp_path / "unknown.yaml"
    path.write_text(yaml.safe_dump(data))
    lines = assert_refused(path)
    expected = f"{where}.{key}".lstrip(".")
    assert any(f": {expected}: expected no such key" in line or "nested at most" in line for line in lines), lines


@SETTINGS
@given(name=st.text(min_size=1, max_size=40).filter(lambda n: n.strip() and n not in KNOWN_FAULTS))
def test_unknown_fault_plugins_are_refused_by_name(tmp_path: Path, name: str) -> None:
    data = copy.deepcopy(BASE)
    data["chaos"] = {"faults": [{"fault": name, "schedule": {"every_s": 5}}]}
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(data))
    lines = assert_refused(path, "chaos.faults.0.fault")
    assert any("expected a known fault" in line for line in lines), lines


@SETTINGS
@given(key=st.text(min_size=1, max_size=20), value=hostile_values)
def test_hostile_fault_arguments_are_refused_by_name(tmp_path: Path, key: str, value: Any) -> None:
    data = copy.deepcopy(BASE)
    data["chaos"] = {"faults": [{"fault": "kill_replica", "args": {key: value}, "schedule": {"every_s": 5}}]}
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(data))
    lines = assert_refused(path)
    assert any(": chaos.faults.0" in line for line in lines), lines


TAGS = ["!!python/object/apply:os.system ['touch {sentinel}']",
        "!!python/object/new:subprocess.Popen [['touch', '{sentinel}']]",
        "!!python/name:os.system", "!!python/module:os", "!!binary aGVsbG8=x", "!custom {{a: 1}}",
        "!!python/object:harness.model.scenario.Scenario {{name: x}}"]


@SETTINGS
@given(leaf=st.sampled_from(LEAVES + MODELS[1:]), tag=st.sampled_from(TAGS))
def test_object_constructing_tags_never_run(tmp_path: Path, leaf: str, tag: str) -> None:
    sentinel = tmp_path / "pwned"
    data = copy.deepcopy(BASE)
    _set(data, leaf, "__TAGGED__")
    text = yaml.safe_dump(data).replace("__TAGGED__", tag.format(sentinel=sentinel))
    path = tmp_path / "tagged.yaml"
    path.write_text(text)
    lines = assert_refused(path)
    assert not sentinel.exists(), "a YAML tag ran code"
    if "python" in tag or "custom" in tag:
        assert any(f": {leaf}: expected plain YAML data" in line for line in lines), lines


@SETTINGS
@given(blob=st.one_of(st.binary(max_size=200).map(lambda b: b.decode("latin-1")), st.text(max_size=200)))
def test_garbage_is_refused(tmp_path: Path, blob: str) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_text(blob, encoding="utf-8")
    assert_refused(path)


@SETTINGS
@given(depth=st.integers(min_value=65, max_value=20_000), flow=st.booleans())
def test_deep_nesting_is_refused_by_key(tmp_path: Path, depth: int, flow: bool) -> None:
    path = tmp_path / "deep.yaml"
    if flow:
        text = "name: deep\nduration_s: 5\napp:\n  args:\n    nested: " + "[" * depth + "]" * depth + "\n"
    else:
        text = yaml.safe_dump({"name": "deep", "duration_s": 5, "extra": deep(min(depth, 300))})
    path.write_text(text)
    lines = assert_refused(path, "app.args.nested" if flow else "extra")
    assert any("nested at most" in line for line in lines), lines


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("name: bomb\nduration_s: 5\napp:\n  args:\n    " + "\n    ".join(rows) + "\n")
    assert any("at most" in line for line in assert_refused(path))


def test_load_scenario_raises_only_config_error(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("name: x\nduration_s: " + "9" * 5000 + "\n")
    try:
        load_scenario(path)
    except ConfigError as exc:
        assert exc.lines == [f"{path}: line 2: duration_s: expected a number of at most 4000 digits"]
    else:
        raise AssertionError("accepted")


def test_validate_imports_neither_ray_nor_locust(tmp_path: Path) -> None:
    path = tmp_path / "tagged.yaml"
    path.write_text("name: x\nduration_s: 5\ncluster: !!python/object/apply:os.getpid []\n")
    probe = ("import sys; from harness.cli import main; code = main(['validate', sys.argv[1]]); "
             "assert 'ray' not in sys.modules and 'locust' not in sys.modules, 'imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "cluster: expected plain YAML data" in done.stderr
