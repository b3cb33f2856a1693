"""Chaos and load-testing harness that gates releases of Ray Serve services."""

from pathlib import Path

__version__ = "0.1.0"

# The checkout holding harness/, chaos/ and locustfiles/: child processes (Locust, the
# reaper, Ray workers) get it on PYTHONPATH.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
