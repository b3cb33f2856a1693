"""Every scenario key is documented once (harness.scenario.field_docs): the JSON schema's
descriptions (editor hover help) and docs/scenario-reference.md come from the same text."""

from __future__ import annotations

import json
from pathlib import Path

from harness.model.scenario import Scenario
from harness.scenario.field_docs import DOCS, field_doc, file_keys, models, reference_markdown
from harness.scenario.scaffold import schema_text

ROOT = Path(__file__).resolve().parents[2]


def properties(node: object) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    if isinstance(node, dict):
        found += list((node.get("properties") or {}).items())
        for value in node.values():
            found += properties(value)
    elif isinstance(node, list):
        for value in node:
            found += properties(value)
    return found


def test_every_schema_property_has_a_description() -> None:
    props = properties(json.loads(schema_text()))
    assert len(props) > 200
    bare = [name for name, spec in props if not (isinstance(spec, dict) and spec.get("description"))]
    assert bare == []


def test_every_field_is_documented_and_no_doc_names_a_missing_field() -> None:
    fields = {f"{m.__name__}.{name}" for m in models(Scenario) for name in file_keys(m)}
    assert sorted(f for f in fields if not field_doc(*_split(f))) == []
    assert sorted(set(DOCS) - fields) == []


def _split(key: str):  # "Model.field" -> (model, field)
    name, field = key.split(".", 1)
    return next(m for m in models(Scenario) if m.__name__ == name), field


def test_the_reference_page_is_generated_from_the_same_docs() -> None:
    assert (ROOT / "docs" / "scenario-reference.md").read_text() == reference_markdown(Scenario), \
        "docs/scenario-reference.md is stale: python -m harness.scenario.field_docs > it"
