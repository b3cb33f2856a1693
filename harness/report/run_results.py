"""A run's results, written at its end and shown: summary.json and junit.xml (to a fallback
folder when the run's cannot take them), report.html, openmetrics.prom, results/latest,
then the verdict table. The runner calls it through its `reporter` (harness.model.context.
RunReporter), so the runner's package never imports a reporter."""

from __future__ import annotations

from pathlib import Path

from harness.files import point_symlink, results_fallback_dir
from harness.measure.timeline import Timeline
from harness.model.context import RunContext
from harness.model.outcome import RunOutcome
from harness.report.html import REPORT_FILE, write_report
from harness.report.junit import build_suite, write_junit
from harness.report.prometheus import RUN_FILE as PROM_FILE
from harness.report.prometheus import write_run_metrics
from harness.report.summary import app_version, build_summary, write_summary
from harness.report.terminal import print_verdicts


class RunResults:
    """The harness's reporter of one run."""

    def write(self, ctx: RunContext, outcome: RunOutcome, *, release: str, results_root: Path,
              timeline: Timeline | None = None) -> None:
        """Every result file; a view that cannot be written is a note, never worth the verdict.
        timeline: the runner's one read of the run's timeline, handed to report.html and
        openmetrics.prom (None: they read it from the run folder)."""
        summary = build_summary(
            outcome,
            ctx.scenario.model_dump(mode="json"),
            {"overrides": ctx.overrides, "http_port": ctx.http_port, "artifacts": ctx.artifacts.as_dict(),
             "release": release},
        )
        summary["versions"]["app"] = app_version(ctx.scenario.app)
        try:
            write_summary(ctx.run_dir / "summary.json", summary)
            write_junit(ctx.run_dir / "junit.xml", [build_suite(outcome)])
        except OSError as exc:  # e.g. a full disk: each file is complete or absent
            fallback = results_fallback_dir(ctx.run_id)
            outcome.notes.append(f"could not write results to {ctx.run_dir} ({exc}); wrote them to {fallback}")
            summary["notes"] = outcome.notes
            write_summary(fallback / "summary.json", summary)
            write_junit(fallback / "junit.xml", [build_suite(outcome)])
            return
        try:
            write_report(ctx.run_dir, timeline)
        except Exception as exc:  # the report is a view of the results: never worth the verdict
            outcome.notes.append(f"could not write {REPORT_FILE}: {exc}")
        try:
            write_run_metrics(ctx.run_dir, timeline=timeline)
        except Exception as exc:  # a view of the results too
            outcome.notes.append(f"could not write {PROM_FILE}: {exc}")
        try:
            point_symlink(results_root / "latest", ctx.run_dir.name)
        except OSError as exc:
            outcome.notes.append(f"could not update results/latest: {exc}")

    def show(self, ctx: RunContext, outcome: RunOutcome) -> None:
        """The verdict table, and where the report is."""
        print_verdicts(ctx.console, outcome)
        if (ctx.run_dir / REPORT_FILE).exists():
            ctx.console.print(f"report: {ctx.run_dir / REPORT_FILE}", highlight=False, soft_wrap=True)
