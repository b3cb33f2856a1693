"""Shipped scenarios point editors at the shipped schema, and that schema is today's
`harness schema` (so hover help and completion match what `harness validate` accepts)."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.scenario.scaffold import schema_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "configs" / "scenario.schema.json"


def shipped_scenarios() -> list[Path]:
    files = [*(ROOT / "configs").rglob("*.yaml")]
    return sorted(p for p in files if isinstance(d := yaml.safe_load(p.read_text()), dict)
                  and {"name", "cluster"} <= set(d))


def test_every_shipped_scenario_names_the_schema() -> None:
    assert len(shipped_scenarios()) >= 10
    for path in shipped_scenarios():
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1].strip()).resolve()
        assert target == SCHEMA, path


def test_shipped_schema_is_todays() -> None:
    assert SCHEMA.read_text() == schema_text(), "configs/scenario.schema.json is stale: harness schema > it"


def test_init_refreshes_a_stale_schema_beside_the_scenario(tmp_path: Path) -> None:
    from harness.cli import main

    (tmp_path / "scenario.schema.json").write_text("{}")  # an older version's
    assert main(["init", str(tmp_path / "new.yaml")]) == 0
    assert (tmp_path / "scenario.schema.json").read_text() == schema_text()
    assert (tmp_path / "new.yaml").read_text().startswith("# yaml-language-server: $schema=scenario.schema.json")
