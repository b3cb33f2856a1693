"""Ray imported before the harness sets its environment still stays on loopback."""

import os
import subprocess
import sys

PROBE = """
import ray  # imported first, as pytest or a notebook would, with no loopback variable set
from ray._private.services import canonicalize_bootstrap_address
from harness.cluster.local import pin_loopback
pin_loopback()
print(canonicalize_bootstrap_address("127.0.0.1:6379"))
"""


def test_pin_loopback_after_ray_was_imported_keeps_127_0_0_1() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "127.0.0.1:6379"
