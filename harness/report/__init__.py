"""Reporters: read a run's verdicts and timeline, never re-measure."""
