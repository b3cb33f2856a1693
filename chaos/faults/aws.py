"""terminate_instance: terminate the EC2 instance under a node of a cluster on AWS.

For `cluster.address` runs (a cluster this run did not start, so destructive:
`chaos.allow_destructive_on_existing` must be set). The instance id comes from
the fault's `instance_id`, else the node's labels, else RAY_CLOUD_INSTANCE_ID as
the node's own processes see it (a zero-CPU task pinned to the node reads it).

AWS is eventually consistent: DescribeInstances may not list an instance yet, or
still list one that is going away. So nothing is asserted on a first answer:
the instance is looked up with exponential backoff (tenacity) until it appears
(never: `not_injected`, with the reason), then terminated with TerminateInstances,
then looked up again with backoff until it is gone (terminated, or no longer listed).
Tests run it against moto only; no test calls real AWS.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import Field
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from chaos.api import Fault, FaultArgs, FaultEnv, Injection, Shot
from chaos.fault_errors import FaultError, NoTarget

if TYPE_CHECKING:
    from harness.model.scenario import FaultSpec, Scenario

GONE_STATES = ("terminated",)
LABEL_KEYS = ("ray.io/cloud-instance-id", "cloud-instance-id", "instance-id")


class InstanceNeverAppeared(NoTarget):
    """DescribeInstances never listed the instance: nothing was terminated."""


class TerminateInstanceArgs(FaultArgs):
    region: str = Field(default="us-west-2", min_length=1, max_length=40)
    endpoint_url: str | None = None  # another EC2 endpoint (e.g. moto in tests)
    node: str | None = None  # a node name of the cluster; unset: the first worker by name
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    appear_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    gone_timeout_s: float = Field(default=300.0, gt=0, le=3600)
    max_wait_s: float = Field(default=8.0, gt=0, le=60)  # the backoff's longest pause


def instance_state(ec2: Any, instance_id: str) -> str | None:
    """The instance's state name, or None while DescribeInstances does not list it."""
    try:
        answer = ec2.describe_instances(InstanceIds=[instance_id])
    except ec2.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
            return None  # not (yet, or no longer) known to this endpoint
        raise
    for reservation in answer.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            if instance.get("InstanceId") == instance_id:
                return instance.get("State", {}).get("Name")
    return None


def _poll(test: Any, timeout_s: float, max_wait_s: float) -> Any:
    """Call `test` with exponential backoff until it returns a non-None answer (RetryError if never)."""
    retrying = Retrying(retry=retry_if_result(lambda answer: answer is None),
                        stop=stop_after_delay(timeout_s),
                        wait=wait_exponential(multiplier=0.1, max=max_wait_s))
    return retrying(test)


def terminate_and_wait(ec2: Any, instance_id: str, appear_timeout_s: float = 60.0,
                       gone_timeout_s: float = 300.0, max_wait_s: float = 8.0) -> dict[str, Any]:
    """Terminate one instance and wait until it is gone; InstanceNeverAppeared when never listed."""
    looks = {"appear": 0, "gone": 0}

    def listed() -> str | None:
        looks["appear"] += 1
        return instance_state(ec2, instance_id)

    try:
        state = _poll(listed, appear_timeout_s, max_wait_s)
    except RetryError:
        raise InstanceNeverAppeared(
            f"instance {instance_id} never appeared in DescribeInstances within {appear_timeout_s:g}s "
            f"({looks['appear']} calls): nothing was terminated") from None
    if state in GONE_STATES:
        raise NoTarget(f"instance {instance_id} is already {state}")
    started = time.monotonic()
    ec2.terminate_instances(InstanceIds=[instance_id])

    def gone() -> str | None:
        looks["gone"] += 1
        now = instance_state(ec2, instance_id)
        return "unlisted" if now is None else (now if now in GONE_STATES else None)

    try:
        final = _poll(gone, gone_timeout_s, max_wait_s)
    except RetryError:
        raise FaultError(f"instance {instance_id} was asked to terminate but was not gone within "
                         f"{gone_timeout_s:g}s ({looks['gone']} DescribeInstances calls)") from None
    return {"instance_id": instance_id, "state_before": state, "final": final,
            "describe_calls": looks["appear"] + looks["gone"], "gone_after_s": round(time.monotonic() - started, 3)}


def instance_id_of(node_id: str, labels: dict[str, str]) -> str:
    """The node's cloud instance id: its labels, else RAY_CLOUD_INSTANCE_ID on the node."""
    for key in LABEL_KEYS:
        if labels.get(key):
            return labels[key]
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0, max_retries=0)
    def read_instance_id() -> str:
        import os

        return os.environ.get("RAY_CLOUD_INSTANCE_ID", "")

    strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
    found = ray.get(read_instance_id.options(scheduling_strategy=strategy).remote(), timeout=60)
    if not found:
        raise NoTarget(f"node {node_id[:12]} has no instance id (no label, no RAY_CLOUD_INSTANCE_ID)")
    return found


class TerminateInstance(Fault):
    """Terminate the EC2 instance under a worker node (boto3) and wait until AWS says it is gone."""

    name = "terminate_instance"
    Args = TerminateInstanceArgs
    target_kind = "none"  # chosen at run time from the live cluster: `node`, else the first worker
    destructive = True

    @classmethod
    def scenario_problems(cls, scenario: Scenario, entry: FaultSpec, args: FaultArgs, key: str) -> list[tuple[str, str]]:
        """Fixed nodes this harness starts have no cloud instance under them (an autoscaling
        cluster's fake nodes carry an instance id, as cloud nodes do)."""
        chosen: TerminateInstanceArgs = args  # type: ignore[assignment]
        if not scenario.cluster.nodes or chosen.instance_id is not None:
            return []
        return [(f"{key}.args.instance_id", (
            f"an instance_id, cluster.address (a cluster on EC2) or cluster.autoscaling for {cls.name!r}: "
            "the cluster.nodes this run starts have no cloud instance id, so it could never fire"))]

    def _target(self, env: FaultEnv) -> tuple[str, str, dict[str, str]]:
        import ray

        args: TerminateInstanceArgs = self.args  # type: ignore[assignment]
        alive = [n for n in ray.nodes() if n.get("Alive") and "node:__internal_head__" not in n.get("Resources", {})]
        alive.sort(key=lambda n: n.get("NodeName") or n["NodeID"])
        if args.node is not None:
            alive = [n for n in alive if args.node in (n.get("NodeName"), n["NodeID"])]
        if not alive:
            raise NoTarget(f"no live worker node{'' if args.node is None else f' named {args.node!r}'}")
        node = alive[0]
        return node.get("NodeName") or node["NodeID"][:12], node["NodeID"], dict(node.get("Labels") or {})

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        import boto3

        args: TerminateInstanceArgs = self.args  # type: ignore[assignment]
        name, node_id = "", ""
        instance_id = args.instance_id
        if instance_id is None:
            name, node_id, labels = self._target(env)
            instance_id = instance_id_of(node_id, labels)
        ec2 = boto3.client("ec2", region_name=args.region, endpoint_url=args.endpoint_url)
        result = terminate_and_wait(ec2, instance_id, args.appear_timeout_s, args.gone_timeout_s, args.max_wait_s)
        target = {"node": name, "node_id": node_id, **result}
        return Injection(outcome="injected", targets=[target], detail=f"terminated {instance_id} ({result['final']})")
