"""The recorder's reading of Serve's instance details (shape as Ray 2.x returns them)."""

from ray.serve._private.common import DeploymentStatus, ReplicaState

from harness.run.recorder import deployment_sample, serve_sample

DETAILS = {
    "applications": {
        "app": {
            "status": "RUNNING",
            "deployments": {
                "Echo": {
                    "status": DeploymentStatus.UPSCALING,
                    "target_num_replicas": 3,
                    "deployment_config": {"autoscaling_config": {"min_replicas": 1, "max_replicas": 4}},
                    "replicas": [
                        {"state": ReplicaState.RUNNING}, {"state": "RUNNING"},
                        {"state": ReplicaState.STARTING}, {"state": ReplicaState.STOPPING},
                    ],
                },
                "Fixed": {"status": "HEALTHY", "target_num_replicas": 2,
                          "deployment_config": {"num_replicas": 2}, "replicas": []},
            },
        }
    }
}


def test_counts_by_state_target_and_bounds():
    echo = serve_sample("app", DETAILS)["deployments"]["Echo"]
    assert echo == {
        "status": "UPSCALING",
        "replicas": {"RUNNING": 2, "STARTING": 1, "STOPPING": 1},
        "running": 2,
        "total": 3,  # STOPPING replicas are not live
        "target": 3,
        "min_replicas": 1,
        "max_replicas": 4,
    }


def test_fixed_deployment_bounds_are_its_replica_count():
    fixed = deployment_sample(DETAILS["applications"]["app"]["deployments"]["Fixed"])
    assert (fixed["min_replicas"], fixed["max_replicas"], fixed["running"]) == (2, 2, 0)


def test_missing_app_is_not_started():
    assert serve_sample("other", DETAILS) == {"app_status": "NOT_STARTED", "deployments": {}}
