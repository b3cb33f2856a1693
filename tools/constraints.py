"""Write constraints.txt: the exact versions of the project's dependency closure as
installed in this venv (the versions the tests passed on). `make constraints` runs it;
`make install` installs with `-c constraints.txt`.

Only the closure of `ray-release-harness[dev]` is written (not pip, not whatever else
happens to be in the venv), walked through each distribution's own metadata.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DIST = "ray-release-harness"
HEADER = (
    "# The tested versions: the dependency closure of ray-release-harness[dev] as installed\n"
    "# when the tests last passed. Regenerate with `make constraints` after changing a version.\n"
)


def closure(root: str = DIST, extras: tuple[str, ...] = ("dev",)) -> dict[str, str]:
    """Canonical name -> installed version of every distribution `root[extras]` needs."""
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a marker-excluded or optional dependency that is not installed
        canonical = canonicalize_name(dist.metadata["Name"])
        if canonical != canonicalize_name(root):
            found[canonical] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(
                req.marker.evaluate(default_environment() | {"extra": extra})
                for extra in (wanted or {""})
            ):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return found


def render(versions: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={versions[name]}\n" for name in sorted(versions))


def parse(text: str) -> dict[str, str]:
    """constraints.txt -> canonical name -> pinned version."""
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line.strip())
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "constraints.txt")
    out.write_text(render(closure()))
    print(f"wrote {out} ({len(parse(out.read_text()))} pins)")
