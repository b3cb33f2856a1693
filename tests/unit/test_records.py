"""Declared timeline records: every kind and field a writer uses is declared, documented and
importable without anything but the standard library (the load process imports it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.measure import records
from harness.measure.records import KINDS, STRICT_ENV, Request, UndeclaredRecord, problems
from harness.measure.timeline import TIMELINE_DIR, TimelineWriter, read_stream
from tests.synthetic_run import make_run

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_unit_tests_write_in_strict_mode() -> None:
    assert records.strict(), f"tests/unit/conftest.py sets {STRICT_ENV}=1"


def test_the_writer_refuses_an_undeclared_kind_or_field(tmp_path: Path) -> None:
    writer = TimelineWriter(tmp_path / "events.jsonl")
    with pytest.raises(UndeclaredRecord, match="undeclared field 'replicas'"):
        writer.emit("sample", replicas=3)
    with pytest.raises(UndeclaredRecord, match="undeclared record kind 'samples'"):
        writer.emit("samples")
    with pytest.raises(UndeclaredRecord, match=r"request.latency_ms: expected number, got str"):
        writer.emit(Request, latency_ms="slow")
    writer.emit(Request, t=1.0, id=1, latency_ms=2.5, outcome="ok", final=True)
    writer.close()
    assert [r["kind"] for r in read_stream(tmp_path / "events.jsonl")] == ["request"]


def test_outside_strict_mode_the_record_is_written_and_the_problem_kept(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STRICT_ENV, "0")
    writer = TimelineWriter(tmp_path / "events.jsonl")
    writer.emit("sample", t=1.0, replicas=3)  # a run never loses data to a missing declaration
    writer.close()
    assert writer.undeclared == ["sample: undeclared field 'replicas'"]
    assert [r.get("replicas") for r in read_stream(tmp_path / "events.jsonl")] == [3]


def test_constructors_and_readers_spell_fields_through_the_declaration() -> None:
    record = Request.new(t=5.0, id=1, outcome="ok", latency_ms=3.0)
    assert record == {"t": 5.0, "kind": "request", "id": 1, "outcome": "ok", "latency_ms": 3.0}
    assert record[Request.latency_ms] == 3.0 and Request.KIND == "request"
    with pytest.raises(AttributeError):
        Request.latency  # noqa: B018 - a reader's misspelt field fails at once
    with pytest.raises(UndeclaredRecord):
        Request.new(t=5.0, latncy_ms=3.0)


def test_a_synthetic_run_writes_only_declared_records(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    streams = sorted((run_dir / TIMELINE_DIR).glob("*.jsonl"))
    assert streams
    seen: set[str] = set()
    for stream in streams:
        for record in read_stream(stream):
            assert problems(record) == [], (stream.name, record)
            seen.add(record["kind"])
    assert {"request", "dropped", "phase", "sample", "chaos"} <= seen


def test_every_kind_is_documented_in_the_architecture_page() -> None:
    page = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    assert records.markdown_table() in page, "redraw the table: python -m harness.measure.records"
    for kind in KINDS.values():
        assert kind.DOC and kind.WRITER and all(f.doc for f in kind.FIELDS.values()), kind.KIND


def test_the_declarations_import_with_the_standard_library_only() -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import harness.measure.records\n"
        "import locustfiles.stream_writer\n"
        "new = sorted(m for m in set(sys.modules) - before\n"
        "             if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] not in"
        " ('harness', 'locustfiles'))\n"
        "print(json.dumps(new))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout) == []
