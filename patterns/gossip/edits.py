"""Edits as plain data: what a replication run (or a Prefect task) asks nodes to do."""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from patterns.core.exceptions import ConfigError
from patterns.gossip.node import ReplicaNode

MAX_KEY_CHARS = 1024
MAX_TEXT_CHARS = 1 << 20


class EditOp(enum.StrEnum):
    """One kind of local transaction."""

    SET = "set"  # map[key] = value
    DELETE = "delete"  # del map[key]
    APPEND = "append"  # array.append(value)
    DELETE_ITEMS = "delete_items"  # del array[index:index+length]
    INSERT_TEXT = "insert_text"  # text.insert(index, value)
    DELETE_TEXT = "delete_text"  # del text[index:index+length]


class Edit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One edit by ``node`` at virtual time ``at_s`` on the root ``root`` (the op's default)."""

    node: int
    op: EditOp
    key: str = ""
    value: Any = None
    index: int = 0
    length: int = 0
    at_s: float = 0.0
    root: str | None = None


INT64 = (-(1 << 63), (1 << 63) - 1)  # the integers a CRDT document stores


def _value_problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` cannot be stored in a CRDT document (None when it can): JSON-like data
    only, finite numbers, 64-bit integers."""
    if depth > 32:
        return "is nested more than 32 levels deep"
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else f"{value} does not fit in 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a finite number"
    if isinstance(value, list | tuple):
        for item in value:
            problem = _value_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"has a non-string key {key!r}"
            problem = _value_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"of type {type(value).__name__} is not JSON-like data (null, bool, number, string, list, map)"


def parse_edits(edits: Sequence[Edit | Mapping[str, Any]], nodes: int) -> list[Edit]:
    """Validate edits given as :class:`Edit` or plain dicts (from JSON or a flow parameter).

    Raises:
        ConfigError: unknown fields, wrong types, a node outside ``0..nodes-1``,
            a negative or non-finite time, index or length, an oversized key or text, or a
            value a CRDT document cannot store (not JSON-like, a non-finite float, an
            integer beyond 64 bits).
    """
    out: list[Edit] = []
    for i, raw in enumerate(edits):
        try:
            edit = raw if isinstance(raw, Edit) else msgspec.convert(dict(raw), Edit)
        except (msgspec.ValidationError, TypeError, ValueError) as err:
            raise ConfigError(f"edit {i} is invalid: {err}") from err
        if not 0 <= edit.node < nodes:
            raise ConfigError(f"edit {i} names node {edit.node}, outside 0..{nodes - 1}")
        if not math.isfinite(edit.at_s):
            raise ConfigError(f"edit {i}: at_s={edit.at_s!r} must be a finite number of seconds")
        if edit.at_s < 0 or edit.index < 0 or edit.length < 0:
            raise ConfigError(f"edit {i} has a negative time, index or length")
        problem = _value_problem(edit.value)
        if problem is not None:
            raise ConfigError(f"edit {i}: value {problem}")
        if len(edit.key) > MAX_KEY_CHARS:
            raise ConfigError(f"edit {i} has a key over {MAX_KEY_CHARS} characters")
        if edit.op is EditOp.INSERT_TEXT and not isinstance(edit.value, str):
            raise ConfigError(f"edit {i}: insert_text needs a string value")
        if isinstance(edit.value, str) and len(edit.value) > MAX_TEXT_CHARS:
            raise ConfigError(f"edit {i} has a value over {MAX_TEXT_CHARS} characters")
        out.append(edit)
    return out


def apply_edit(node: ReplicaNode, edit: Edit, now: float) -> bytes | None:
    """Run ``edit`` on ``node`` as one local transaction; returns its update (None if no-op)."""
    op = edit.op
    if op is EditOp.SET:
        return node.set_key(edit.key, edit.value, now, root=edit.root or "map")
    if op is EditOp.DELETE:
        return node.delete_key(edit.key, now, root=edit.root or "map")
    if op is EditOp.APPEND:
        return node.append(edit.value, now, root=edit.root or "array")
    if op is EditOp.DELETE_ITEMS:
        return node.delete_items(edit.index, edit.length, now, root=edit.root or "array")
    if op is EditOp.INSERT_TEXT:
        return node.insert_text(edit.index, str(edit.value), now, root=edit.root or "text")
    return node.delete_text(edit.index, edit.length, now, root=edit.root or "text")


def demo_edits(
    nodes: int, writers: int, edits_per_writer: int, seed: int = 0, window_s: float = 0.5
) -> list[Edit]:
    """Concurrent edits by ``writers`` random nodes over ``window_s`` virtual seconds.

    Each writer sets keys, appends to the array and inserts into the text; some
    writers also delete a key they set, so deletions replicate too.

    Raises:
        ConfigError: ``writers`` is outside ``1..nodes`` or ``edits_per_writer`` < 1.
    """
    if not 1 <= writers <= nodes:
        raise ConfigError(f"writers must be in 1..{nodes}, got {writers}")
    if edits_per_writer < 1:
        raise ConfigError(f"edits_per_writer must be >= 1, got {edits_per_writer}")
    rng = random.Random(seed)
    out: list[Edit] = []
    for w in sorted(rng.sample(range(nodes), writers)):
        for k in range(edits_per_writer):
            at = round(rng.uniform(0.0, window_s), 6)
            kind = k % 3
            if kind == 0:
                out.append(Edit(w, EditOp.SET, key=f"node{w}.k{k}", value=k, at_s=at))
            elif kind == 1:
                out.append(Edit(w, EditOp.APPEND, value=f"{w}:{k}", at_s=at))
            else:
                out.append(Edit(w, EditOp.INSERT_TEXT, value=f"[{w}.{k}]", at_s=at))
        if edits_per_writer > 3 and w % 2 == 0:
            out.append(Edit(w, EditOp.DELETE, key=f"node{w}.k0", at_s=window_s + 0.01))
    out.sort(key=lambda e: (e.at_s, e.node))
    return out
