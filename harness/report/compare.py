"""`harness compare RUN_A RUN_B`: two runs side by side, for "why did tonight's run fail
when last night's passed" and for a local reproduction against a CI run.

Reads only a run's folder (summary.json, and the timeline when it is there), so folders
downloaded from CI compare the same as local ones: every SLO, the key metrics, the
chaos outcomes, the timings, the versions and the config keys that differ.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.measure import stats
from harness.measure.records import Chaos
from harness.measure.timeline import Timeline
from harness.model.outcome import EXIT_PASSED, EXIT_USAGE, format_value
from harness.report.terminal import ci_table

# summary.json metrics worth a row when both runs have them (key_metrics adds the timeline's).
KEY_METRICS = ("requests", "ok", "load_seconds", "load_offered_rps", "load_sent_rps",
               "load_shed", "load_errors", "load_dropped", "load_retries",
               "harness_cpu_percent_during_load")
TIMELINE_METRICS = stats.KEY_METRICS


def add_parser(sub: Any) -> None:
    compare = sub.add_parser("compare", help="two runs side by side: SLOs, key metrics, chaos outcomes")
    compare.add_argument("run_a", help="a run: its folder (e.g. last night's, from CI), its run id "
                                       "under --results, or 'latest'")
    compare.add_argument("run_b", help="the run to compare with it (e.g. tonight's), given the same ways")
    compare.add_argument("--results", type=Path, default=Path("results"),
                         help="results root to find run ids and 'latest' in (default: results/)")
    compare.add_argument("--json", action="store_true",
                         help="one JSON document on stdout; the human text goes to stderr")


class RunFolder:
    """One run's stored results, wherever the folder now lies."""

    def __init__(self, path: Path):
        self.path = path
        summary = path / "summary.json"
        if not summary.is_file():
            raise ValueError(f"{path}: expected a run's results folder with summary.json")
        try:
            self.summary: dict[str, Any] = json.loads(summary.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{summary}: expected a harness summary.json ({exc})") from exc
        self.metrics = stats.renamed(self.summary.get("metrics") or {})  # an older run's names too
        self.timeline_metrics = self._timeline_metrics()

    def _timeline_metrics(self) -> dict[str, float]:
        if not (self.path / "timeline").is_dir():
            return {}
        try:  # what history keeps of a run (harness.gate.metrics)
            return stats.key_metrics(Timeline.load(self.path))
        except Exception:  # a damaged timeline: compare what summary.json holds
            return {}

    @property
    def verdicts(self) -> dict[str, dict[str, Any]]:
        return {v["name"]: v for v in self.summary.get("verdicts", [])}

    @property
    def chaos(self) -> list[dict[str, Any]]:
        return list((self.summary.get("artifacts") or {}).get("chaos_results") or [])


def change(a: float | None, b: float | None) -> str:
    """B relative to A, as a person reads it."""
    if a is None or b is None or not all(map(math.isfinite, (a, b))):
        return "-" if a == b else "changed"
    if a == b:
        return "="
    if a == 0:
        return f"{b - a:+g}"
    relative = (b - a) / abs(a)
    return f"{relative:+.1%}" if abs(relative) < 0.1 else f"{relative:+.0%}"


def _verdict_cell(v: dict[str, Any] | None) -> str:
    if v is None:
        return "absent"
    return f"{format_value(v.get('measured'), v.get('unit', ''))} {'pass' if v.get('passed') else 'FAIL'}"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _shot(r: dict[str, Any] | None) -> str:
    if r is None:
        return "absent"
    target = r.get(Chaos.node) or next((t.get("node") or t.get("actor_id") for t in r.get(Chaos.targets) or []), None)
    text = f"{r.get(Chaos.outcome, '?')}"
    if target:
        text += f" on {target}"
    if r.get(Chaos.noticed_after_s) is not None:
        text += f", noticed {r[Chaos.noticed_after_s]:.1f}s"
    return text


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(data, list):
        out = {}
        for i, value in enumerate(data):
            out.update(_flatten(value, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): data}


def build_comparison(a: RunFolder, b: RunFolder) -> dict[str, Any]:
    va, vb = a.verdicts, b.verdicts
    slos = []
    for name in list(va) + [n for n in vb if n not in va]:
        x, y = va.get(name), vb.get(name)
        slos.append({
            "slo": name, "check": (x or y or {}).get("check"),
            "a": None if x is None else {k: x.get(k) for k in ("measured", "unit", "passed", "message")},
            "b": None if y is None else {k: y.get(k) for k in ("measured", "unit", "passed", "message")},
            "change": change(_num((x or {}).get("measured")), _num((y or {}).get("measured"))),
            "flipped": (x or {}).get("passed") != (y or {}).get("passed"),
        })
    metrics = []
    for source_a, source_b, names in ((a.timeline_metrics, b.timeline_metrics, TIMELINE_METRICS),
                                      (a.metrics, b.metrics, KEY_METRICS)):
        for name in names:
            x, y = _num(source_a.get(name)), _num(source_b.get(name))
            if x is not None or y is not None:
                metrics.append({"metric": name, "a": x, "b": y, "change": change(x, y)})
    chaos = []
    for i in range(max(len(a.chaos), len(b.chaos))):
        x = a.chaos[i] if i < len(a.chaos) else None
        y = b.chaos[i] if i < len(b.chaos) else None
        chaos.append({"shot": i + 1, "fault": (x or y or {}).get("fault"), "a": x, "b": y,
                      "a_text": _shot(x), "b_text": _shot(y)})
    timings = []
    ta, tb = a.summary.get("timings") or {}, b.summary.get("timings") or {}
    for name in list(ta) + [n for n in tb if n not in ta]:
        x, y = _num(ta.get(name)), _num(tb.get(name))
        timings.append({"timing": name, "a": x, "b": y, "change": change(x, y)})
    ca, cb = _flatten(a.summary.get("config") or {}), _flatten(b.summary.get("config") or {})
    config = [{"key": k, "a": ca.get(k), "b": cb.get(k)}
              for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)]

    def run(folder: RunFolder) -> dict[str, Any]:
        s = folder.summary
        return {"path": str(folder.path), "run_id": s.get("run_id"), "scenario": s.get("scenario"),
                "status": s.get("status"), "exit_code": s.get("exit_code"), "seed": s.get("seed"),
                "versions": s.get("versions") or {}, "error": s.get("error")}

    return {"command": "compare", "a": run(a), "b": run(b), "slos": slos, "metrics": metrics,
            "chaos": chaos, "timings": timings, "config_differences": config}


