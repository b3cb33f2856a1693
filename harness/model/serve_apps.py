"""The app's Serve config as plain data: what harness.app.serve_config validated (with Ray
Serve's own schema) and the rest of the run reads (apps, routes, deployments)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AppInfo:
    """One application of a config: what traffic and SLOs may name."""

    name: str
    route_prefix: str | None
    deployments: tuple[str, ...]  # those the file lists (an app may have more)


@dataclass(frozen=True)
class UnknownKey:
    """A key Ray's schema does not know: Ray ignores it, so a typo changes nothing in silence."""

    path: str  # applications.0.deployments.0.num_replicaz
    schema: str  # the Ray model that does not know it (DeploymentSchema)
    close: str | None  # the known key it is closest to (difflib), if any

    def line(self) -> str:
        """`applications.0.deployments.0.num_replicaz: did you mean num_replicas? (...)`."""
        hint = f": did you mean {self.close}?" if self.close else ""
        return f"{self.path}{hint} (not a key Ray's {self.schema} knows: Ray ignores it)"


@dataclass(kw_only=True)
class ServeConfig:
    """A validated config, as plain data in ServeDeploySchema's shape."""

    data: dict[str, Any]
    source: str = ""  # the file it came from ("" for the harness's own app form)
    notes: list[str] = field(default_factory=list)
    unknown: list[UnknownKey] = field(default_factory=list)  # warnings; refused with --strict

    @property
    def apps(self) -> list[AppInfo]:
        out = []
        for app in self.data.get("applications") or []:
            route = app.get("route_prefix", "/")
            deps = tuple(str(d.get("name")) for d in app.get("deployments") or [] if isinstance(d, dict))
            out.append(AppInfo(str(app.get("name", "default")), route, deps))
        return out

    def app(self, name: str) -> AppInfo | None:
        return next((a for a in self.apps if a.name == name), None)
