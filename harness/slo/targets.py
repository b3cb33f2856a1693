"""SLOs that name something the scenario cannot have, found before the run.

An SLO on a deployment, a workload or a window that never exists is not a
verdict but a typo: judged after the run it would only say "no data" (or pass,
with `on_no_data: pass`). Each problem comes back as (key path, what was expected).

Which windows a scenario can have is known before it runs: the harness's own
(`run`, `load`, `after_load`, `cluster_start`, `app_deploy`, `cooldown` when
there is one), each workload's, the load shape's (computed from the shape, as
the load process will), and `fault-N` / `replace-N` up to the most shots the
chaos schedule can fire. The deployments of the built-in app are known too; an
import-path app's are known once it is deployed (`problems(..., deployments=...)`
right after the deploy, before load starts).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from harness.measure import windows
from harness.scenario.config import BUILTIN_DEPLOYMENT, Scenario, ScheduleSpec
from harness.slo.catalog import SUBJECTS
from harness.slo.core import parse_check
from harness.slo.registry import SLOSyntaxError

HARNESS_WINDOWS = ("run", "load", "after_load", "cluster_start", "app_deploy")
_NUMBERED = re.compile(r"^(fault|replace)-(\d+)$")


def max_shots(schedule: ScheduleSpec, duration_s: float) -> float:
    """The most shots a schedule can fire (inf when unbounded: Poisson without a count)."""
    end = schedule.end_s if schedule.end_s is not None else duration_s
    cap = float(schedule.count) if schedule.count is not None else math.inf
    if schedule.at_s is not None:
        return min(cap, sum(1 for t in schedule.at_s if schedule.start_s <= t < end))
    if schedule.every_s is not None:  # jitter only delays a shot, so no more than this
        return min(cap, max(0, math.ceil((end - schedule.start_s) / schedule.every_s)))
    return cap


def shape_windows(scenario: Scenario) -> list[str]:
    """The load shape's window names, laid out as the load process lays them out."""
    from locustfiles.schedule import build_profile  # stdlib only: safe in the harness

    load = scenario.load
    profile = build_profile(load.resolved()["shape"], load.base_level, scenario.duration_s, scenario.seed)
    return [w.name for w in profile.windows()]


def known_windows(scenario: Scenario) -> tuple[set[str], dict[str, float]]:
    """Window names the scenario can have, and the highest N of `fault-N` / `replace-N`."""
    names = set(HARNESS_WINDOWS) | {w.name for w in scenario.workloads} | set(shape_windows(scenario))
    if scenario.cooldown_s > 0:
        names.add("cooldown")
    faults = scenario.chaos.faults
    shots = [max_shots(f.schedule, scenario.duration_s) for f in faults]
    numbered = {
        "fault": sum(shots, 0.0),
        "replace": sum((n for n, f in zip(shots, faults, strict=True) if f.replace_after_s is not None), 0.0),
    }
    return names, numbered


def _describe_windows(names: set[str], numbered: dict[str, float]) -> str:
    parts = sorted(names)
    for prefix, most in numbered.items():
        if most >= 1:
            parts.append(f"{prefix}-1..{'N' if math.isinf(most) else f'{prefix}-{int(most)}'}")
    return ", ".join(parts)


def window_problems(scenario: Scenario) -> list[tuple[str, str]]:
    names, numbered = known_windows(scenario)
    problems = []
    for index, spec in enumerate(scenario.slos):
        if spec.window is None:
            continue
        try:
            used = windows.names_in(spec.window)
        except windows.WindowSyntaxError:
            continue  # reported as a syntax error by harness.slo.core.validate_windows
        for name in used:
            match = _NUMBERED.match(name)
            if name in names or (match and 1 <= int(match[2]) <= numbered[match[1]]):
                continue
            problems.append((f"slos.{index}.window", (
                f"expected a window this scenario has ({_describe_windows(names, numbered)}), got {name!r}"
            )))
    return problems


def subject_problems(scenario: Scenario, deployments: Iterable[str] | None) -> list[tuple[str, str]]:
    """SLOs naming a workload (always known) or a deployment (when `deployments` is given)."""
    workloads = sorted(w.name for w in scenario.workloads)
    known = {"workload": workloads, "deployment": None if deployments is None else sorted(deployments)}
    app = "the scenario (app: none)" if scenario.app is None else (
        "the Serve config" if scenario.app.config is not None else f"app {scenario.app.name!r}")
    whose = {"workload": "a workload of the scenario", "deployment": f"a deployment of {app}"}
    problems = []
    for index, spec in enumerate(scenario.slos):
        try:
            check = parse_check(spec.check)
        except SLOSyntaxError:
            continue  # reported by harness.slo.core.validate_checks
        subject = SUBJECTS.get(check.metric)
        if subject is None or not check.args or known[subject] is None:
            continue
        have = known[subject]
        if check.args[0] not in have:
            listed = ", ".join(have) if have else "none defined"
            problems.append((f"slos.{index}.check", f"expected {whose[subject]} ({listed}), got {check.args[0]!r}"))
    return problems


def builtin_deployments(scenario: Scenario) -> list[str] | None:
    """The built-in app's deployments; None for an import-path or config-file app
    (known after deploy) and for no app."""
    return [BUILTIN_DEPLOYMENT] if scenario.app is not None and scenario.app.is_builtin else None


def problems(scenario: Scenario, deployments: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every SLO naming what the scenario cannot have, as (key path, what was expected)."""
    if scenario.app is None:  # app: none: harness.scenario.workload_only has its own rules for its SLOs
        return []
    if deployments is None:
        deployments = builtin_deployments(scenario)
    return subject_problems(scenario, deployments) + window_problems(scenario)
