"""License, tested versions and the Ray range: what a user installs is what the tests ran on."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from tools.constraints import DIST, closure, parse

ROOT = Path(__file__).resolve().parents[2]


def test_license_file_and_metadata_say_apache_2() -> None:
    assert (ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]
    meta = metadata.metadata(DIST)
    assert meta["License-Expression"] == "Apache-2.0"
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


def test_constraints_pin_exactly_the_installed_dependency_closure() -> None:
    pins = parse((ROOT / "constraints.txt").read_text())
    installed = closure()
    assert "ray" in installed and "locust" in installed and "pytest" in installed
    assert "pip" not in pins and DIST not in pins
    differ = {name: (pins.get(name), version) for name, version in installed.items()
              if pins.get(name) != version}
    assert differ == {}, "constraints.txt is not what .venv holds: `make constraints` after testing"
    assert set(pins) == set(installed), "constraints.txt pins packages outside the closure"


def test_make_install_uses_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-c constraints\.txt .*-e '\.\[dev\]'", makefile)
    assert re.search(r"^\$\(STAMP\):.*constraints\.txt", makefile, re.M)


def test_ray_range_is_no_wider_than_the_tested_minor() -> None:
    [ray] = [Requirement(r) for r in metadata.requires(DIST) or [] if Requirement(r).name == "ray"]
    tested = Version(parse((ROOT / "constraints.txt").read_text())["ray"])
    assert tested in ray.specifier
    previous = Version(f"{tested.major}.{tested.minor - 1}.99") if tested.minor else Version(f"{tested.major - 1}.99")
    following = Version(f"{tested.major}.{tested.minor + 1}.0")
    assert previous not in ray.specifier and following not in ray.specifier, \
        f"{ray.specifier} admits Ray versions no test ran on (tested: {tested})"
