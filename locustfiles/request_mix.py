"""The request mix inside the load process: which named request to send, and its body.

Built from the resolved `load.requests` (harness.load.traffic.resolve_requests): plain
data, already validated. Stdlib only; runs in the load process (never import ray).
A body template's fields are drawn from a random stream of the run's seed, so
the same seed sends the same bodies in the same order (open model).
"""

from __future__ import annotations

import bisect
import json
import random
from typing import Any

_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


class MixRequest:
    """One named request of the mix, ready to send."""

    __slots__ = ("name", "method", "path", "headers", "body", "template", "timeout_s", "expect")

    def __init__(self, data: dict[str, Any]):
        self.name: str = data["name"]
        self.method: str = data["method"]
        self.path: str = data["path"]
        self.timeout_s: float = float(data["timeout_s"])
        self.expect: frozenset[int] | None = frozenset(data["expect"]) if data.get("expect") else None
        body = data.get("body")
        self.body: bytes | None = body.encode() if isinstance(body, str) else None
        self.template: list[tuple[str, str, Any]] | None = (
            [(field, kind, arg) for field, (kind, arg) in data["template"].items()] if data.get("template") else None
        )
        headers = dict(data.get("headers") or {})
        if (self.body is not None or self.template is not None) and not any(
            k.lower() == "content-type" for k in headers
        ):
            headers["Content-Type"] = "application/json"
        self.headers: dict[str, str] | None = headers or None

    def body_for(self, rng: random.Random) -> bytes | None:
        """The body to send: fixed, or the template's fields drawn from `rng`."""
        if self.template is None:
            return self.body
        out: dict[str, Any] = {}
        for field, kind, arg in self.template:
            if kind == "choice":
                out[field] = arg[int(rng.random() * len(arg))]
            elif kind == "int":
                out[field] = rng.randint(arg[0], arg[1])
            elif kind == "float":
                out[field] = round(rng.uniform(arg[0], arg[1]), 6)
            else:
                out[field] = arg
        return _ENCODE(out).encode()

    def outcome_ok(self, status: int) -> bool | None:
        """True/False when the request names its expected status; None: the usual 2xx/3xx rule."""
        return None if self.expect is None else status in self.expect


class RequestMix:
    """Named requests with weights; `pick(u)` maps a uniform draw in [0, 1) to one of them."""

    def __init__(self, items: list[dict[str, Any]]):
        if not items:
            raise ValueError("expected at least one request")
        self.requests = [MixRequest(item) for item in items]
        total = float(sum(item["weight"] for item in items))
        acc, self._edges = 0.0, []
        for item in items:
            acc += item["weight"] / total
            self._edges.append(acc)
        self.weights = [float(item["weight"]) for item in items]

    def pick(self, u: float) -> MixRequest:
        if len(self.requests) == 1:
            return self.requests[0]
        return self.requests[min(bisect.bisect_right(self._edges, u), len(self.requests) - 1)]

    def __len__(self) -> int:
        return len(self.requests)
