"""Ray's fake multi-node provider with a cloud's habits: boot delays, a node cap, faults.

This module runs inside Ray's autoscaler monitor process (the autoscaling config
names it: provider `type: external`, `module: harness.cluster.fake_provider.HarnessNodeProvider`),
never in the harness. The two talk through two small JSON files named in the
provider config:

- `control_file` (written by the harness, read here on each call): control-plane
  faults with their end times, e.g. {"cloud_api_lag": {"lag_s": 5, "until": T},
  "launch_failure": {"until": T}, "termination_failure": {"until": T}};
- `state_file` (written here, read by the harness): the provider's nodes with
  their type and state (booting, running, hidden), launches refused at the node
  cap and the most nodes the autoscaler wanted at once.

A node type's `node_config.startup_delay_s` holds a launched node back (listed,
but its raylet not started) the way a cloud instance boots.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider
from ray.autoscaler.tags import TAG_RAY_NODE_KIND, TAG_RAY_USER_NODE_TYPE

from harness.files import write_json_atomic

logger = logging.getLogger(__name__)


class NodeCapReached(RuntimeError):
    """The autoscaler asked for more nodes than this machine may run."""


class InjectedCloudError(RuntimeError):
    """A control-plane fault the harness injected (launch or termination failure)."""


def read_json(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: str, data: dict[str, Any]) -> None:
    write_json_atomic(Path(path), data)


def fault_active(control: dict[str, Any], name: str, now: float) -> dict[str, Any] | None:
    entry = control.get(name)
    if isinstance(entry, dict) and now < float(entry.get("until", 0)):
        return entry
    return None


class HarnessNodeProvider(FakeMultiNodeProvider):
    def __init__(self, provider_config: dict[str, Any], cluster_name: str):
        super().__init__(provider_config, cluster_name)
        self._control_file = provider_config.get("control_file")
        self._state_file = provider_config.get("state_file")
        self._node_cap = int(provider_config.get("node_cap", 1000))
        self._created_at: dict[str, float] = {}
        self._hidden_until: dict[str, float] = {}
        self._refused = 0
        self._wanted_max = 0
        self._launch_errors = 0
        self._termination_errors_seen = 0
        self._write_state()

    # -- listing (cloud_api_lag hides new instances for a while) -------------

    def non_terminated_nodes(self, tag_filters: dict[str, str]) -> list[str]:
        nodes = super().non_terminated_nodes(tag_filters)
        now = time.time()
        self._write_state()  # the harness sees hidden nodes come into view at this cadence
        return [n for n in nodes if self._hidden_until.get(n, 0) <= now]

    # -- launching ----------------------------------------------------------

    def _workers(self) -> list[str]:
        with self.lock:
            return [n for n, d in self._nodes.items() if d["tags"].get(TAG_RAY_NODE_KIND) == "worker"]

    def create_node_with_resources_and_labels(
        self, node_config: dict[str, Any], tags: dict[str, str], count: int,
        resources: dict[str, Any], labels: dict[str, str],
    ) -> None:
        now = time.time()
        control = read_json(self._control_file)
        if fault_active(control, "launch_failure", now):
            self._launch_errors += 1
            self._write_state()
            raise InjectedCloudError("InsufficientInstanceCapacity: injected launch_failure")
        have = len(self._workers())
        self._wanted_max = max(self._wanted_max, have + count)
        allowed = max(0, min(count, self._node_cap - have))
        lag = fault_active(control, "cloud_api_lag", now)
        delay = float(node_config.get("startup_delay_s", 0) or 0)
        for _ in range(allowed):
            node_id = self._launch_one(node_config, tags, resources, labels, delay)
            self._created_at[node_id] = now
            if lag:
                self._hidden_until[node_id] = now + float(lag.get("lag_s", 0))
        if allowed < count:  # what this machine cannot hold is never started
            self._refused += 1
        self._write_state()
        if allowed < count:
            raise NodeCapReached(f"node cap {self._node_cap} reached: {have + allowed} nodes run, "
                                 f"the autoscaler asked for {count - allowed} more")

    def _launch_one(self, node_config: dict[str, Any], tags: dict[str, str],
                    resources: dict[str, Any], labels: dict[str, str], delay: float) -> str:
        if delay <= 0:
            before = set(self._nodes)
            self._create_node_with_resources_and_labels(node_config, tags, 1, resources, labels)
            return next(iter(set(self._nodes) - before))
        # Booting: listed as the cloud lists a pending instance, raylet started later.
        with self.lock:
            node_id = self._next_hex_node_id()
            all_tags = {TAG_RAY_NODE_KIND: "worker", "ray-node-name": node_id, "ray-node-status": "up-to-date"}
            all_tags.update(tags)
            self._nodes[node_id] = {"tags": all_tags, "node": None, "booting": True}
        timer = threading.Timer(delay, self._boot, args=(node_id, node_config, tags, resources, labels))
        timer.daemon = True
        timer.start()
        return node_id

    def _boot(self, node_id: str, node_config: dict[str, Any], tags: dict[str, str],
              resources: dict[str, Any], labels: dict[str, str]) -> None:
        with self.lock:
            if node_id not in self._nodes:
                return  # terminated while it booted
            # Start the real node under the id the autoscaler already knows.
            saved = self._next_node_id
            self._next_node_id = int(node_id[-5:]) - 1
            try:
                self._create_node_with_resources_and_labels(node_config, tags, 1, resources, labels)
            finally:
                self._next_node_id = max(saved, self._next_node_id)
            self._nodes[node_id]["booting"] = False
        self._write_state()

    # -- terminating ----------------------------------------------------------

    def terminate_node(self, node_id: str) -> None:
        if fault_active(read_json(self._control_file), "termination_failure", time.time()):
            self._termination_errors_seen += 1
            self._write_state()
            raise InjectedCloudError(f"terminate {node_id}: injected termination_failure")
        with self.lock:
            node = self._nodes.pop(node_id)
            if node.get("node") is not None:
                self._terminate_node(node)
        self._hidden_until.pop(node_id, None)
        self._write_state()

    # -- what the harness reads ---------------------------------------------

    def _write_state(self) -> None:
        if not self._state_file:
            return
        now = time.time()
        with self.lock:
            nodes = {}
            for node_id, data in self._nodes.items():
                tags = data["tags"]
                if tags.get(TAG_RAY_NODE_KIND) != "worker":
                    continue
                state = "booting" if data.get("booting") else "running"
                if self._hidden_until.get(node_id, 0) > now:
                    state = "hidden"
                nodes[node_id] = {"type": tags.get(TAG_RAY_USER_NODE_TYPE), "state": state,
                                  "created": self._created_at.get(node_id)}
        try:
            write_json(self._state_file, {
                "t": now, "nodes": nodes, "node_cap": self._node_cap, "refused": self._refused,
                "wanted_max": self._wanted_max, "launch_errors": self._launch_errors,
                "termination_errors": self._termination_errors_seen,
            })
        except OSError:
            logger.warning("could not write %s", self._state_file)
