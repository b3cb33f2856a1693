"""Control-plane faults: the cloud API the autoscaler talks to misbehaves for a while.

They act inside Ray's autoscaler monitor, where the node provider lives, through
the provider's control file (harness.cluster.fake_provider reads it on every call):

    cloud_api_lag        newly launched instances are missing from the provider's
                         listing for `lag_s` (AWS DescribeInstances is eventually
                         consistent), for instances launched within `duration_s`
    launch_failure       creating a node raises for `duration_s`
    termination_failure  terminating a node raises for `duration_s`

Only an autoscaling cluster this run started has such a provider; elsewhere the
fault has no target. Whether the autoscaler still converged is for node SLOs
(`time_to_nodes`, `node_scale_down_time`); whether it logged an exception, for
`autoscaler_exceptions`.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from chaos.api import DurationArgs, Fault, FaultArgs, FaultEnv, Injection, Shot
from chaos.fault_errors import NoTarget
from harness.cluster.autoscaling_cluster import head_process
from harness.files import write_json_atomic

if TYPE_CHECKING:
    from harness.model.scenario import FaultSpec, Scenario

_LOCK = threading.Lock()  # faults fire on worker threads: one writer of the control file at a time


def control_file(env: FaultEnv) -> Path:
    head = head_process(env.ctx)
    if head is None:
        raise NoTarget("not an autoscaling cluster this run started: no node provider to act on")
    return head.control_file


def update_control(path: Path, name: str, entry: dict[str, Any] | None) -> None:
    """Set (or clear, with None) one fault's entry of the provider's control file, atomically."""
    with _LOCK:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if entry is None:
            data.pop(name, None)
        else:
            data[name] = entry
        write_json_atomic(path, data)


class _ControlPlaneFault(Fault):
    target_kind = "none"
    destructive = False  # only the run's own provider is touched
    extra: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def scenario_problems(cls, scenario: Scenario, entry: FaultSpec, args: FaultArgs, key: str) -> list[tuple[str, str]]:
        if scenario.cluster.autoscaling is not None:
            return []
        return [(f"{key}.fault", (
            f"cluster.autoscaling for {cls.name!r}: it acts on the node provider of an autoscaling cluster "
            "this run starts, and this cluster has none, so it could never fire"))]

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        path = control_file(env)
        duration = float(self.args.duration_s)  # type: ignore[attr-defined]
        entry: dict[str, Any] = {"until": time.time() + duration}
        entry.update({k: getattr(self.args, k) for k in self.extra})
        update_control(path, self.name, entry)
        return Injection(outcome="injected", targets=[{"provider": str(path.name)}], detail=f"{self.name} for {duration:g}s", duration_s=duration,
                         state={"path": str(path)})

    def cleanup(self, env: FaultEnv, injection: Injection) -> None:
        path = injection.state.get("path")
        if path:
            update_control(Path(path), self.name, None)


class CloudApiLagArgs(FaultArgs):
    lag_s: float = Field(default=5.0, gt=0, le=600)
    duration_s: float = Field(default=10.0, gt=0, le=3600)


class CloudApiLag(_ControlPlaneFault):
    """Newly launched instances are missing from the provider's listing for lag_s."""

    name = "cloud_api_lag"
    Args = CloudApiLagArgs
    extra = ("lag_s",)


class LaunchFailure(_ControlPlaneFault):
    """Creating a node raises (as a cloud out of capacity does) for duration_s."""

    name = "launch_failure"
    Args = DurationArgs


class TerminationFailure(_ControlPlaneFault):
    """Terminating a node raises for duration_s: idle nodes linger."""

    name = "termination_failure"
    Args = DurationArgs
