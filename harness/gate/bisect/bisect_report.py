"""A finished (or stopped) bisect as a document, an 80-column table and CI Markdown.

The evidence for the blamed commit: every probed commit's runs, failures and decision,
and each SLO's median between the last good and the first bad commit.
"""

from __future__ import annotations

import statistics
import textwrap
from typing import Any

from harness.gate.bisect.bisect_state import BisectState, Commit
from harness.gate.bisect.driver import plan_of
from harness.gate.bisect.search import Step, decisions_needed

WIDTH = 80


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def slo_changes(last_good: Commit, first_bad: Commit) -> list[dict[str, Any]]:
    """Per SLO: median measured on each commit, the change, and how many runs passed it."""
    names = list(dict.fromkeys(n for c in (last_good, first_bad) for r in c.runs for n in r.slos))
    out = []
    for name in names:
        row: dict[str, Any] = {"slo": name}
        for key, commit in (("last_good", last_good), ("first_bad", first_bad)):
            seen = [r.slos[name] for r in commit.runs if r.judged and name in r.slos]
            row[key] = _median([s["measured"] for s in seen if s.get("measured") is not None])
            row[f"{key}_passed"] = f"{sum(1 for s in seen if s.get('passed'))}/{len(seen)}"
            row["check"], row["unit"] = (seen[0].get("check", ""), seen[0].get("unit", "")) if seen else ("", "")
        good, bad = row["last_good"], row["first_bad"]
        row["change"] = None if good is None or bad is None else round(bad - good, 4)
        row["change_pct"] = None if row["change"] is None or not good else round(100 * row["change"] / abs(good), 1)
        out.append(row)
    return out


def metric_changes(last_good: Commit, first_bad: Commit) -> dict[str, dict[str, float | None]]:
    keys = list(dict.fromkeys(k for c in (last_good, first_bad) for r in c.runs for k in r.metrics))
    return {k: {"last_good": _median([r.metrics[k] for r in last_good.runs if k in r.metrics]),
                "first_bad": _median([r.metrics[k] for r in first_bad.runs if k in r.metrics])}
            for k in keys}


def document(state: BisectState, step: Step, exit_code: int, **extra: Any) -> dict[str, Any]:
    plan = plan_of(state)
    decided = dict(step.decisions)
    rule = plan.rule(step.flake) if step.flake is not None else None
    commits = []
    for index, commit in enumerate(state.commits):
        decision = decided.get(index)
        if decision is None and rule is not None and commit.runs:
            decision = rule.decide(commit.outcomes())
        commits.append({
            "index": index, "sha": commit.sha, "subject": commit.subject,
            "runs": len(commit.outcomes()), "failures": commit.outcomes().count(False),
            "errors": commit.errors(),
            "decision": decision.state if decision is not None else None,
            "reason": decision.reason if decision is not None else "",
            "run_dirs": [r.run_dir for r in commit.runs],
        })
    doc: dict[str, Any] = {
        "command": "bisect", "scenario": state.scenario, "scenario_file": state.scenario_file,
        "repo": state.repo, "good": state.good, "bad": state.bad,
        "outcome": step.outcome, "exit_code": exit_code, "message": step.message,
        "first_bad": None, "last_good": None, "slo_changes": [], "metric_changes": {},
        "alpha": state.alpha, "decisions_bound": decisions_needed(len(state.commits)),
        "per_decision_alpha": round(plan.per_decision_alpha, 6),
        "broken_probability": state.broken_probability,
        "flake": step.flake, "flake_source": state.flake_source,
        "runs_total": state.total_runs(), "run_budget": plan.run_budget(),
        "expected_runs": None if step.flake is None else round(plan.expected_runs(step.flake), 1),
        "elapsed_s": state.elapsed_s, "commits": commits, **extra,
    }
    if step.outcome == "found" and step.blamed is not None and step.last_good is not None:
        bad, good = state.commits[step.blamed], state.commits[step.last_good]
        doc["first_bad"] = {"index": step.blamed, "sha": bad.sha, "subject": bad.subject}
        doc["message"] = (f"first bad commit {bad.sha[:12]} {bad.subject} (last good "
                          f"{good.sha[:12]})")
        doc["last_good"] = {"index": step.last_good, "sha": good.sha, "subject": good.subject}
        doc["slo_changes"] = slo_changes(good, bad)
        doc["metric_changes"] = metric_changes(good, bad)
    return doc


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value:.2%}"
    text = f"{value:.4g}"
    return f"{text} {unit}".strip() if unit else text


