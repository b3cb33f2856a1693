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

import difflib
import math
import re
from collections.abc import Iterable

from harness.hooks import hookimpl
from harness.measure import windows
from harness.measure.memory_series import SUBJECT_WORDS
from harness.model.scenario import BUILTIN_DEPLOYMENT, Scenario
from harness.model.shape import build_profile
from harness.slo.catalog import METRICS, SUBJECTS
from harness.slo.certain import abort_problems
from harness.slo.core import parse_check, validate_checks, validate_windows, window_of
from harness.slo.node_metrics import NODE_TYPE_METRICS
from harness.slo.ray import families_named
from harness.slo.registry import SLOSyntaxError

HARNESS_WINDOWS = ("run", "load", "after_load", "cluster_start", "app_deploy")
# A workload-only run's own windows (harness.scenario.workload_only.DRIVE_WINDOW: the drive).
WORKLOAD_ONLY_WINDOWS = ("run", "cluster_start", "workloads")
# Windows harness.scenario.workload_only already refuses with app: none (one line per mistake).
_NO_LOAD_WINDOWS = ("load", "after_load")
# Metrics about what an autoscaler does: meaningless on a deployment with a fixed replica count.
AUTOSCALING_METRICS = frozenset({"scale_down_time", "time_to_target", "direction_changes", "replica_start_time",
                                 "decision_to_running"})
_NUMBERED = re.compile(r"^(fault|replace)-(\d+)$")


def shape_windows(scenario: Scenario) -> list[str]:
    """The load shape's window names, laid out as the load process lays them out."""
    load = scenario.load
    profile = build_profile(load.resolved()["shape"], load.base_level, scenario.duration_s, scenario.seed)
    return [w.name for w in profile.windows()]


def known_windows(scenario: Scenario) -> tuple[set[str], dict[str, float]]:
    """Window names the scenario can have, and the highest N of `fault-N` / `replace-N`."""
    if scenario.workload_only:  # no app, no load: the drive of the workloads instead
        names = set(WORKLOAD_ONLY_WINDOWS) | {w.name for w in scenario.workloads}
    else:
        names = set(HARNESS_WINDOWS) | {w.name for w in scenario.workloads} | set(shape_windows(scenario))
    if scenario.cooldown_s > 0:
        names.add("cooldown")
    faults = scenario.chaos.faults
    shots = [f.schedule.max_shots(scenario.duration_s) for f in faults]
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
            if scenario.workload_only and name in _NO_LOAD_WINDOWS:
                continue  # refused by harness.scenario.workload_only
            problems.append((f"slos.{index}.window", (
                f"expected a window this scenario has ({_describe_windows(names, numbered)}), got {name!r}"
            )))
    return problems


def subject_problems(scenario: Scenario, deployments: Iterable[str] | None) -> list[tuple[str, str]]:
    """SLOs naming a workload (always known) or a deployment (when `deployments` is given)."""
    workloads = sorted(w.name for w in scenario.workloads)
    known = {"workload": workloads, "deployment": None if deployments is None else sorted(deployments),
             # memory: a deployment or a role of the run's processes (harness.measure.memory_series)
             "memory": None if deployments is None and scenario.app is not None
             else [*sorted(deployments or ()), *SUBJECT_WORDS]}
    app = "the scenario (app: none)" if scenario.app is None else (
        "the Serve config" if scenario.app.config is not None else f"app {scenario.app.name!r}")
    whose = {"workload": "a workload of the scenario", "deployment": f"a deployment of {app}",
             "memory": f"a deployment of {app} or a role"}
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
            close = difflib.get_close_matches(check.args[0], have, n=1)
            hint = f": did you mean {close[0]!r}?" if close else ""
            problems.append((f"slos.{index}.check",
                             f"expected {whose[subject]} ({listed}), got {check.args[0]!r}{hint}"))
    return problems


def builtin_deployments(scenario: Scenario) -> list[str] | None:
    """The built-in app's deployments; None for an import-path or config-file app
    (known after deploy) and for no app."""
    return [BUILTIN_DEPLOYMENT] if scenario.app is not None and scenario.app.is_builtin else None


def deployment_scaling(scenario: Scenario) -> dict[str, tuple[str, int, int]]:
    """Deployments whose scaling the scenario's app fixes, by name (`Deployment` when only one
    app lists it, and `App/Deployment`): ("fixed", replicas, replicas) or ("autoscaling",
    min_replicas, max_replicas). A deployment an import-path or config-file app does not
    list, or lists without a replica count, is left out: its code may set either."""
    serve = None if scenario.app is None else scenario.app.serve_config
    if serve is None:
        return {}
    builtin = scenario.app.is_builtin
    found: dict[str, tuple[str, int, int]] = {}
    owners: dict[str, int] = {}
    for app in serve.data.get("applications") or []:
        listed = {str(d.get("name")): d for d in app.get("deployments") or [] if isinstance(d, dict)}
        if builtin:
            listed.setdefault(BUILTIN_DEPLOYMENT, {})
        for name, dep in listed.items():
            auto, count = dep.get("autoscaling_config"), dep.get("num_replicas")
            if isinstance(auto, dict) or count == "auto":
                auto = auto if isinstance(auto, dict) else {}
                low = int(auto.get("min_replicas", 1))
                scaling = ("autoscaling", low, int(auto.get("max_replicas", max(low, 1 if count != "auto" else 100))))
            elif isinstance(count, int) and not isinstance(count, bool):
                scaling = ("fixed", count, count)
            elif builtin:  # the built-in Echo runs one replica unless told otherwise
                scaling = ("fixed", 1, 1)
            else:
                continue
            found[f"{app.get('name', 'default')}/{name}"] = scaling
            owners[name] = owners.get(name, 0) + 1
            found.setdefault(name, scaling)
    return {k: v for k, v in found.items() if "/" in k or owners.get(k) == 1}


