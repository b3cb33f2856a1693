"""Scenario files: safe YAML, the typed config, the loader and its cross-checks."""
