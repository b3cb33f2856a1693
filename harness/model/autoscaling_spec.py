"""The `cluster.autoscaling` section: a head plus node types Ray's autoscaler launches.

Nodes are launched on this machine by Ray's fake multi-node provider (wrapped by
harness.cluster.fake_provider), so the machine bounds how many may run at once: the node
cap (`node_cap`, default `machine_node_limit()`) is the most nodes the provider
starts; an autoscaler that wants more ends the run as `host_guard`.
"""

from __future__ import annotations

from typing import Annotated

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ResourceAmount = Annotated[float, Field(ge=0, le=1e6)]
TypeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# What one fake node costs this machine: raylet, two agents, a small object store.
NODE_MEMORY_MB = 600
NODES_PER_CORE = 4


def machine_node_limit() -> int:
    """The most worker nodes this machine holds at once (cores and memory)."""
    cores = psutil.cpu_count() or 1
    memory_mb = psutil.virtual_memory().total / (1024 * 1024)
    return max(1, min(NODES_PER_CORE * cores, int(memory_mb // NODE_MEMORY_MB)))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeTypeSpec(_Strict):
    name: TypeName
    num_cpus: Annotated[int, Field(ge=0, le=256)] = 1
    num_gpus: Annotated[int, Field(ge=0, le=64)] = 0
    resources: dict[str, ResourceAmount] = Field(default_factory=dict)
    min_workers: Annotated[int, Field(ge=0, le=64)] = 0
    max_workers: Annotated[int, Field(ge=0, le=1000)] = 1
    # Seconds a launched node is held back before its raylet starts (a cloud boot).
    startup_delay_s: Annotated[float, Field(ge=0, le=600)] = 0
    object_store_mb: Annotated[int, Field(ge=75, le=65536)] = 80

    @model_validator(mode="after")
    def _worker_bounds(self) -> NodeTypeSpec:
        if self.min_workers > self.max_workers:
            raise ValueError(f"expected min_workers <= max_workers for node type {self.name!r}, "
                             f"got {self.min_workers} > {self.max_workers}")
        return self

    def offered(self) -> dict[str, float]:
        return dict(self.resources, CPU=self.num_cpus, GPU=self.num_gpus)


class HeadSpec(_Strict):
    num_cpus: Annotated[int, Field(ge=0, le=256)] = 1
    num_gpus: Annotated[int, Field(ge=0, le=64)] = 0
    resources: dict[str, ResourceAmount] = Field(default_factory=dict)
    object_store_mb: Annotated[int, Field(ge=75, le=65536)] = 100

    def offered(self) -> dict[str, float]:
        return dict(self.resources, CPU=self.num_cpus, GPU=self.num_gpus)


class AutoscalingClusterSpec(_Strict):
    head: HeadSpec = Field(default_factory=HeadSpec)
    node_types: list[NodeTypeSpec] = Field(min_length=1, max_length=16)
    idle_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 6
    upscaling_speed: Annotated[float, Field(gt=0, le=100)] = 1.0
    # Seconds between the autoscaler's updates (AUTOSCALER_UPDATE_INTERVAL_S).
    update_interval_s: Annotated[float, Field(ge=0.5, le=60)] = 1
    # Most worker nodes at once on this machine; unset: machine_node_limit().
    node_cap: Annotated[int, Field(ge=1, le=1000)] | None = None

    @field_validator("node_cap")
    @classmethod
    def _cap_fits_machine(cls, cap: int | None) -> int | None:
        limit = machine_node_limit()
        if cap is not None and cap > limit:
            raise ValueError(f"expected at most {limit} (what this machine holds: "
                             f"{NODES_PER_CORE} per core, {NODE_MEMORY_MB} MB each), got {cap}")
        return cap

    @model_validator(mode="after")
    def _unique_types(self) -> AutoscalingClusterSpec:
        names = [t.name for t in self.node_types]
        if len(set(names)) != len(names):
            raise ValueError(f"expected unique node type names, got {names}")
        return self

    def resolved_cap(self) -> int:
        return self.node_cap if self.node_cap is not None else machine_node_limit()

    def type_names(self) -> list[str]:
        return [t.name for t in self.node_types]

    def all_resources(self) -> dict[str, float]:
        """The largest amount of each resource the head or any node type offers."""
        best: dict[str, float] = {}
        for offered in [self.head.offered(), *(t.offered() for t in self.node_types)]:
            for key, amount in offered.items():
                best[key] = max(best.get(key, 0), amount)
        return best