def feature_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Replica SLOs the deployment's scaling can never make true: an autoscaling metric on a
    fixed replica count, a replica count the deployment can never reach."""
    scaling = deployment_scaling(scenario)
    problems = []
    for index, spec in enumerate(scenario.slos):
        try:
            check = parse_check(spec.check)
        except SLOSyntaxError:
            continue
        if SUBJECTS.get(check.metric) != "deployment" or not check.args or check.args[0] not in scaling:
            continue
        name = check.args[0]
        mode, low, high = scaling[name]
        if mode == "fixed" and check.metric in AUTOSCALING_METRICS:
            problems.append((f"slos.{index}.check", (
                f"expected a deployment with autoscaling for {check.metric}: {name} runs a fixed {low} "
                f"replica(s) (give it an autoscaling_config, or judge max_replicas/min_replicas)"
            )))
            continue
        wanted = check.args[1] if len(check.args) > 1 else None
        if check.metric == "time_to_replicas" and wanted is not None and wanted.isdigit() and int(wanted) > high:
            problems.append((f"slos.{index}.check", (
                f"expected at most {high} replicas in {check.metric}({name}, {wanted}): {name} can run at most "
                f"{high} ({'max_replicas' if mode == 'autoscaling' else 'num_replicas'}), so this check can never pass"
            )))
    return problems


# Metrics that read request records (`request: NAME` narrows them to one request of the mix).
REQUEST_METRICS_ELSEWHERE = frozenset({"recovery_time", "time_to_success", "failed_requests"})


def reads_requests(metric_name: str) -> bool:
    fn = METRICS.get(metric_name)
    return metric_name in REQUEST_METRICS_ELSEWHERE or (fn is not None and fn.__module__ == "harness.slo.requests")


def request_filter_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """`request:` on a metric that reads no requests would filter nothing (replica metrics:
    harness.load.traffic says so)."""
    problems = []
    for index, spec in enumerate(scenario.slos):
        if spec.request is None:
            continue
        try:
            check = parse_check(spec.check)
        except SLOSyntaxError:
            continue
        if reads_requests(check.metric) or SUBJECTS.get(check.metric) == "deployment":
            continue
        problems.append((f"slos.{index}.request", (
            f"expected a request metric with request: {spec.request!r} ({check.metric} reads no requests: "
            "drop request:)"
        )))
    return problems


def duplicate_names(scenario: Scenario) -> list[tuple[str, str]]:
    """Two SLOs with one name: JUnit, history and the report keep one verdict per name."""
    seen: dict[str, int] = {}
    problems = []
    for index, spec in enumerate(scenario.slos):
        name = spec.display_name()
        if name in seen:
            key = "name" if spec.name else "check"
            problems.append((f"slos.{index}.{key}", (
                f"expected a name no other SLO has, {name!r} is also slos.{seen[name]} "
                f"(set `name:` on one of them: reports keep one verdict per name)"
            )))
        else:
            seen[name] = index
    return problems


def ray_metric_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """SLOs on Ray's own metrics need nodes the run starts: only their endpoints are scraped."""
    if scenario.cluster.address is None:
        return []
    return [(f"slos.{index}.check", "expected a cluster the run starts (Ray's metrics are scraped only from "
                                    f"the run's own nodes), got cluster.address with {spec.check!r}")
            for index, spec in enumerate(scenario.slos) if families_named([spec.check])]


