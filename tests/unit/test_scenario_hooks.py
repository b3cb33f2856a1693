"""Scenario checks come through one declared hook (harness.hooks), verified at registration."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

from harness.hooks import checks_manager, hookimpl
from harness.model.errors import ConfigError
from harness.scenario import loader
from harness.scenario.loader import SCENARIO_CHECKS, scenario_from_dict

SCENARIO = {"name": "t", "duration_s": 10, "cluster": {"nodes": [{"name": "head", "num_cpus": 1}]},
            "load": {"model": "open", "rate": 10}}


class RequiresRegion:
    """A package's own check, declared with the spec's argument names."""

    @hookimpl
    def scenario_problems(self, scenario: Any) -> list[tuple[str, str]]:
        return [] if scenario.name.startswith("eu-") else [("name", "expected a name starting with eu-")]


@pytest.fixture
def with_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "SCENARIO_CHECKS", (*SCENARIO_CHECKS, RequiresRegion()))
    loader.scenario_checks.cache_clear()
    yield
    loader.scenario_checks.cache_clear()


def test_every_listed_package_implements_the_hook() -> None:
    manager = checks_manager(SCENARIO_CHECKS)
    implemented = [impl.plugin for impl in manager.hook.scenario_problems.get_hookimpls()]
    assert sorted(map(id, implemented)) == sorted(map(id, SCENARIO_CHECKS))


@pytest.mark.usefixtures("with_check")
def test_a_registered_check_is_collected_after_the_others() -> None:
    assert scenario_from_dict({**SCENARIO, "name": "eu-t"}, "s.yaml").name == "eu-t"
    bad = {**SCENARIO, "slos": [{"name": "x", "check": "no_such_metric < 5"}]}  # harness.slo's check
    with pytest.raises(ConfigError) as caught:
        scenario_from_dict(bad, "s.yaml")
    lines = caught.value.lines
    assert lines[-1] == "s.yaml: name: expected a name starting with eu-"
    assert lines[0].startswith("s.yaml: slos.0.check: ")  # the built-ins first, in their order


def test_an_implementation_with_an_argument_the_spec_lacks_is_refused() -> None:
    class WantsNodes:
        @hookimpl
        def scenario_problems(self, scenario: Any, nodes: list[str]) -> list[tuple[str, str]]:
            return []

    with pytest.raises(pluggy.PluginValidationError, match="nodes"):
        checks_manager([WantsNodes()])


def test_an_implementation_of_no_declared_hook_is_refused() -> None:
    class Misspelt:
        @hookimpl
        def scenario_problem(self, scenario: Any) -> list[tuple[str, str]]:  # one letter short
            return []

    with pytest.raises(pluggy.PluginValidationError, match="scenario_problem"):
        checks_manager([Misspelt()])
