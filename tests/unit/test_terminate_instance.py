"""terminate_instance against moto only (never real AWS): backoff, eventual consistency, not_injected."""

from __future__ import annotations

import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from moto import mock_aws  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from chaos.fault_errors import NoTarget  # noqa: E402
from chaos.faults.aws import (  # noqa: E402
    InstanceNeverAppeared,
    TerminateInstance,
    instance_state,
    terminate_and_wait,
)
from harness.cluster.local import free_port  # noqa: E402

REGION = "us-west-2"


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)


def launch(ec2) -> str:
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


def omit_first(ec2, instance_id: str, calls: int) -> dict[str, int]:
    """Eventual consistency: the first `calls` DescribeInstances answers do not list the instance."""
    seen = {"describe": 0}

    def strip(parsed, **_kwargs) -> None:
        seen["describe"] += 1
        if seen["describe"] <= calls:
            for reservation in parsed.get("Reservations", []):
                reservation["Instances"] = [i for i in reservation["Instances"] if i["InstanceId"] != instance_id]

    ec2.meta.events.register("after-call.ec2.DescribeInstances", strip)
    return seen


def test_terminates_after_the_instance_shows_up_late() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        instance_id = launch(ec2)
        seen = omit_first(ec2, instance_id, calls=3)
        result = terminate_and_wait(ec2, instance_id, appear_timeout_s=10, gone_timeout_s=10, max_wait_s=0.2)
        assert seen["describe"] >= 4  # three answers without it, then one with it, then the gone check
        assert result["describe_calls"] == seen["describe"]
        assert result["state_before"] == "running"
        assert result["final"] in ("terminated", "unlisted")
        assert instance_state(ec2, instance_id) == "terminated"


def test_never_listed_is_not_injected_with_the_reason() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        instance_id = launch(ec2)
        omit_first(ec2, instance_id, calls=10_000)
        with pytest.raises(InstanceNeverAppeared) as caught:
            terminate_and_wait(ec2, instance_id, appear_timeout_s=0.8, max_wait_s=0.1)
        assert instance_id in str(caught.value) and "never appeared" in str(caught.value)
        assert isinstance(caught.value, NoTarget)
        fresh = boto3.client("ec2", region_name=REGION)  # no hook: the instance was never touched
        assert instance_state(fresh, instance_id) == "running"


def test_unknown_instance_id_is_not_found_not_an_error() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        assert instance_state(ec2, "i-0123456789abcdef0") is None


def test_fault_over_http_against_a_moto_server() -> None:
    """The fault itself, through boto3 to a real HTTP endpoint on loopback (ThreadedMotoServer)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
        instance_id = launch(ec2)
        fault = TerminateInstance(TerminateInstance.Args.model_validate(
            {"endpoint_url": endpoint, "instance_id": instance_id, "appear_timeout_s": 5, "gone_timeout_s": 5,
             "max_wait_s": 0.2}))
        injection = fault.inject(None, None)  # an explicit instance id needs no cluster
        assert injection.outcome == "injected"
        assert injection.targets[0]["instance_id"] == instance_id
        assert instance_state(ec2, instance_id) == "terminated"
    finally:
        server.stop()
