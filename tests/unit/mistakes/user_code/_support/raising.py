"""Raises on import."""
raise RuntimeError("no config for this environment")
