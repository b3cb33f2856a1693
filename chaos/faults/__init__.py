"""The built-in faults. Each module imports Ray only when a fault runs."""
