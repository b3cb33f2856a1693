"""The measurement core: the timeline, its declared records, series, windows and statistics."""
