"""Resource faults on one node for a while: burn CPU, hold memory.

A noisy neighbour is a Ray actor pinned to the target node (hard node affinity)
that reserves no resources (num_cpus=0), so it is placed even on a full node and
takes CPU or memory from whatever runs there. It ends when its duration is over
(cleanup kills it) and, as a worker of the run's cluster, dies with it anyway.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import Field

from chaos.api import DurationArgs, Fault, FaultEnv, Injection, Shot
from chaos.fault_errors import FaultError, NoTarget
from chaos.faults.gcs_state import node_id_of

START_TIMEOUT_S = 60.0


class Burner:
    """Runs inside the stress actor: spin one core, or hold memory, until a deadline."""

    def __init__(self) -> None:
        self._hold: bytearray | None = None

    def start(self, duration_s: float, kind: str, mb: int = 0) -> int:
        import os

        deadline = time.monotonic() + duration_s
        if kind == "memory":
            block = bytearray(mb * 1024 * 1024)
            for offset in range(0, len(block), 4096):  # touch every page: resident, not reserved
                block[offset] = 1
            self._hold = block
        else:
            threading.Thread(target=_spin, args=(deadline,), daemon=True).start()
        return os.getpid()


def _spin(deadline: float) -> None:
    x = 0
    while time.monotonic() < deadline:
        x += 1


class StressArgs(DurationArgs):
    cores: int = Field(default=1, ge=1, le=16)  # one spinning actor per core


class MemoryArgs(DurationArgs):
    mb: int = Field(default=256, ge=1, le=16384)


class _Stress(Fault):
    target_kind = "node"
    destructive = False
    kind = "cpu"

    def actors_per_node(self) -> int:
        return 1

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        duration = self.args.duration_s  # type: ignore[attr-defined]
        mb = getattr(self.args, "mb", 0)
        remote = ray.remote(num_cpus=0, max_restarts=0)(Burner)
        handles, targets = [], []
        for name in shot.nodes:
            node = env.ctx.cluster.nodes.get(name) if env.ctx.cluster else None
            if node is None or not node.alive:
                raise NoTarget(f"node {name!r} is not a live node of the cluster")
            node_id = node_id_of(node)
            strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
            for _ in range(self.actors_per_node()):
                handle = remote.options(scheduling_strategy=strategy).remote()
                handles.append(handle)
                targets.append({"node": name, "node_id": node_id, "ref": handle.start.remote(duration, self.kind, mb)})
        try:
            pids = ray.get([t.pop("ref") for t in targets], timeout=START_TIMEOUT_S)
        except Exception as exc:
            for handle in handles:
                ray.kill(handle)
            raise FaultError(f"stress actors did not start: {type(exc).__name__}: {exc}") from exc
        for target, pid in zip(targets, pids, strict=True):
            target["pid"] = pid
        return Injection(outcome="injected", targets=targets, duration_s=duration, state={"handles": handles})

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        return f"{self.kind} stress running on {sorted({t['node'] for t in injection.targets})}"

    def cleanup(self, env: FaultEnv, injection: Injection) -> None:
        import ray

        for handle in injection.state.pop("handles", []):
            try:
                ray.kill(handle)
            except Exception:
                pass

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": self.kind}


class CpuStress(_Stress):
    """Spin `cores` CPU cores on the target node for `duration_s`."""

    name = "cpu_stress"
    Args = StressArgs
    kind = "cpu"

    def actors_per_node(self) -> int:
        return int(self.args.cores)  # type: ignore[attr-defined]


class MemoryPressure(_Stress):
    """Hold `mb` MiB of resident memory on the target node for `duration_s`."""

    name = "memory_pressure"
    Args = MemoryArgs
    kind = "memory"
