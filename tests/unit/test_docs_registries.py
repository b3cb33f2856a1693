"""The fault and metric tables in docs/ agree with the registries the code runs: every
fault of the `harness.faults` entry-point group is a row of docs/chaos.md's table (and no
other), every SLO metric of harness.slo's registry is a row of docs/metrics.md's table
with its kind, units, argument and default window."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from harness.slo import catalog  # noqa: F401 - fills the registry
from harness.slo.registry import DEFAULT_WINDOW, DEFAULT_WINDOWS, KINDS, METRICS, SUBJECTS

ROOT = Path(__file__).resolve().parents[2]
DIST = "ray-release-harness"


def table_rows(page: Path, header: str) -> list[list[str]]:
    """Cells of the Markdown table whose header row starts with `| header |`."""
    lines = page.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_chaos_doc_lists_every_registered_fault() -> None:
    declared = {ep.name for ep in metadata.distribution(DIST).entry_points if ep.group == "harness.faults"}
    documented = set()
    for row in table_rows(ROOT / "docs" / "chaos.md", "fault"):
        # `kill_proxy`, `kill_controller` [method]: the names in backticks before any bracket
        documented |= set(re.findall(r"`(\w+)`", re.sub(r"\[[^\]]*\]", "", row[0])))
    assert documented == declared, (
        f"missing from docs/chaos.md: {sorted(declared - documented)}; "
        f"not faults: {sorted(documented - declared)}")


def expected_metric_rows() -> list[str]:
    rows = []
    for name in sorted(METRICS):
        kind = KINDS[name]
        units = ", ".join(f"`{u}`" if u else "bare" for u in kind.units) or "-"
        rows.append(f"| `{name}` | {kind.name} | {units} | {SUBJECTS.get(name, '-')} | "
                    f"`{DEFAULT_WINDOWS.get(name, DEFAULT_WINDOW)}` |")
    return rows


def test_metrics_doc_matches_the_registry() -> None:
    page = (ROOT / "docs" / "metrics.md").read_text().splitlines()
    documented = [line for line in page if re.match(r"^\| `\w+` \|", line)]
    expected = expected_metric_rows()
    assert documented == expected, "docs/metrics.md is stale; its table should read:\n" + "\n".join(expected)
