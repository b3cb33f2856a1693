"""An autoscaling cluster on this machine: Ray's real autoscaler over fake nodes.

The harness starts the head itself, `ray start --head --block
--autoscaling-config=FILE` with `RAY_FAKE_CLUSTER=1`, on 127.0.0.1, in the run's
own temp dir, every port picked free. It never calls
`ray.cluster_utils.AutoscalingCluster.start()/shutdown()`: they run
`ray stop --force`, which kills every Ray process on the machine.

`--block` keeps `ray start` alive as the harness's child, so the head's
processes, the autoscaler monitor and every node the monitor launches (raylets
and their agents) stay descendants of the harness: the run's ProcessLedger and
its reaper record them by (pid, start time) and kill them on every exit path.
Worker nodes come from harness.cluster.fake_provider (Ray's FakeMultiNodeProvider with
boot delays, a node cap and control-plane faults).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.cluster.local import (
    LOOPBACK,
    MB,
    MONITOR_PORT_ENV,
    ClusterStartError,
    LocalLease,
    check_ports_owned,
    free_port,
    prepare_driver,
    stop_cluster,
    unfence_ray_init,
)
from harness.files import write_json_atomic
from harness.model.autoscaling_spec import AutoscalingClusterSpec
from harness.model.cluster_handle import ClusterHandle, NodeHandle
from harness.procs.ledger import ProcessLedger

HEAD_TYPE = "ray.head.default"
CONTROL_FILE = "provider_control.json"
STATE_FILE = "provider_state.json"
PROVIDER_MODULE = "harness.cluster.fake_provider.HarnessNodeProvider"


def autoscaling_config(spec: AutoscalingClusterSpec, gcs_address: str, files: Path) -> dict[str, Any]:
    """The autoscaler's cluster config (Ray's cluster YAML schema, as the fake provider wants it)."""
    types: dict[str, Any] = {
        HEAD_TYPE: {"resources": {}, "node_config": {}, "max_workers": 0},
    }
    for node_type in spec.node_types:
        resources: dict[str, Any] = dict(node_type.resources, CPU=node_type.num_cpus)
        if node_type.num_gpus:
            resources["GPU"] = node_type.num_gpus
        resources["object_store_memory"] = node_type.object_store_mb * MB
        types[node_type.name] = {
            "resources": resources,
            "node_config": {"startup_delay_s": node_type.startup_delay_s},
            "min_workers": node_type.min_workers,
            "max_workers": node_type.max_workers,
        }
    return {
        "cluster_name": "harness",
        "max_workers": sum(t.max_workers for t in spec.node_types),
        "upscaling_speed": spec.upscaling_speed,
        "idle_timeout_minutes": spec.idle_timeout_s / 60.0,
        "docker": {},
        "provider": {
            "type": "external",
            "module": PROVIDER_MODULE,
            "gcs_address": gcs_address,
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "node_cap": spec.resolved_cap(),
            "control_file": str(files / CONTROL_FILE),
            "state_file": str(files / STATE_FILE),
        },
        "auth": {"ssh_user": "ubuntu"},
        "available_node_types": types,
        "head_node_type": HEAD_TYPE,
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [],
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }


@dataclass
class HeadProcess:
    """`ray start --head --block`: stopping it stops the head; the ledger sweeps the rest."""

    process: subprocess.Popen[bytes]
    files: Path

    def shutdown(self, timeout_s: float = 3.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # ray start --block stops its processes
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)

    @property
    def control_file(self) -> Path:
        return self.files / CONTROL_FILE

    @property
    def state_file(self) -> Path:
        return self.files / STATE_FILE

    def monitor_logs(self) -> list[Path]:
        """The autoscaler monitor's log files (where its exceptions land)."""
        return sorted(self.files.glob("ray/session_2*/logs/monitor*"))


def _head_command(spec: AutoscalingClusterSpec, config_file: Path, port: int, ray_temp: Path,
                  metrics_port: int) -> list[str]:
    head = spec.head
    cmd = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
        f"--autoscaling-config={config_file}",
        f"--node-ip-address={LOOPBACK}", f"--port={port}",
        f"--num-cpus={head.num_cpus}", f"--num-gpus={head.num_gpus}",
        f"--object-store-memory={head.object_store_mb * MB}",
        f"--temp-dir={ray_temp}",
        "--include-dashboard=false", "--disable-usage-stats",
        # Defaults would collide with another cluster on this machine.
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
        f"--metrics-export-port={metrics_port}",  # the head's Prometheus endpoint (harness.run.ray_scrape)
    ]
    if head.resources:
        cmd.append(f"--resources={json.dumps(head.resources)}")
    return cmd


