"""Release gating: suites of scenarios, retries and flaky classification, history,
regression checks against baselines, quarantine, and the suite's exit code."""
