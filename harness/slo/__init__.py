"""SLOs: metrics over timeline windows, verdicts, and the checks of what an SLO may name."""