def problems(scenario: Scenario, deployments: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every SLO naming what the scenario cannot have, as (key path, what was expected)."""
    found = duplicate_names(scenario) + request_filter_problems(scenario) + ray_metric_problems(scenario)
    if scenario.app is None:  # app: none: workloads and windows only (harness.scenario.workload_only: the rest)
        if not scenario.workloads:  # refused as a whole by harness.scenario.workload_only
            return found
        return found + subject_problems(scenario, None) + window_problems(scenario) + time_problems(scenario)
    if deployments is None:
        deployments = builtin_deployments(scenario)
    return (found + subject_problems(scenario, deployments) + window_problems(scenario) + time_problems(scenario)
            + feature_problems(scenario))


@hookimpl
def scenario_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Every check of the slos section (harness.hooks): each check's syntax, arguments and
    bounds, each window's syntax, what the SLOs name, fail-fast, node types."""
    found = [(f"slos.{index}.check", message) for index, message in validate_checks(scenario.slos)]
    found += [(f"slos.{index}.window", message) for index, message in validate_windows(scenario.slos)]
    found += problems(scenario)
    found += abort_problems(scenario.slos)
    autoscaling = scenario.cluster.autoscaling
    node_types = None if autoscaling is None else autoscaling.type_names()
    found += [(f"slos.{index}.check", message)
              for index, message in node_type_problems([s.check for s in scenario.slos], node_types)]
    return found


# Before the run, phases have an order but no length: cluster_start, then app_deploy, then
# load at 0 (times in seconds from the load's start). Stand-ins keep that order.
_BEFORE_LOAD = {"cluster_start": (-3.0, -2.0), "app_deploy": (-2.0, -1.0)}
_RUN_START = -3.0
Span = tuple[float | None, float | None]


def window_spans(scenario: Scenario) -> dict[str, Span]:
    """What is known before the run of each window's start and end (None: only known then)."""
    d = scenario.duration_s
    run_end = d + scenario.cooldown_s
    spans: dict[str, Span] = {"run": (_RUN_START, run_end), "cluster_start": _BEFORE_LOAD["cluster_start"]}
    if scenario.workload_only:
        spans["workloads"] = (0.0, None)
    else:
        spans.update(app_deploy=_BEFORE_LOAD["app_deploy"], load=(0.0, d), after_load=(d, run_end))
        load = scenario.load
        profile = build_profile(load.resolved()["shape"], load.base_level, d, scenario.seed)
        spans.update({w.name: (w.start, w.end) for w in profile.windows()})
    if scenario.cooldown_s > 0:
        spans["cooldown"] = (d, run_end)
    for work in scenario.workloads:
        spans.setdefault(work.name, (0.0, None))
    return spans


def _span_of(form: str, parts: dict[str, str | float], spans: dict[str, Span]) -> Span | None:
    """An expression's span as windows.resolve lays it out, from what is known before the run."""
    named = spans.get(str(parts["name"]))
    if named is None:
        return None
    start, end = named
    seconds = float(parts.get("seconds", 0.0))
    run_end = spans["run"][1]
    if form == "during":
        return start, end
    if form == "after":
        return end, run_end
    if form == "after_for":
        return end, None if end is None else min(run_end, end + seconds)
    if form == "plus":
        return start, None if end is None else min(run_end, end + seconds)
    if form == "first":
        return start, None if start is None else (start + seconds if end is None else min(end, start + seconds))
    if form == "skip":  # not clamped here: a warm-up as long as the window is refused, not emptied
        return None if start is None else start + seconds, end
    if form == "before":
        return _RUN_START, start
    other = spans.get(str(parts["other"]))
    if other is None:
        return None
    return start, other[1]  # resolve() clamps an inverted span to empty: here it is told apart


def time_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Windows that can hold no time, or that start after the run ends, known before the run."""
    spans = window_spans(scenario)
    run_end = spans["run"][1]
    problems = []
    for index, spec in enumerate(scenario.slos):
        try:
            expression = window_of(spec)
            form, parts = windows.parse(expression)
        except (SLOSyntaxError, windows.WindowSyntaxError):
            continue  # reported by the syntax checks
        key = f"slos.{index}.window"
        if spec.window is None:
            expression = f"{expression} (the default window of {parse_check(spec.check).metric})"
        if "seconds" in parts and float(parts["seconds"]) == 0 and form in ("first", "after_for"):
            problems.append((key, f"expected a window that holds time, got {expression!r} (0 s long): give it a length"))
            continue
        span = _span_of(form, parts, spans)
        if span is None or span[0] is None:
            continue
        start, end = span
        if end is not None and end <= start:
            what = "inverted: it ends before it starts" if end < start else "empty: it ends where it starts"
            if form == "span":
                what += f" ({parts['other']!r} ends {'before' if end < start else 'as'} {parts['name']!r} starts)"
            elif not scenario.cooldown_s and start == scenario.duration_s:
                what += " (no cooldown_s: the run ends with the load; set cooldown_s to record after it)"
            problems.append((key, f"expected a window that holds time, got {expression!r}, which is {what}"))
        elif start >= run_end:
            if scenario.cooldown_s:
                why = f"the run ends at {run_end:g} s"
            else:
                why = f"the run ends with the load at {run_end:g} s (set cooldown_s to record after the load)"
            problems.append((key, f"expected a window inside the run, got {expression!r}, which starts when {why}"))
    return problems


def node_type_problems(checks: Iterable[str], node_types: list[str] | None) -> list[tuple[int, str]]:
    """SLOs naming a node type the cluster does not have, as (index, what was expected)."""
    problems = []
    for index, text in enumerate(checks):
        try:
            check = parse_check(text)
        except SLOSyntaxError:
            continue  # reported by harness.slo.core.validate_checks
        if check.metric not in NODE_TYPE_METRICS or not check.args:
            continue
        have = node_types or []
        if check.args[0] not in have:
            listed = ", ".join(have) if have else "none: not an autoscaling cluster"
            problems.append((index, f"expected a node type of cluster.autoscaling ({listed}), got {check.args[0]!r}"))
    return problems
