"""The harness's hook specifications (pluggy): declared once, verified at registration.

Today one hook: `scenario_problems`, through which each package contributes its checks of
a scenario (harness.scenario.loader collects them, `SCENARIO_CHECKS` lists the packages).
A package implements it with `@hookimpl` on a function of that name taking any of the
spec's arguments; registration refuses an implementation whose arguments the spec does
not have, and `check_pending` one whose name no spec declares, so a check that would
silently never run is an error where it is registered.

Standard library and pluggy only: every package may import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ScenarioChecks:
    """What a package checks of a validated scenario before anything starts."""

    @hookspec
    def scenario_problems(self, scenario: Any, strict: bool) -> list[tuple[str, str]]:  # type: ignore[empty-body]
        """Problems of `scenario` (a harness.model.scenario.Scenario) as (key path, what was
        expected), each message starting with "expected"; [] when there are none. strict:
        `harness validate --strict` (warnings become problems)."""


def checks_manager(plugins: Iterable[object]) -> pluggy.PluginManager:
    """A plugin manager with the specs and `plugins` registered in order; raises
    pluggy.PluginValidationError for an implementation the specs do not declare."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(ScenarioChecks)
    for plugin in plugins:
        manager.register(plugin)
    manager.check_pending()
    return manager

