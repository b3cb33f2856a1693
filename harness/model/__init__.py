"""The ground floor: plain data every other package reads (the scenario's models, the run
context, outcomes and verdicts, cluster handles) and the declaration of the floors
(layers). Nothing here imports a package above it; the package itself imports nothing,
so the load process can read `harness.model.shape` without pydantic or Ray."""
