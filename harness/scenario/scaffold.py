"""`harness init` (a commented starter scenario) and `harness schema` (the scenario's JSON
schema, from the same pydantic models that validate it, for editors to complete and check)."""

from __future__ import annotations

import json
from typing import Any

from harness import __version__
from harness.model.scenario import Scenario
from harness.scenario.field_docs import describe

STARTER = """\
# yaml-language-server: $schema=scenario.schema.json
# A starter scenario. Check it with `harness validate {file}`, run it with
# `harness run {file}`. Exit codes: 0 every SLO passed, 1 an SLO failed (block the
# release), 2 invalid config, 3 the harness or the infrastructure failed (no verdict).
# Every key: `harness schema > scenario.schema.json` (editors complete from it).
name: {name}
seed: 1                  # fixes every random choice of the run (--seed overrides it)
duration_s: 15           # how long the load runs
timeout_s: 240           # hard limit for the whole run, teardown included

cluster:                 # a local multi-node cluster on 127.0.0.1; the first node is the head
  nodes:
    - {{name: head, num_cpus: 2, object_store_mb: 100}}
    - {{name: worker, num_cpus: 2, object_store_mb: 100}}
  # address: 127.0.0.1:6379   # instead of nodes: an existing cluster (nothing started or stopped)

app:                     # the built-in app; yours: import_path: "my_pkg.app:app" (as `serve run` takes it)
  builtin:
    latency: {{distribution: uniform, ms: 2, max_ms: 8}}   # fixed | uniform | exponential | lognormal
    error_rate: 0.0
  deployments:           # per-deployment overrides, as in a Serve config file
    - name: Echo
      num_replicas: 2    # or autoscaling_config: {{min_replicas: 1, max_replicas: 4}}
      ray_actor_options: {{num_cpus: 0.5}}

load:                    # closed model: users that send, wait for the answer, wait wait_ms
  users: 4
  spawn_rate: 4
  wait_ms: 50
  # model: open          # or a fixed arrival rate: rate: 20 (requests per second)

slos:                    # `<metric> <op> <bound>`, judged over the `load` window unless `window:` says
  - {{name: requests succeed, check: "success_ratio >= 99%"}}
  - {{name: p99 latency, check: "p(99) < 1000ms"}}
  - {{name: enough traffic, check: "requests >= 100"}}

# chaos:                 # faults on a seeded schedule while the load runs (docs/chaos.md)
#   faults:
#     - {{fault: kill_replica, targets: {{deployment: Echo}}, schedule: {{at_s: [5]}}}}
"""


def starter_scenario(name: str, file: str) -> str:
    return STARTER.format(name=name, file=file)


def scenario_schema() -> dict[str, Any]:
    schema = describe(Scenario.model_json_schema(), Scenario)  # hover help: harness.scenario.field_docs
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": f"ray-release-harness {__version__} scenario"}


def schema_text() -> str:
    return json.dumps(scenario_schema(), indent=2) + "\n"
