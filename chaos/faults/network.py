"""Network faults between the load generator and the app, through the fault proxy.

The chaos component starts a proxy on 127.0.0.1 and points the load at it when a
scenario names this fault; the fault switches the proxy's mode for `duration_s`.
The cluster "noticed" when the proxy first acted on traffic in that mode.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.api import DurationArgs, Fault, FaultEnv, Injection, Shot
from chaos.fault_errors import FaultError
from chaos.proxy import Mode


class NetworkArgs(DurationArgs):
    mode: Literal["latency", "reset", "blackhole"] = "latency"
    latency_ms: float = Field(default=200.0, ge=0, le=60_000)
    jitter_ms: float = Field(default=0.0, ge=0, le=60_000)


class NetworkFault(Fault):
    """Added latency, connection resets or a blackhole on the load's path, for a while."""

    name = "network"
    Args = NetworkArgs
    target_kind = "network"
    destructive = False

    def inject(self, env: FaultEnv, shot: Shot) -> Injection:
        if env.proxy is None:
            raise FaultError("the fault proxy is not running")
        args: NetworkArgs = self.args  # type: ignore[assignment]
        env.proxy.set_mode(Mode(args.mode, args.latency_ms / 1000.0, args.jitter_ms / 1000.0))
        target = {"proxy": env.proxy.url, "upstream_port": env.proxy.upstream_port, "mode": args.mode}
        return Injection(outcome="injected", targets=[target], duration_s=args.duration_s)

    def noticed(self, env: FaultEnv, injection: Injection) -> str | None:
        if env.proxy is None or env.proxy.first_hit_t is None:
            return None
        return f"{self.args.mode} applied to traffic"  # type: ignore[attr-defined]

    def cleanup(self, env: FaultEnv, injection: Injection) -> None:
        if env.proxy is not None and env.proxy.mode.kind != "pass":
            env.proxy.set_mode(Mode())
