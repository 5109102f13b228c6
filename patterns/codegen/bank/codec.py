"""Bank items and trajectories to and from memory-store records (text, JSON metadata)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from patterns.codegen.bank.records import (
    BankItem,
    DistilledItem,
    ItemContext,
    ItemKind,
    UsageStats,
)
from patterns.codegen.records import EditFormat, Step, TestOutcome, Trajectory
from patterns.memory.schema import MemoryRecord

METADATA_VERSION = 1  # the ``v`` field of item metadata
SIGNATURE_KEYS = ("signature", "failure_signature")  # context keys read as the failure
FEATURE_KEYS = ("features", "code_features")  # context keys read as code features
MAX_FEATURES = 32  # features kept per context


def context_of(trajectory: Trajectory) -> ItemContext:
    """The failure signature and code features a trajectory's context names.

    The signature is the first of ``context["signature"]`` /
    ``context["failure_signature"]``; features come from ``context["features"]`` /
    ``context["code_features"]`` (a list of strings, one comma-separated string, or a
    mapping whose truthy keys count).
    """
    ctx = trajectory.context
    signature = next((str(ctx[k]) for k in SIGNATURE_KEYS if ctx.get(k)), "")
    raw = next((ctx[k] for k in FEATURE_KEYS if ctx.get(k)), ())
    return ItemContext(signature=signature[:200], features=_features(raw))


def _features(raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        values: list[str] = raw.split(",")
    elif isinstance(raw, Mapping):
        values = [str(k) for k, v in raw.items() if v]
    elif isinstance(raw, Sequence | set | frozenset):
        values = [str(v) for v in raw]
    else:
        values = []
    seen: dict[str, None] = {}
    for value in values:
        if value.strip():
            seen.setdefault(value.strip(), None)
    return tuple(seen)[:MAX_FEATURES]


def item_text(item: DistilledItem | BankItem) -> str:
    """The searchable (embedded) text of an item: what it says and where it applies."""
    parts = [f"{item.title}.", item.description, item.content]
    if item.context.signature:
        parts.append(f"Failure: {item.context.signature}.")
    if item.context.features:
        parts.append(f"Code features: {', '.join(item.context.features)}.")
    if item.tags:
        parts.append(f"Tags: {' '.join(item.tags)}.")
    return " ".join(p for p in parts if p)


def vector_text(item: DistilledItem | BankItem, mode: str) -> str:
    """What an item's vector embeds: its context's features (``mode="context"``) or its text."""
    if mode == "context" and item.context.features:
        return " ".join(item.context.features)
    return item_text(item)


def trajectory_text(trajectory: Trajectory, limit: int) -> str:
    """The searchable text of a trajectory: its task and its context summary."""
    ctx = context_of(trajectory)
    parts = [trajectory.task.strip()]
    if ctx.signature:
        parts.append(f"Failure: {ctx.signature}.")
    if ctx.features:
        parts.append(f"Code features: {', '.join(ctx.features)}.")
    parts.append("Solved." if trajectory.success else "Unsolved.")
    return " ".join(p for p in parts if p)[:limit]


def item_metadata(
    item: DistilledItem | BankItem,
    *,
    sources: Sequence[str],
    support: int,
    stats: UsageStats,
    seq: int = 0,
) -> dict[str, Any]:
    """The JSON metadata of an item record."""
    return {
        "v": METADATA_VERSION,
        "seq": seq,
        "title": item.title,
        "description": item.description,
        "content": item.content,
        "tags": list(item.tags),
        "context": {
            "signature": item.context.signature,
            "features": list(item.context.features),
        },
        "sources": list(sources),
        "support": support,
        "stats": {
            "retrieved": stats.retrieved,
            "used": stats.used,
            "successes": stats.successes,
            "failures": stats.failures,
            "last_used": stats.last_used.isoformat() if stats.last_used else None,
        },
    }


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strs(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def item_from_record(record: MemoryRecord) -> BankItem:
    """A bank item from its record (missing or malformed metadata fields take defaults)."""
    meta = record.metadata
    raw_ctx = meta.get("context")
    ctx = raw_ctx if isinstance(raw_ctx, dict) else {}
    raw_stats = meta.get("stats")
    st = raw_stats if isinstance(raw_stats, dict) else {}
    return BankItem(
        id=record.id,
        kind=ItemKind(record.kind),
        title=str(meta.get("title") or record.text[:80]),
        description=str(meta.get("description") or ""),
        content=str(meta.get("content") or record.text),
        tags=_strs(meta.get("tags")),
        context=ItemContext(str(ctx.get("signature") or ""), _strs(ctx.get("features"))),
        sources=_strs(meta.get("sources")),
        support=max(1, _int(meta.get("support"))),
        stats=UsageStats(
            retrieved=_int(st.get("retrieved")),
            used=_int(st.get("used")),
            successes=_int(st.get("successes")),
            failures=_int(st.get("failures")),
            last_used=_time(st.get("last_used")),
        ),
        created_at=record.created_at,
        seq=_int(meta.get("seq")),
    )


def _outcome(data: object) -> TestOutcome | None:
    if not isinstance(data, dict):
        return None
    return TestOutcome(
        passed=bool(data.get("passed")),
        total=int(data.get("total") or 0),
        failed=int(data.get("failed") or 0),
        error_type=data.get("error_type"),
        error_message=str(data.get("error_message") or ""),
        timed_out=bool(data.get("timed_out")),
        duration_s=float(data.get("duration_s") or 0.0),
        shapes=tuple(str(s) for s in data.get("shapes") or ()),
        fault_line=int(data.get("fault_line") or 0),
        fault_depth=int(data.get("fault_depth") or 0),
    )


def trajectory_from_dict(data: Mapping[str, Any]) -> Trajectory:
    """The trajectory :meth:`Trajectory.to_dict` produced ``data`` from.

    Raises:
        KeyError: a required field is missing.
        ValueError: an edit format is unknown.
    """
    steps = tuple(
        Step(
            index=int(s["index"]),
            candidate_id=str(s["candidate_id"]),
            edit=str(s["edit"]),
            format=EditFormat(s["format"]),
            tags=tuple(s.get("tags") or ()),
            description=str(s.get("description") or ""),
            applied=bool(s.get("applied", True)),
            apply_error=s.get("apply_error"),
            outcome=_outcome(s.get("outcome")),
            adopted=bool(s.get("adopted", False)),
        )
        for s in data["steps"]
    )
    return Trajectory(
        id=str(data["id"]),
        task_id=str(data["task_id"]),
        task=str(data["task"]),
        context=dict(data.get("context") or {}),
        steps=steps,
        success=bool(data["success"]),
        final_source=str(data.get("final_source") or ""),
        budget=int(data.get("budget") or 0),
        metadata=dict(data.get("metadata") or {}),
    )
