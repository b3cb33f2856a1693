"""Structural validation of the JUnit the harness writes, by the rules of Maven Surefire's
XSD (surefire-test-report-3.0) that Jenkins and GitLab read: element and attribute names,
counts that add up, and the flaky/rerun results placed where Surefire puts them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

FINAL = {"failure", "error", "skipped"}
INTERIM = {"flakyFailure", "flakyError", "rerunFailure", "rerunError"}
CASE_CHILDREN = FINAL | INTERIM | {"system-out", "system-err", "properties"}
SUITE_CHILDREN = {"properties", "testcase", "system-out", "system-err"}
CASE_ATTRS = {"name", "classname", "time", "file", "line", "group"}
INTERIM_CHILDREN = {"stackTrace", "system-out", "system-err"}


def junit_problems(path: Path) -> list[str]:
    """Every way the file departs from the schema; [] when it is valid."""
    root = ET.parse(path).getroot()
    problems: list[str] = []
    if root.tag != "testsuites":
        return [f"root is <{root.tag}>, expected <testsuites>"]
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in root:
        if suite.tag != "testsuite":
            problems.append(f"<{suite.tag}> under <testsuites>")
            continue
        name = suite.get("name")
        if not name:
            problems.append("testsuite without a name")
        counts = dict.fromkeys(totals, 0)
        tags = [child.tag for child in suite]
        if "properties" in tags and tags.index("properties") != 0:
            problems.append(f"{name}: <properties> after other children (the XSD puts it first)")
        for child in suite:
            if child.tag not in SUITE_CHILDREN:
                problems.append(f"{name}: <{child.tag}> under <testsuite>")
            if child.tag == "testcase":
                counts["tests"] += 1
                problems += _case_problems(name or "?", child, counts)
        for key, value in counts.items():
            if suite.get(key) != str(value):
                problems.append(f"{name}: {key}={suite.get(key)!r}, its testcases say {value}")
            totals[key] += value
    for key, value in totals.items():
        if root.get(key) is not None and root.get(key) != str(value):
            problems.append(f"testsuites: {key}={root.get(key)!r}, its testsuites say {value}")
    return problems


def _case_problems(suite: str, case: ET.Element, counts: dict[str, int]) -> list[str]:
    where = f"{suite}/{case.get('name')}"
    problems = [f"{where}: missing {a}" for a in ("name", "classname", "file") if not case.get(a)]
    problems += [f"{where}: unknown attribute {a}" for a in case.attrib if a not in CASE_ATTRS]
    tags = [child.tag for child in case]
    problems += [f"{where}: <{t}> under <testcase>" for t in tags if t not in CASE_CHILDREN]
    outs = [i for i, t in enumerate(tags) if t in ("system-out", "system-err")]
    results = [i for i, t in enumerate(tags) if t in FINAL | INTERIM]
    if outs and results and min(outs) < max(results):
        problems.append(f"{where}: <system-out> before a result (the XSD puts results first)")
    final = [t for t in tags if t in FINAL]
    if len(final) > 1:
        problems.append(f"{where}: {len(final)} final results")
    for tag in final:
        counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[tag]] += 1
    failed = bool(set(final) & {"failure", "error"})
    for child in case:
        if child.tag in INTERIM:
            if child.tag.startswith("flaky") and failed:
                problems.append(f"{where}: <{child.tag}> in a testcase that failed (expected rerun*)")
            if child.tag.startswith("rerun") and not final:
                problems.append(f"{where}: <{child.tag}> in a testcase that passed (expected flaky*)")
            if not child.get("type") and not child.get("message"):
                problems.append(f"{where}: <{child.tag}> without message or type")
            problems += [f"{where}: <{g.tag}> under <{child.tag}>" for g in child
                         if g.tag not in INTERIM_CHILDREN]
    return problems
