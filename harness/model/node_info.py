"""One node as the planners see it (chaos schedule, load worker placement): a name, its
resources, whether it is the head and, where known, its Ray node id and address."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class NodeInfo:
    """One node as a planner sees it. node_id and ip: a live node's (load placement);
    root: the node a planned replacement stands in for (chaos; its spec is reused)."""

    name: str
    resources: dict[str, float] = field(default_factory=dict)
    is_head: bool = False
    node_id: str = ""
    ip: str = "127.0.0.1"
    root: str = ""
