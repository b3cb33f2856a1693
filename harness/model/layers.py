"""The floors of the house: which package may import which. Declared once, here.

A module may import a module of its own package, of any package on a lower floor, and
of a package on its own floor only where SIDEWAYS names the pair; NEVER refuses a
few imports down the floors. Every import counts:
top level, inside a function, under TYPE_CHECKING. tests/unit/test_layers.py checks every
import of harness/, chaos/ and locustfiles/ against this declaration (and that no modules
import each other in a circle); docs/architecture.md shows `render()`'s table, and
tests/unit/test_docs.py checks it is the same.

Standard library only: tests and docs read it without importing the project.
"""

from __future__ import annotations

from typing import NamedTuple


class Floor(NamedTuple):
    name: str
    packages: tuple[str, ...]  # dotted module prefixes; the longest one that matches a module wins
    job: str


# Bottom to top.
FLOORS: tuple[Floor, ...] = (
    Floor("model", ("harness.model", "harness.hooks", "harness.files", "harness.jsonout", "harness.seed",
                    "harness.pythonpath", "harness"),
          "plain data (the scenario's models, the run context, outcomes and verdicts, cluster handles) "
          "and small utilities that import nothing of the project above them"),
    Floor("measure", ("harness.measure", "harness.procs", "harness.slo"),
          "the timeline and its statistics, process ownership, the SLO metrics and their judging"),
    Floor("parts", ("harness.cluster", "harness.app", "harness.load", "locustfiles", "harness.workloads", "chaos"),
          "what a run is made of: its cluster, its Serve app, its load (and the Locust process), "
          "workloads beside the load, faults"),
    Floor("run", ("harness.scenario", "harness.run"),
          "the scenario loader (YAML in, every package's checks) and the runner that composes the parts"),
    Floor("results", ("harness.report", "harness.gate"),
          "reports of a run (reading model types and stored results) and suites, history, bisect"),
    Floor("cli", ("harness.cli", "harness.__main__"), "the `harness` command"),
)

# Imports between two packages of one floor, each with its reason: (importer, imported, why).
SIDEWAYS: tuple[tuple[str, str, str], ...] = (
    ("harness.pythonpath", "harness", "PROJECT_ROOT: the checkout every child process gets on its path"),
    ("harness.model", "harness.hooks", "the scenario's cross-section rules are one of the scenario checks"),
    ("harness.model", "harness.seed", "a load shape's noise is drawn from the run's seed"),
    ("harness.procs", "harness.measure", "the reaper writes the run's timeline records"),
    ("harness.slo", "harness.measure", "SLOs are pure functions of timeline windows"),
    ("harness.load", "locustfiles", "the harness plans the same send schedule the load process runs"),
    ("chaos", "harness.cluster", "node faults remove, replace and find the processes of the run's nodes"),
    ("harness.run", "harness.scenario", "the runner resolves a scenario built in code as the loader does"),
    ("harness.gate", "harness.report", "a suite's report is built from its runs' reports"),
    ("harness.__main__", "harness.cli", "`python -m harness` is the `harness` command"),
)

# Imports down the floors that are still refused, each with its reason: (importer, imported, why).
NEVER: tuple[tuple[str, str, str], ...] = (
    ("harness.report", "harness.run", "reporters read model types and stored results, never the runner's package"),
)


def floor_of(module: str) -> Floor | None:
    """The floor of a dotted module name (its longest declared prefix), None outside the house."""
    best: tuple[int, Floor] | None = None
    for floor in FLOORS:
        for prefix in floor.packages:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), floor)
    return best[1] if best else None


def package_of(module: str) -> str | None:
    """The declared package (longest prefix) a module belongs to."""
    found = [p for f in FLOORS for p in f.packages if module == p or module.startswith(p + ".")]
    return max(found, key=len) if found else None


def allowed(importer: str, imported: str) -> bool:
    """May module `importer` import module `imported`?"""
    low, high = floor_of(imported), floor_of(importer)
    if low is None or high is None:
        return True  # outside the house (the standard library, a dependency)
    here, there = package_of(importer), package_of(imported)
    if here == there:
        return True
    if any(a == here and b == there for a, b, _ in NEVER):
        return False
    level = {f.name: i for i, f in enumerate(FLOORS)}
    if level[low.name] < level[high.name]:
        return True
    return level[low.name] == level[high.name] and any(a == here and b == there for a, b, _ in SIDEWAYS)


def render() -> str:
    """The floors as docs/architecture.md shows them (top floor first) and the sideways imports."""
    rows = ["| floor | packages | what lives there |", "|---|---|---|"]
    for i, floor in reversed(list(enumerate(FLOORS))):
        packages = ", ".join(f"`{p}`" for p in floor.packages)
        rows.append(f"| {i} {floor.name} | {packages} | {floor.job} |")
    rows += ["", "Imports within one floor, each allowed for its reason:", ""]
    rows += [f"- `{a}` → `{b}`: {why}" for a, b, why in SIDEWAYS]
    rows += ["", "Imports down the floors that are still refused:", ""]
    rows += [f"- `{a}` → `{b}`: {why}" for a, b, why in NEVER]
    return "\n".join(rows) + "\n"