def start_autoscaling_cluster(
    spec: AutoscalingClusterSpec,
    ledger: ProcessLedger,
    temp_root: Path,
    start_timeout_s: float,
    system_config: dict[str, Any] | None = None,
) -> ClusterHandle:
    """Start the head with the autoscaler; on failure stop whatever started and raise ClusterStartError."""
    prepare_driver()
    import ray

    ray_temp = temp_root / "ray"
    ray_temp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"{LOOPBACK}:{port}"
    config_file = temp_root / "autoscaling.yaml"
    write_json_atomic(config_file, autoscaling_config(spec, address, temp_root))
    write_json_atomic(temp_root / CONTROL_FILE, {})
    metrics_port = free_port()
    cmd = _head_command(spec, config_file, port, ray_temp, metrics_port)
    if system_config:
        cmd.append(f"--system-config={json.dumps(system_config, separators=(',', ':'))}")
    env = dict(os.environ, RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S=f"{spec.update_interval_s:g}",
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **{MONITOR_PORT_ENV: str(free_port())})
    log = open(temp_root / "ray_start.log", "wb")  # noqa: SIM115 - the child keeps writing to it
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=temp_root)
    log.close()
    head_proc = HeadProcess(process, temp_root)
    handle = ClusterHandle(address=address, owned=True, temp_dir=ray_temp)
    handle.backend = head_proc
    deadline = time.monotonic() + start_timeout_s
    unfence_ray_init()
    try:
        ledger.snapshot_descendants()
        _wait_for_gcs(head_proc, port, deadline, ledger)
        ray.init(address=address, _node_ip_address=LOOPBACK, logging_level="WARNING", log_to_driver=False)
        head_id = next(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
        handle.nodes["head"] = NodeHandle(name="head", spec=None, node_id=head_id, is_head=True, metrics_export_port=metrics_port)
        ledger.snapshot_descendants()
        _wait_min_workers(spec, deadline)
        check_ports_owned(handle.ports(), ledger)
    except ClusterStartError:
        stop_cluster(handle, ledger)
        raise
    except Exception as exc:
        stop_cluster(handle, ledger)
        raise ClusterStartError(f"autoscaling cluster did not start: {type(exc).__name__}: {exc}") from exc
    except BaseException:
        stop_cluster(handle, ledger)
        raise
    return handle


def _start_log_tail(files: Path, lines: int = 3) -> str:
    try:
        text = (files / "ray_start.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _wait_for_gcs(head: HeadProcess, port: int, deadline: float, ledger: ProcessLedger) -> None:
    """Wait until the GCS listens on its port (and is ours), or `ray start` failed."""
    while time.monotonic() < deadline:
        if head.process.poll() is not None:
            raise ClusterStartError(f"ray start exited with {head.process.returncode}: {_start_log_tail(head.files)}")
        listening = any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                        for c in psutil.net_connections(kind="tcp"))
        if listening and any(p.pid for p in _gcs_servers(head.process.pid)):
            ledger.snapshot_descendants()
            check_ports_owned({"gcs": port}, ledger)
            return
        time.sleep(0.2)
    raise ClusterStartError(f"the head's GCS did not listen on {port} in time: {_start_log_tail(head.files)}")


def _gcs_servers(pid: int) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for kid in kids:
        try:
            if kid.name().startswith("gcs_server"):
                out.append(kid)
        except psutil.Error:
            continue
    return out


def _wait_min_workers(spec: AutoscalingClusterSpec, deadline: float) -> None:
    """Wait until the node types' min_workers are up (the run starts from the floor)."""
    import ray

    wanted = 1 + sum(t.min_workers for t in spec.node_types)
    while True:
        alive = sum(1 for n in ray.nodes() if n.get("Alive"))
        if alive >= wanted:
            return
        if time.monotonic() > deadline:
            raise ClusterStartError(f"{alive - 1} of {wanted - 1} min_workers nodes came up in time")
        time.sleep(0.25)


class AutoscalingLease(LocalLease):
    """A run's own autoscaling cluster: the same lifecycle as a local one, another start."""

    kind = "autoscaling"

    def _start(self, ledger: ProcessLedger, temp_root: Path) -> ClusterHandle:
        spec = self.spec
        assert spec.autoscaling is not None  # harness.cluster.pick.own_lease picks this lease for it
        return start_autoscaling_cluster(spec.autoscaling, ledger, temp_root, spec.start_timeout_s,
                                         dict(spec.system_config))


def head_process(ctx: Any) -> HeadProcess | None:
    """The autoscaling head this run started (its RunContext's cluster), else None."""
    cluster = ctx.cluster
    head = getattr(cluster, "backend", None) if cluster is not None else None
    return head if isinstance(head, HeadProcess) else None
