"""Chaos and load-testing harness that gates releases of Ray Serve services."""

__version__ = "0.1.0"
