"""Chaos records read loosely, for every view of a run (the live view, the live metrics,
the report): which record marks something happening, and one short phrase for it."""

from __future__ import annotations

from typing import Any

from harness.measure.records import Chaos

# Chaos records (harness.measure.records.Chaos): {"kind": "chaos", "id": "fault-1",
# "fault": "kill_raylet", "event": "injected", "targets": [{"node": ..., "pid": ...}], ...}.
# A target is the fault's own dict: its keys are read loosely, so a new fault never breaks a view.
NAME_KEYS = (Chaos.fault, Chaos.name)
STAGE_KEYS = (Chaos.event, Chaos.outcome)
TARGET_KEYS = (Chaos.targets, Chaos.node, Chaos.node_id)
_TARGET_DICT_KEYS = ("node_name", "node", "node_id", "replica", "replica_id", "actor_id", "pid")
# Bookkeeping, not something that happened to the cluster: a plan, the proxy's address,
# the summary record repeating a shot's outcome.
_NOT_EVENTS = ("planned", "proxy", "result")


def _text(value: Any) -> str:
    if isinstance(value, list):
        if not value:
            return ""
        more = f" +{len(value) - 1}" if len(value) > 1 else ""
        return _text(value[0]) + more
    if isinstance(value, dict):
        inner = next((value[k] for k in _TARGET_DICT_KEYS if value.get(k) not in (None, "", [], {})), None)
        return _text(inner) if inner is not None else ""
    return "" if value is None else str(value)


def first_text(record: dict[str, Any], keys: tuple[str, ...]) -> str:
    """The first of `keys` the record has, as short text (a list's first item, a target's name)."""
    for key in keys:
        text = _text(record.get(key))
        if text:
            return text
    return ""


def is_chaos_event(record: dict[str, Any]) -> bool:
    """A chaos record that marks something happening (injected, noticed, cleaned, failed...)."""
    return record.get(Chaos.kind) == Chaos.KIND and first_text(record, STAGE_KEYS) not in _NOT_EVENTS


def describe_chaos(record: dict[str, Any], targets_by_id: dict[str, str] | None = None) -> str:
    """One short phrase for a chaos record: `kill_raylet injected a40-node`.

    Later records of a shot (noticed, cleaned) often omit the target; pass the same
    targets_by_id to every call so they name the target their shot's injection named.
    """
    target = first_text(record, TARGET_KEYS)
    if targets_by_id is not None and record.get(Chaos.id) is not None:
        shot = str(record[Chaos.id])
        target = target or targets_by_id.get(shot, "")
        if target:
            targets_by_id[shot] = target
    words = [first_text(record, NAME_KEYS) or "fault", first_text(record, STAGE_KEYS), target]
    return " ".join(w for w in words if w)