def _change(row: dict[str, Any]) -> str:
    if row["change"] is None:
        return "-"
    pct = "" if row["change_pct"] is None else f" ({row['change_pct']:+.0f}%)"
    if row["unit"] == "ratio":
        return f"{row['change'] * 100:+.2f} pts"
    return f"{row['change']:+.4g}{pct}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def table_lines(doc: dict[str, Any]) -> list[str]:
    """The evidence in lines of at most 80 columns."""
    lines = textwrap.wrap(f"bisect {doc['scenario']}: {doc['message']}", WIDTH, subsequent_indent="  ")
    lines.append(f"{'#':>3} {'commit':<12} {'subject':<34} {'runs':>4} {'fail':>4} {'decision':<9}"
                 f" {'err':>3}")
    for c in doc["commits"]:
        if not c["runs"] and not c["errors"]:
            continue
        mark = "*" if doc["first_bad"] and c["index"] == doc["first_bad"]["index"] else " "
        lines.append(f"{c['index']:>3} {c['sha'][:12]:<12} {_cut(c['subject'], 34):<34} {c['runs']:>4} "
                     f"{c['failures']:>4} {(c['decision'] or '-') + mark:<9} {c['errors']:>3}")
    if doc["slo_changes"]:
        lines.append(f"{'SLO':<22} {'last good':>11} {'first bad':>11} {'change':>20} {'passed':>10}")
        for s in doc["slo_changes"]:
            lines.append(f"{_cut(s['slo'], 22):<22} {_num(s['last_good'], s['unit']):>11} "
                         f"{_num(s['first_bad'], s['unit']):>11} {_cut(_change(s), 20):>20} "
                         f"{s['last_good_passed'] + ' > ' + s['first_bad_passed']:>10}")
    lines += [_cut(line, WIDTH) for line in settings_lines(doc)]
    return lines


def settings_lines(doc: dict[str, Any]) -> list[str]:
    flake = "-" if doc["flake"] is None else f"{doc['flake']:.1%}"
    wall = f", this command {doc['wall_s']:.0f} s" if doc.get("wall_s") is not None else ""
    return [f"{doc['runs_total']} runs (budget {doc['run_budget']}), {doc['elapsed_s']:.0f} s running{wall}",
            f"flake rate {flake} ({doc['flake_source']})",
            f"wrong-blame bound {doc['alpha']:.0%} over {doc['decisions_bound']} decisions: "
            f"alpha = beta = {doc['per_decision_alpha']:.4g} each"]


def markdown(doc: dict[str, Any]) -> str:
    out = [f"### harness bisect: {doc['scenario']}", ""]
    if doc["first_bad"]:
        fb, lg = doc["first_bad"], doc["last_good"]
        out += [f"**First bad commit: `{fb['sha'][:12]}` {fb['subject']}** "
                f"(last good `{lg['sha'][:12]}` {lg['subject']})", ""]
    else:
        out += [f"**No commit blamed:** {doc['message']}", ""]
    out += ["| # | commit | subject | runs | failed | decision |", "|---|---|---|---|---|---|"]
    for c in doc["commits"]:
        if c["runs"] or c["errors"]:
            out.append(f"| {c['index']} | `{c['sha'][:12]}` | {c['subject']} | {c['runs']} | "
                       f"{c['failures']} | {c['decision'] or '-'} |")
    if doc["slo_changes"]:
        out += ["", "| SLO | last good | first bad | change | runs passed |", "|---|---|---|---|---|"]
        for s in doc["slo_changes"]:
            out.append(f"| {s['slo']} | {_num(s['last_good'], s['unit'])} | {_num(s['first_bad'], s['unit'])} "
                       f"| {_change(s)} | {s['last_good_passed']} -> {s['first_bad_passed']} |")
    out += ["", "; ".join(settings_lines(doc)) + ".", ""]
    return "\n".join(out)
