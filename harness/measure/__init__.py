"""Measurement core: declared timeline records and the statistics over them (stdlib-light)."""
