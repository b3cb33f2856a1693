"""The HTML report, rendered by a real browser (headless Chromium), offline.

The report is built from a synthetic run directory (real SLO code, real summary
writer), so no cluster is needed. Three renders: the report itself (screenshot and
console), the report with a small checker script appended (what the browser laid
out, what it tried to load), and a known-bad page proving the console check sees
errors at all.
"""

from __future__ import annotations

import html
import json
import re
import struct
from pathlib import Path

import pytest

from harness.report.html import write_report
from harness.report.suite_html import write_suite_report
from tests.browser import ChromiumUnavailable, ensure_chromium, render
from tests.synthetic_run import make_run

# No Ray cluster: `make test` runs this beside the unit tests (pytest -m no_cluster).
pytestmark = [pytest.mark.integration, pytest.mark.no_cluster]

CHARTS = {"rps", "latency", "errors", "replicas", "nodes"}
CHECKER = r"""
<script>
(function () {
  const charts = [...document.querySelectorAll("svg.chart")].map((svg) => {
    const lines = [...svg.querySelectorAll(".series")].map((el) => {
      const box = el.getBBox();
      return {series: el.dataset.series, width: box.width, height: box.height};
    });
    const rect = svg.getBoundingClientRect();
    return {key: svg.dataset.chart, width: rect.width, height: rect.height, lines: lines,
            markers: svg.querySelectorAll(".marker").length,
            bands: [...svg.querySelectorAll(".band")].map((b) => b.dataset.name)};
  });
  const first = (sel) => { const el = document.querySelector(sel); return el ? el.getBoundingClientRect().top : -1; };
  const out = document.createElement("pre");
  out.id = "harness-check";
  out.textContent = JSON.stringify({
    charts: charts,
    external: [...document.querySelectorAll("[src], link[href], iframe, object, embed")]
      .map((el) => el.outerHTML.slice(0, 120))
      .concat([...document.styleSheets].flatMap((sheet) => [...sheet.cssRules].map((r) => r.cssText))
      .filter((text) => /url\(|@import/.test(text))),
    verdictTop: first("table"), firstChartTop: first("svg.chart"),
    bodyFont: getComputedStyle(document.body).fontSize,
  });
  document.body.appendChild(out);
})();
</script>
"""


@pytest.fixture(scope="module")
def chromium() -> Path:
    try:
        return ensure_chromium()
    except ChromiumUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(make_run(tmp_path_factory.mktemp("results")))


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def _probe(page: Path, tmp_path: Path) -> dict:
    """What the browser laid out for `page`, measured by the checker script appended to a copy."""
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECKER + "</body>"))
    dom = render(probe, tmp_path / "profile", "--dump-dom").stdout
    match = re.search(r'<pre id="harness-check">(.*?)</pre>', dom, re.S)
    assert match, "the checker did not run: " + dom[-500:]
    return json.loads(html.unescape(match.group(1)))


def test_report_draws_offline_without_console_errors(chromium: Path, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    rendered = render(report, tmp_path / "profile", "--window-size=1100,2600", f"--screenshot={shot}")
    assert rendered.console == [], f"console messages from the report: {rendered.console}"
    assert _png_size(shot) == (1100, 2600)
    # A blank or unstyled page compresses to a few kB; five charts and tables do not.
    assert shot.stat().st_size > 60_000, f"screenshot {shot} looks empty ({shot.stat().st_size} bytes)"

    check = _probe(report, tmp_path)

    assert check["external"] == [], f"the report refers to external resources: {check['external']}"
    assert check["bodyFont"] == "14px", "the inline stylesheet was not applied"
    assert 0 <= check["verdictTop"] < check["firstChartTop"], "the verdict table must come before the charts"
    charts = {c["key"]: c for c in check["charts"]}
    assert set(charts) == CHARTS
    for key, chart in charts.items():
        assert chart["width"] > 500 and chart["height"] > 150, f"chart {key} laid out too small: {chart}"
        drawn = [line for line in chart["lines"] if line["width"] > 300]
        assert drawn, f"chart {key} has no drawn line spanning the run: {chart['lines']}"
        assert chart["markers"] == 2, f"chart {key} should mark the injected and noticed chaos events"
        assert {"load", "burst-1", "cooldown"} <= set(chart["bands"]), f"chart {key} misses phases: {chart['bands']}"
    # The latency spike after the node was killed is drawn: p99's line is taller than flat.
    p99 = next(line for line in charts["latency"]["lines"] if line["series"] == "p99")
    assert p99["height"] > 60


def test_checks_see_a_bad_page(chromium: Path, tmp_path: Path) -> None:
    """The checks are not vacuous: console errors and external resources are seen."""
    page = tmp_path / "bad.html"
    page.write_text('<html><head><style>@import "x.css";</style></head><body><img src="missing.png">'
                    '<script>console.error("boom"); missingFunction();</script></body></html>')
    console = render(page, tmp_path / "profile", "--dump-dom").console
    assert any('"boom"' in line for line in console), console
    assert any("Uncaught ReferenceError" in line for line in console), console
    external = _probe(page, tmp_path)["external"]
    assert len(external) == 2 and "missing.png" in external[0], external


def test_suite_report_links_resolve_in_browser(chromium: Path, tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "suite", name=name, seed=seed) for name, seed in (("alpha", 1), ("beta", 2))]
    suite = write_suite_report(tmp_path / "suite", runs, title="nightly")
    probe = tmp_path / "suite" / "probe.html"
    probe.write_text(suite.read_text().replace("</body>", """<script>
      const links = [...document.querySelectorAll("a")].map((a) => a.href);
      const pre = document.createElement("pre"); pre.id = "links"; pre.textContent = links.join("\\n");
      document.body.appendChild(pre);</script></body>"""))
    rendered = render(probe, tmp_path / "profile", "--dump-dom")
    links = re.search(r'<pre id="links">(.*?)</pre>', rendered.stdout, re.S).group(1).split("\n")
    assert len(links) == 2
    for link, run in zip(links, runs, strict=True):
        assert link == (run / "report.html").as_uri()
        assert (run / "report.html").is_file()
