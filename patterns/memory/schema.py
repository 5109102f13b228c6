"""Record types of the vector memory: the stored LanceModel row and the typed Python records."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pyarrow as pa
from lancedb.pydantic import LanceModel, Vector
from numpy.typing import NDArray
from pydantic import Field, JsonValue, create_model

from patterns.memory.exceptions import InvalidRecordError
from patterns.memory.settings import DEFAULT_DIM

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$")
"""Namespaces and kinds: 1..128 characters, letters, digits and ``_ . : / -``."""

MAX_ID_CHARS = 256  # longest record id, characters
MAX_TEXT_CHARS = 1_000_000  # longest record text, characters
DEFAULT_NAMESPACE = "default"
DEFAULT_KIND = "note"

_UTC: dict[str, JsonValue] = {"tz": "UTC"}


class MemoryRow(LanceModel):
    """One stored record: the LanceDB table schema.

    The vector dimension is fixed per table; :func:`row_model` derives the
    model for a given dimension. ``metadata`` holds a JSON object as text.
    Times are UTC microseconds; ``expires_at`` is null for records that
    never expire.
    """

    id: str = Field(description="Unique record id.")
    namespace: str = Field(description="Tenant or topic the record belongs to.")
    kind: str = Field(description="Record type within the namespace (note, trajectory, ...).")
    text: str = Field(description="The remembered text; full-text indexed.")
    vector: Vector(DEFAULT_DIM) = Field(description="L2-normalized embedding.")  # type: ignore[valid-type]
    metadata: str = Field("{}", description="A JSON object of free-form metadata.")
    created_at: datetime = Field(description="Creation time, UTC.", json_schema_extra=_UTC)
    expires_at: datetime | None = Field(
        None, description="Expiry time, UTC; null for never.", json_schema_extra=_UTC
    )
    score: float = Field(0.0, description="A user-maintained score (utility, reward, ...).")


_ROW_MODELS: dict[int, type[MemoryRow]] = {}


def row_model(dim: int) -> type[MemoryRow]:
    """The :class:`MemoryRow` model whose vectors have ``dim`` dimensions."""
    model = _ROW_MODELS.get(dim)
    if model is None:
        if dim == DEFAULT_DIM:
            model = MemoryRow
        else:
            model = cast(
                "type[MemoryRow]",
                create_model(
                    f"MemoryRow{dim}",
                    __base__=MemoryRow,
                    vector=(Vector(dim), Field(description="L2-normalized embedding.")),
                ),
            )
        _ROW_MODELS[dim] = model
    return model


def arrow_schema(dim: int) -> pa.Schema:
    """The Arrow schema of a memory table with ``dim``-dimensional vectors."""
    schema: pa.Schema = row_model(dim).to_arrow_schema()  # type: ignore[no-untyped-call]
    return schema


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """A record to remember.

    Args:
        text: the text; embedded unless ``vector`` is given.
        namespace: tenant or topic; created on first write.
        kind: record type within the namespace.
        id: unique id; a random one is generated when ``None``.
        metadata: a JSON-serializable mapping.
        vector: a precomputed embedding of the table's dimension (normalized on write).
        created_at: creation time (timezone-aware); now when ``None``.
        expires_at: expiry time (timezone-aware); never when ``None``.
        score: initial score.
    """

    text: str
    namespace: str = DEFAULT_NAMESPACE
    kind: str = DEFAULT_KIND
    id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    vector: Sequence[float] | NDArray[np.floating[Any]] | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """A stored record as read back.

    ``vector`` is empty when the read did not ask for vectors.
    """

    id: str
    namespace: str
    kind: str
    text: str
    metadata: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None
    score: float
    vector: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result.

    ``similarity`` is the cosine similarity for vector search, the BM25 score
    for full-text search and the reciprocal-rank-fusion score for hybrid search;
    higher is better in every mode.
    """

    record: MemoryRecord
    similarity: float


def check_name(value: object, what: str) -> str:
    """Validate a namespace or kind.

    Raises:
        InvalidRecordError: ``value`` is not a valid name.
    """
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidRecordError(
            f"{what} {value!r} is invalid: use 1..128 letters, digits or '_.:/-', "
            "starting with a letter, digit or '_'"
        )
    return value


def check_id(value: object) -> str:
    """Validate a record id.

    Raises:
        InvalidRecordError: ``value`` is not a non-empty string of at most 256 characters.
    """
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_CHARS:
        raise InvalidRecordError(f"record id {value!r} must be a string of 1..{MAX_ID_CHARS} chars")
    return value


def check_time(value: object, what: str) -> datetime:
    """Validate a timezone-aware datetime and convert it to UTC.

    Raises:
        InvalidRecordError: ``value`` is not a timezone-aware datetime.
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecordError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def check_score(value: object) -> float:
    """Validate a score.

    Raises:
        InvalidRecordError: ``value`` is not a finite number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRecordError(f"score must be a finite number, got {value!r}")
    return float(value)


def dump_metadata(value: Mapping[str, Any]) -> str:
    """Serialize metadata to compact JSON text.

    Raises:
        InvalidRecordError: ``value`` is not a mapping with string keys of JSON values.
    """
    if not isinstance(value, Mapping):
        raise InvalidRecordError(f"metadata must be a mapping, got {type(value).__name__}")
    try:
        return json.dumps(dict(value), separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidRecordError(f"metadata is not JSON-serializable: {err}") from err


def load_metadata(text: str | None) -> dict[str, Any]:
    """Parse stored metadata JSON (an empty dict for null)."""
    if not text:
        return {}
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    dt = cast("datetime", value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def records_from_arrow(table: pa.Table) -> list[MemoryRecord]:
    """Convert rows of a memory table (any subset of columns present) to records."""
    cols = set(table.column_names)
    with_vectors = "vector" in cols
    out: list[MemoryRecord] = []
    for row in table.to_pylist():
        created = _as_utc(row.get("created_at"))
        out.append(
            MemoryRecord(
                id=row["id"],
                namespace=row.get("namespace", ""),
                kind=row.get("kind", ""),
                text=row.get("text", ""),
                metadata=load_metadata(row.get("metadata")),
                created_at=created if created is not None else datetime.fromtimestamp(0, UTC),
                expires_at=_as_utc(row.get("expires_at")),
                score=float(row.get("score") or 0.0),
                vector=tuple(row["vector"]) if with_vectors and row["vector"] is not None else (),
            )
        )
    return out