def _table(title: str, first: str) -> Table:
    table = ci_table(title)
    table.add_column(first, overflow="fold")
    for column in ("A", "B", "change"):
        table.add_column(column, justify="right", no_wrap=column == "change", overflow="fold")
    return table


def _value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def print_comparison(console: Console, doc: dict[str, Any]) -> None:
    a, b = doc["a"], doc["b"]
    for tag, run in (("A", a), ("B", b)):
        v = run["versions"]
        console.print(f"{tag}: {run['run_id']}  {run['status']} (exit {run['exit_code']}), seed {run['seed']}, "
                      f"ray {v.get('ray', '?')}, harness {v.get('harness', '?')}, app {v.get('app', '?')}",
                      soft_wrap=True, highlight=False)
    slos = _table("SLOs", "SLO")
    for row in doc["slos"]:
        name = f"[bold]{row['slo']}[/]" if row["flipped"] else row["slo"]
        slos.add_row(name, _verdict_cell(row["a"]), _verdict_cell(row["b"]), row["change"])
    console.print(slos)
    for row in doc["slos"]:
        if row["flipped"]:
            for tag in ("a", "b"):
                if row[tag] and not row[tag]["passed"]:
                    console.print(f"{tag.upper()} FAIL {row['slo']}: {row[tag]['message']}",
                                  soft_wrap=True, highlight=False)
    metrics = _table("key metrics", "metric")
    for row in doc["metrics"]:
        metrics.add_row(row["metric"], _value(row["a"]), _value(row["b"]), row["change"])
    console.print(metrics)
    if doc["chaos"]:
        chaos = ci_table("chaos outcomes")
        for column in ("shot", "A", "B"):
            chaos.add_column(column, overflow="fold")
        for row in doc["chaos"]:
            chaos.add_row(f"{row['shot']} {row['fault']}", row["a_text"], row["b_text"])
        console.print(chaos)
    if doc["timings"]:
        timings = _table("timings (s)", "phase")
        for row in doc["timings"]:
            timings.add_row(row["timing"], _value(row["a"]), _value(row["b"]), row["change"])
        console.print(timings)
    diffs = doc["config_differences"]
    if diffs:
        console.print(f"config differences ({len(diffs)}):", highlight=False)
        for d in diffs[:20]:
            console.print(f"  {d['key']}: {d['a']!r} -> {d['b']!r}", soft_wrap=True, highlight=False)
        if len(diffs) > 20:
            console.print(f"  ... {len(diffs) - 20} more (--json lists all)", highlight=False)
    else:
        console.print("config: identical", highlight=False)


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from harness.report.html import ReportError
    from harness.report.rebuild import resolve_run

    try:
        a, b = (RunFolder(resolve_run(run, args.results)) for run in (args.run_a, args.run_b))
    except (ValueError, ReportError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    doc = build_comparison(a, b)
    if args.json_out is not None:
        args.json_out.emit(doc)
    print_comparison(console, doc)
    return EXIT_PASSED
