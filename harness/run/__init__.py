"""One run: the runner, its context, components (recorders, guards, live view) and outcome."""
