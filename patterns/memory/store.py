"""MemoryStore: typed vector memory on one LanceDB table (embedded directory or any LanceDB URI)."""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from patterns.memory.embedders import Embedder, HashingEmbedder, SentenceTransformerEmbedder
from patterns.memory.exceptions import (
    CorruptedTableError,
    DimensionMismatchError,
    EmbedderMismatchError,
    InvalidRecordError,
    MemoryStoreError,
    RecordNotFoundError,
    SchemaMismatchError,
    StorageError,
    StoreUnavailableError,
    TableNotFoundError,
    UnknownNamespaceError,
)
from patterns.memory.index import (
    DISTANCE,
    FTS_COLUMN,
    SCALAR_INDICES,
    VECTOR_COLUMN,
    VECTOR_INDEX_NAME,
    IndexAction,
    IndexStatus,
    fts_config,
    maintenance_headroom,
    plan_maintenance,
    vector_index_config,
)
from patterns.memory.loop import LOOP
from patterns.memory.schema import (
    DEFAULT_KIND,
    DEFAULT_NAMESPACE,
    MAX_TEXT_CHARS,
    MemoryItem,
    MemoryRecord,
    SearchHit,
    arrow_schema,
    check_id,
    check_name,
    check_score,
    check_time,
    dump_metadata,
    records_from_arrow,
)
from patterns.memory.settings import MemorySettings
from patterns.memory.working_set import MIRROR_COLUMNS, RECORD_COLUMNS, Filter, WorkingSet

T = TypeVar("T")

EMBEDDER_METADATA_KEY = b"swarmkit.memory.embedder"
SCHEMA_METADATA_KEY = b"swarmkit.memory.schema"
SCHEMA_VERSION = b"1"
MAX_K = 10_000  # largest top-k a search may ask for
REQUIRED_COLUMNS = frozenset(MIRROR_COLUMNS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CONFLICT_MARKERS = ("commit conflict", "retryable", "too many concurrent", "timed out", "timeout")
_CORRUPT_MARKERS = (  # LanceDB failures that mean the table's files are damaged or missing
    "panicked",
    "corrupt",
    "does not have sufficient data",
    "file size is too small",
    "invalid magic",
    "unexpected eof",
    "lanceerror(io)",
    "not found",
)


class _Row(NamedTuple):
    """One validated record, ready for Arrow (``vector`` is ``None`` until embedded)."""

    id: str
    namespace: str
    kind: str
    text: str
    metadata: str
    created_at: datetime
    expires_at: datetime | None
    score: float
    vector: NDArray[np.float32] | None


class SearchMode(StrEnum):
    """How :meth:`MemoryStore.search` matches records."""

    VECTOR = "vector"
    TEXT = "text"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class CompactionReport:
    """What :meth:`MemoryStore.compact` did."""

    fragments_removed: int
    fragments_added: int
    files_removed: int
    files_added: int
    versions_removed: int
    bytes_removed: int


def default_embedder(settings: MemorySettings) -> Embedder:
    """The embedder ``settings.embedder`` names."""
    if settings.embedder == "sentence-transformer":
        return SentenceTransformerEmbedder()
    return HashingEmbedder(dim=settings.dim)


def content_id(namespace: str, kind: str, text: str) -> str:
    """The id :meth:`MemoryStore.remember` gives a text: 128 bits of SHA-256 of all three."""
    digest = hashlib.sha256("\0".join((namespace, kind, text)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def _micros(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_time(us: int) -> str:
    iso = (_EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"TIMESTAMP '{iso}'"


def _filter_sql(flt: Filter) -> str | None:
    parts: list[str] = []
    if flt.namespace is not None:
        parts.append(f"namespace = {_sql_str(flt.namespace)}")
    if flt.kind is not None:
        parts.append(f"kind = {_sql_str(flt.kind)}")
    if flt.created_after_us is not None:
        parts.append(f"created_at >= {_sql_time(flt.created_after_us)}")
    if flt.created_before_us is not None:
        parts.append(f"created_at < {_sql_time(flt.created_before_us)}")
    if flt.alive_at_us is not None:
        parts.append(f"(expires_at IS NULL OR expires_at > {_sql_time(flt.alive_at_us)})")
    return " AND ".join(parts) if parts else None


def _ids_sql(ids: Sequence[str]) -> str:
    return f"id IN ({', '.join(_sql_str(i) for i in ids)})"


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://")).expanduser()


class MemoryStore:
    """Typed vector memory over one LanceDB table.

    Records (see :class:`~patterns.memory.schema.MemoryRow`) carry an id, a
    namespace, a kind, a text, an L2-normalized vector, JSON metadata,
    creation and expiry times and a user score. Every write is one LanceDB
    commit, so a writer that dies mid-batch leaves the table at its last
    committed version. Searches are exact below
    ``settings.index_threshold_rows`` (and answered in process from a
    :class:`~patterns.memory.working_set.WorkingSet` while the table has at
    most ``settings.working_set_rows`` rows); above it an IVF_HNSW_FLAT index
    is built and maintained automatically (see :mod:`patterns.memory.index`).
    Up to ``settings.record_mirror_rows`` rows the records (not the vectors)
    stay mirrored in process, so the index is asked for ids and distances only.

    The sync API runs LanceDB's async API on one background event loop; a
    store may be shared by threads. Several processes may use one table:
    LanceDB commits are atomic and reads see other processes' commits within
    ``settings.read_consistency_s``.

    Args:
        settings: the ``memory`` settings group; defaults apply when ``None``.
        embedder: turns texts into vectors; ``settings.embedder`` when ``None``.
        clock: returns the current time (timezone-aware); UTC now by default.

    Raises:
        TableNotFoundError: the table is missing and ``create_if_missing`` is off.
        CorruptedTableError: the table's directory exists but cannot be read.
        DimensionMismatchError: the table's vectors have another dimension.
        EmbedderMismatchError: the table was written with another embedder.
        SchemaMismatchError: the table is not a memory table.
    """

    def __init__(
        self,
        settings: MemorySettings | None = None,
        embedder: Embedder | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings or MemorySettings()
        self.embedder = embedder or default_embedder(self.settings)
        self.dim = self.embedder.dim
        self._clock = clock or (lambda: datetime.now(UTC))
        self._write_lock = threading.RLock()
        self._ws_lock = threading.Lock()
        self._working_set: WorkingSet | None = None
        self._too_large_at: int | None = None  # a table version known to exceed the mirror
        self._expiry_floor: tuple[int, int | None] | None = None  # (version, min expires_at us)
        # rows this store may write before the index policy needs a fresh look (0: at once);
        # rows other processes write count only when this store next looks
        self._headroom = 0
        self._schema = arrow_schema(self.dim).with_metadata(
            {
                EMBEDDER_METADATA_KEY: self.embedder.name.encode(),
                SCHEMA_METADATA_KEY: SCHEMA_VERSION,
            }
        )
        self._db: Any = None
        self._table: Any = None
        self._run(self._open(), "open")

    # ------------------------------------------------------------------ plumbing

    @property
    def uri(self) -> str:
        """The LanceDB URI of the database."""
        return self.settings.uri

    @property
    def table_name(self) -> str:
        """The table's name."""
        return self.settings.table

    @property
    def table_path(self) -> Path | None:
        """The table's directory for a local URI, else ``None``."""
        if not _is_local(self.uri):
            return None
        return _local_path(self.uri) / f"{self.table_name}.lance"

    def _run(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        """Run a LanceDB coroutine; map its foreign errors to memory errors once, here."""
        try:
            return LOOP.run(coro)
        except MemoryStoreError:
            raise
        except (RuntimeError, OSError, ValueError, pa.ArrowException) as err:
            raise self._map_error(err, what) from err

    def _map_error(self, err: BaseException, what: str) -> MemoryStoreError:
        """Classify a LanceDB failure (its Python types carry no detail, so by message)."""
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        lowered = str(err).lower()
        where = f"memory table {self.table_name!r} at {self.uri!r}"
        path = self.table_path
        if path is not None and not (path / "_versions").is_dir():
            return TableNotFoundError(
                f"{what} failed: {where} is missing (no table directory at {path}): {message}"
            )
        if any(marker in lowered for marker in _CONFLICT_MARKERS):
            return StoreUnavailableError(f"{what} on {where} failed, retry: {message}")
        if any(marker in lowered for marker in _CORRUPT_MARKERS):
            if path is None and "lanceerror(io)" in lowered:  # object storage: maybe transient
                return StoreUnavailableError(f"{what} on {where} failed, retry: {message}")
            return CorruptedTableError(f"{what} failed: {where} is corrupted: {message}")
        return StorageError(f"{what} on {where} failed: {message}")

    async def _open(self) -> None:
        s = self.settings
        if _is_local(s.uri):
            root = _local_path(s.uri)
            if s.create_if_missing:
                root.mkdir(parents=True, exist_ok=True)
            elif not root.is_dir():  # connecting would create the directory: refuse first
                raise TableNotFoundError(
                    f"memory table {s.table!r} does not exist at {s.uri!r} (no database "
                    f"directory {root}); to create it, open the store with "
                    "MemorySettings(create_if_missing=True) or set "
                    "SWARMKIT_MEMORY__CREATE_IF_MISSING=true"
                )
        interval = None if s.read_consistency_s is None else timedelta(seconds=s.read_consistency_s)
        self._db = await lancedb.connect_async(s.uri, read_consistency_interval=interval)
        try:
            self._table = await self._db.open_table(s.table)
        except ValueError as err:
            if "not found" not in str(err).lower():
                raise
            path = self.table_path
            if path is not None and path.exists():
                raise CorruptedTableError(
                    f"memory table {s.table!r}: directory {path} exists but holds no readable "
                    f"LanceDB table (missing or empty _versions/)"
                ) from err
            if not s.create_if_missing:
                where = f" (no table directory {path})" if path is not None else ""
                raise TableNotFoundError(
                    f"memory table {s.table!r} does not exist at {s.uri!r}{where}; to create "
                    "it, open the store with MemorySettings(create_if_missing=True) or set "
                    "SWARMKIT_MEMORY__CREATE_IF_MISSING=true"
                ) from err
            self._table = await self._db.create_table(s.table, schema=self._schema, exist_ok=True)
            await self._create_side_indices()
        await self._check_schema()

    async def _create_side_indices(self) -> None:
        existing = {cfg.columns[0] for cfg in await self._table.list_indices()}
        wanted: list[tuple[str, Any]] = list(SCALAR_INDICES)
        if self.settings.fts:
            wanted.append((FTS_COLUMN, fts_config()))
        for column, config in wanted:
            if column in existing:
                continue
            try:
                await self._table.create_index(column, config=config, replace=False)
            except (RuntimeError, ValueError) as err:  # a concurrent opener made it first
                if "exist" not in str(err).lower():
                    raise

    async def _check_schema(self) -> None:
        schema: pa.Schema = await self._table.schema()
        missing = REQUIRED_COLUMNS - set(schema.names)
        if missing:
            raise SchemaMismatchError(
                f"table {self.table_name!r} at {self.uri!r} is not a memory table: "
                f"missing columns {sorted(missing)}"
            )
        vtype = schema.field(VECTOR_COLUMN).type
        table_dim = getattr(vtype, "list_size", -1)
        if table_dim != self.dim:
            raise DimensionMismatchError(
                self.dim, table_dim, where=f"embedder {self.embedder.name!r} output"
            )
        stored = (schema.metadata or {}).get(EMBEDDER_METADATA_KEY)
        if stored is not None and stored.decode() != self.embedder.name:
            raise EmbedderMismatchError(
                f"table {self.table_name!r} holds vectors of embedder {stored.decode()!r}, "
                f"not {self.embedder.name!r}; use that embedder or another table"
            )

    def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""
        if self._db is not None:
            self._db.close()
        self._db = self._table = None
        self._working_set = None

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> datetime:
        return check_time(self._clock(), "clock time")

    # ------------------------------------------------------------------ writes

    def add(self, items: Iterable[MemoryItem]) -> list[str]:
        """Append records in one atomic commit.

        Items without an id get a random one. Explicit ids must be new:
        :meth:`upsert` replaces records by id.

        Returns:
            The ids of the records, in input order.

        Raises:
            InvalidRecordError: a record breaks the schema or an explicit id exists already.
            DimensionMismatchError: a precomputed vector has the wrong length.
        """
        return self._write(items, upsert=False)

    def upsert(self, items: Iterable[MemoryItem]) -> list[str]:
        """Insert records, replacing those whose id exists already, in one atomic commit.

        Returns:
            The ids of the records, in input order.

        Raises:
            InvalidRecordError: a record breaks the schema.
            DimensionMismatchError: a precomputed vector has the wrong length.
        """
        return self._write(items, upsert=True)

    def remember(
        self,
        texts: Sequence[str],
        *,
        namespace: str = DEFAULT_NAMESPACE,
        kind: str = DEFAULT_KIND,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        ttl_s: float | None = None,
    ) -> list[str]:
        """Upsert texts as records of one namespace and kind (the task-level entry point).

        Remembering is idempotent: without ``ids`` a record's id is derived from
        its namespace, kind and text (:func:`content_id`), so remembering the same
        text again replaces the record (fresh metadata, times and TTL) instead of
        adding a duplicate; a text given twice in one call is stored once.

        Args:
            texts: the texts to remember.
            namespace: their namespace.
            kind: their kind.
            metadata: one mapping per text, or ``None``.
            ids: one id per text (re-remembering an id replaces it), or content-derived ids.
            ttl_s: seconds until the records expire, or never.

        Returns:
            The records' ids, one per text, in input order.
        """
        for name, seq in (("metadata", metadata), ("ids", ids)):
            if seq is not None and len(seq) != len(texts):
                raise InvalidRecordError(f"{name} has {len(seq)} entries for {len(texts)} texts")
        if ttl_s is not None and not (math.isfinite(ttl_s) and ttl_s > 0):
            raise InvalidRecordError(f"ttl_s={ttl_s!r} must be a positive number of seconds")
        for pos, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InvalidRecordError(
                    f"text {pos} must be a non-empty string, not {text!r} (nothing to remember)"
                )
        check_name(namespace, "namespace")
        check_name(kind, "kind")
        now = self._now()
        expires = now + timedelta(seconds=ttl_s) if ttl_s is not None else None
        record_ids = (
            list(ids) if ids is not None else [content_id(namespace, kind, t) for t in texts]
        )
        # A text repeated in one call has one content id: store it once (its last metadata).
        # Explicit ids stay as given, so a repeated one is an error, as in upsert().
        last = (
            {rid: i for i, rid in enumerate(record_ids)}
            if ids is None
            else dict(zip(record_ids, range(len(record_ids)), strict=True))
        )
        self.upsert(
            MemoryItem(
                text=texts[i],
                namespace=namespace,
                kind=kind,
                id=rid,
                metadata=metadata[i] if metadata is not None else {},
                created_at=now,
                expires_at=expires,
            )
            for rid, i in last.items()
        )
        return record_ids

    def _validate(self, items: Iterable[MemoryItem], now: datetime) -> tuple[list[_Row], list[str]]:
        """Check every item before anything is written; assign ids and times.

        Returns:
            The rows to write, and the ids the caller gave explicitly.
        """
        rows: list[_Row] = []
        explicit: list[str] = []
        seen: set[str] = set()
        for pos, item in enumerate(items):
            if not isinstance(item, MemoryItem):
                raise InvalidRecordError(f"item {pos} is a {type(item).__name__}, not MemoryItem")
            if item.id is not None:
                rid = check_id(item.id)
                explicit.append(rid)
            else:
                rid = os.urandom(16).hex()  # 128 random bits, as uuid4
            if rid in seen:
                raise InvalidRecordError(f"id {rid!r} appears twice in one batch")
            seen.add(rid)
            if not isinstance(item.text, str) or not 0 < len(item.text) <= MAX_TEXT_CHARS:
                raise InvalidRecordError(
                    f"item {pos} ({rid!r}): text must be a non-empty string of at most "
                    f"{MAX_TEXT_CHARS} characters"
                )
            created = check_time(item.created_at, "created_at") if item.created_at else now
            expires = None
            if item.expires_at is not None:
                expires = check_time(item.expires_at, "expires_at")
                if expires <= created:
                    raise InvalidRecordError(
                        f"item {pos} ({rid!r}): expires_at {expires} is not after created_at {created}"
                    )
            vector = None
            if item.vector is not None:
                vector = np.asarray(item.vector, dtype=np.float32)
                if vector.ndim != 1 or vector.shape[0] != self.dim:
                    raise DimensionMismatchError(
                        int(vector.size), self.dim, where=f"vector of item {pos} ({rid!r})"
                    )
            rows.append(
                _Row(
                    rid,
                    check_name(item.namespace, "namespace"),
                    check_name(item.kind, "kind"),
                    item.text,
                    dump_metadata(item.metadata) if item.metadata else "{}",
                    created,
                    expires,
                    check_score(item.score),
                    vector,
                )
            )
        return rows, explicit

    def _vectors(self, rows: Sequence[_Row]) -> NDArray[np.float32]:
        """The rows' unit vectors: given ones normalized, the others embedded."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        need = [i for i, row in enumerate(rows) if row.vector is None]
        if need:
            emb = self.embedder.embed([rows[i].text for i in need])
            if emb.shape != (len(need), self.dim):
                raise DimensionMismatchError(
                    emb.shape[-1] if emb.ndim == 2 else -1,
                    self.dim,
                    where=f"output of embedder {self.embedder.name!r}",
                )
            out[need] = emb
        given = [(i, row.vector) for i, row in enumerate(rows) if row.vector is not None]
        if given:
            out[[i for i, _ in given]] = np.stack([v for _, v in given])
        norms = np.linalg.norm(out, axis=1)
        bad = ~np.isfinite(norms) | (norms == 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InvalidRecordError(
                f"vector of record {rows[first].id!r} is zero or not finite; it has no direction"
            )
        out /= norms[:, None]
        return out

    def _batch(self, rows: Sequence[_Row]) -> pa.RecordBatch:
        """One Arrow record batch of ``rows`` (embedding the texts that need it)."""
        vectors = self._vectors(rows)
        ids, namespaces, kinds, texts, metas, created, expires, scores, _ = zip(*rows, strict=True)
        stamp = pa.timestamp("us", tz="UTC")
        columns: dict[str, pa.Array] = {
            "id": pa.array(ids, pa.string()),
            "namespace": pa.array(namespaces, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "text": pa.array(texts, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), self.dim),
            "metadata": pa.array(metas, pa.string()),
            "created_at": pa.array(created, stamp),
            "expires_at": pa.array(expires, stamp),
            "score": pa.array(scores, pa.float64()),
        }
        return pa.RecordBatch.from_pydict(columns, schema=self._schema)

    def _write(self, items: Iterable[MemoryItem], *, upsert: bool) -> list[str]:
        checked, explicit = self._validate(items, self._now())
        if not checked:
            return []
        ids = [row.id for row in checked]
        chunk = self.settings.write_batch_rows
        keep_batches = len(checked) <= self._mirror_rows()
        written: list[pa.RecordBatch] = []
        errors: list[MemoryStoreError] = []

        def batches() -> Iterator[pa.RecordBatch]:
            for start in range(0, len(checked), chunk):
                try:
                    batch = self._batch(checked[start : start + chunk])
                except MemoryStoreError as err:
                    errors.append(err)
                    raise
                if keep_batches:
                    written.append(batch)
                yield batch

        async def commit(reader: pa.RecordBatchReader) -> int:
            if upsert:
                merge = self._table.merge_insert("id").when_matched_update_all()
                result = await merge.when_not_matched_insert_all().execute(reader)
            else:
                result = await self._table.add(reader)
            return int(result.version)

        with self._write_lock:
            if not upsert and explicit:
                clash = self._existing_ids(explicit)
                if clash:
                    raise InvalidRecordError(
                        f"ids already exist: {sorted(clash)[:5]} (use upsert to replace records)"
                    )
            reader = pa.RecordBatchReader.from_batches(self._schema, batches())
            try:
                version = self._run(commit(reader), "upsert" if upsert else "add")
            except MemoryStoreError:
                # An error raised while producing batches reaches us wrapped by
                # Arrow's C stream interface; report the original instead.
                if errors:
                    raise errors[0] from None
                raise
            if not keep_batches:
                self._drop_working_set()
            else:
                table = pa.Table.from_batches(written, schema=self._schema)
                if upsert:
                    self._patch_working_set(lambda ws: ws.upsert(table, version), version)
                else:
                    self._patch_working_set(lambda ws: ws.append(table, version), version)
            self._after_write(len(checked))
        return ids

    def _existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            part = ids[start : start + 1000]
            table = self._run(
                self._table.query().where(_ids_sql(part)).select(["id"]).to_arrow(), "id lookup"
            )
            found.update(table.column("id").to_pylist())
        return found

    def _after_write(self, rows: int) -> None:
        """Run the index policy once the rows written since it last looked could matter
        (:func:`~patterns.memory.index.maintenance_headroom`): reading the five indices'
        statistics costs about a millisecond, too much for every small write."""
        if not self.settings.auto_index:
            return
        self._headroom -= rows
        if self._headroom <= 0:
            self.maintain_index()

    def update_score(self, record_id: str, score: float) -> None:
        """Set one record's score.

        Raises:
            RecordNotFoundError: no record has ``record_id``.
            InvalidRecordError: ``score`` is not a finite number.
        """
        rid, value = check_id(record_id), check_score(score)
        with self._write_lock:
            result = self._run(
                self._table.update(updates={"score": value}, where=f"id = {_sql_str(rid)}"),
                "update score",
            )
            if int(result.rows_updated) == 0:
                raise RecordNotFoundError(rid)
            version = int(result.version)
            self._patch_working_set(lambda ws: ws.set_score(rid, value, version), version)

    def adjust_score(self, record_id: str, delta: float) -> None:
        """Add ``delta`` to one record's score (atomically, in one commit).

        Raises:
            RecordNotFoundError: no record has ``record_id``.
            InvalidRecordError: ``delta`` is not a finite number.
        """
        rid, value = check_id(record_id), check_score(delta)
        with self._write_lock:
            result = self._run(
                self._table.update(
                    updates_sql={"score": f"score + {value!r}"}, where=f"id = {_sql_str(rid)}"
                ),
                "adjust score",
            )
            self._drop_working_set()
            if int(result.rows_updated) == 0:
                raise RecordNotFoundError(rid)

    def delete(self, ids: Iterable[str]) -> int:
        """Delete records by id; unknown ids are ignored.

        Returns:
            The number of records deleted.
        """
        checked = [check_id(i) for i in ids]
        deleted = 0
        with self._write_lock:
            for start in range(0, len(checked), 1000):
                result = self._run(
                    self._table.delete(_ids_sql(checked[start : start + 1000])), "delete"
                )
                deleted += int(result.num_deleted_rows)
            self._drop_working_set()
        return deleted

    def delete_namespace(self, namespace: str) -> int:
        """Delete every record of a namespace.

        Returns:
            The number of records deleted.

        Raises:
            UnknownNamespaceError: the namespace holds no records.
        """
        check_name(namespace, "namespace")
        with self._write_lock:
            self._require_namespace(namespace)
            result = self._run(
                self._table.delete(f"namespace = {_sql_str(namespace)}"), "delete namespace"
            )
            self._drop_working_set()
        return int(result.num_deleted_rows)

    def expire(self, now: datetime | None = None) -> int:
        """Delete every record whose ``expires_at`` is at or before ``now``.

        Returns:
            The number of records deleted.
        """
        at = check_time(now, "now") if now is not None else self._now()
        with self._write_lock:
            result = self._run(
                self._table.delete(f"expires_at <= {_sql_time(_micros(at))}"), "expire"
            )
            self._drop_working_set()
        return int(result.num_deleted_rows)

    def compact(self) -> CompactionReport:
        """Merge small data files, fold new rows into every index and prune old versions.

        Versions newer than ``settings.keep_versions_s`` are kept for readers
        still on them. The vector index is rebuilt when the maintenance policy
        asks for it.
        """
        keep = timedelta(seconds=self.settings.keep_versions_s)
        with self._write_lock:
            stats = self._run(self._table.optimize(cleanup_older_than=keep), "compact")
            self._drop_working_set()
            if self.settings.auto_index:
                self.maintain_index()
        return CompactionReport(
            fragments_removed=int(stats.compaction.fragments_removed),
            fragments_added=int(stats.compaction.fragments_added),
            files_removed=int(stats.compaction.files_removed),
            files_added=int(stats.compaction.files_added),
            versions_removed=int(stats.prune.old_versions_removed),
            bytes_removed=int(stats.prune.bytes_removed),
        )

    # ------------------------------------------------------------------ indices

    def index_status(self) -> IndexStatus:
        """Rows, and how much of the table the vector index covers."""

        async def status() -> IndexStatus:
            rows = int(await self._table.count_rows())
            names = {cfg.name for cfg in await self._table.list_indices()}
            side = 0
            for name in names - {VECTOR_INDEX_NAME}:
                side_stats = await self._table.index_stats(name)
                if side_stats is not None:
                    side = max(side, int(side_stats.num_unindexed_rows))
            if VECTOR_INDEX_NAME not in names:
                return IndexStatus(rows, None, 0, rows, 0, side)
            stats = await self._table.index_stats(VECTOR_INDEX_NAME)
            return IndexStatus(
                rows=rows,
                index_type=str(stats.index_type),
                indexed_rows=int(stats.num_indexed_rows),
                unindexed_rows=int(stats.num_unindexed_rows),
                deltas=int(stats.num_indices or 1),
                side_unindexed_rows=side,
            )

        return self._run(status(), "index status")

    def build_index(self) -> IndexStatus:
        """Build (or rebuild from scratch) the vector index now, whatever the table size,
        and fold every row into the scalar and full-text indices."""
        with self._write_lock:
            rows = int(self._run(self._table.count_rows(), "count"))
            if rows == 0:
                raise InvalidRecordError("cannot build a vector index on an empty table")
            config = vector_index_config(rows, self.settings)
            self._run(
                self._table.create_index(
                    VECTOR_COLUMN, config=config, replace=True, name=VECTOR_INDEX_NAME
                ),
                "build vector index",
            )
            keep = timedelta(seconds=self.settings.keep_versions_s)
            self._run(self._table.optimize(cleanup_older_than=keep), "update side indices")
            self._drop_working_set()
        return self.index_status()

    def maintain_index(self) -> IndexAction:
        """Apply the index policy of :func:`~patterns.memory.index.plan_maintenance` now."""
        with self._write_lock:
            status = self.index_status()
            action = plan_maintenance(status, self.settings)
            if action in (IndexAction.BUILD, IndexAction.REBUILD):
                status = self.build_index()
            elif action is IndexAction.OPTIMIZE:
                keep = timedelta(seconds=self.settings.keep_versions_s)
                self._run(self._table.optimize(cleanup_older_than=keep), "optimize index")
                self._drop_working_set()
                status = self.index_status()
            self._headroom = maintenance_headroom(status, self.settings)
        return action

    # ------------------------------------------------------------------ reads

    def count(self, namespace: str | None = None, kind: str | None = None) -> int:
        """Records in the table, or in one namespace and/or kind (expired ones included)."""
        flt = Filter(
            namespace=check_name(namespace, "namespace") if namespace is not None else None,
            kind=check_name(kind, "kind") if kind is not None else None,
        )
        return int(self._run(self._table.count_rows(_filter_sql(flt)), "count"))

    def namespaces(self) -> list[str]:
        """Every namespace that holds records, sorted."""
        table = self._run(self._table.query().select(["namespace"]).to_arrow(), "list namespaces")
        return sorted(pc.unique(table.column("namespace")).to_pylist())

    def version(self) -> int:
        """The table version reads currently see."""
        return int(self._run(self._table.version(), "version"))

    def get(self, record_id: str) -> MemoryRecord | None:
        """The record with ``record_id`` (vector included), or ``None``."""
        found = self.get_many([record_id])
        return found[0] if found else None

    def get_many(self, ids: Sequence[str]) -> list[MemoryRecord]:
        """The records with these ids (vectors included), in input order; missing ids skipped."""
        checked = [check_id(i) for i in ids]
        by_id: dict[str, MemoryRecord] = {}
        for start in range(0, len(checked), 1000):
            part = checked[start : start + 1000]
            table = self._run(
                self._table.query().where(_ids_sql(part)).select(list(MIRROR_COLUMNS)).to_arrow(),
                "get",
            )
            by_id.update((r.id, r) for r in records_from_arrow(table))
        return [by_id[i] for i in checked if i in by_id]

    def _require_namespace(self, namespace: str) -> None:
        if self._run(self._table.count_rows(f"namespace = {_sql_str(namespace)}"), "count") == 0:
            raise UnknownNamespaceError(namespace, self.table_name)

    def _query_vector(self, query: str | Sequence[float] | NDArray[Any]) -> NDArray[np.float32]:
        if isinstance(query, str):
            if not query.strip():
                raise InvalidRecordError(
                    f"the query text is empty or only whitespace ({query[:20]!r}): nothing to embed"
                )
            return self.embedder.embed_one(query)
        vec = np.asarray(query, dtype=np.float32)
        if vec.ndim != 1 or vec.shape[0] != self.dim:
            raise DimensionMismatchError(int(vec.size), self.dim, where="query vector")
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm == 0:
            raise InvalidRecordError("the query vector is zero or not finite")
        out: NDArray[np.float32] = vec / norm
        return out

    def search(
        self,
        query: str | Sequence[float] | NDArray[Any],
        *,
        k: int = 10,
        namespace: str | None = None,
        kind: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        mode: SearchMode | str = SearchMode.VECTOR,
        include_expired: bool = False,
        exact: bool = False,
        with_vectors: bool = False,
    ) -> list[SearchHit]:
        """Find the records most similar to ``query``.

        Args:
            query: a text (embedded), or a vector of the table's dimension
                (vector mode only).
            k: how many hits at most, 1..10000.
            namespace: only records of this namespace.
            kind: only records of this kind.
            created_after: only records created at or after this time.
            created_before: only records created before this time.
            mode: ``vector`` (cosine similarity), ``text`` (BM25 full-text) or
                ``hybrid`` (both, fused by reciprocal rank).
            include_expired: also return records past their ``expires_at``.
            exact: skip the ANN index and scan every row (vector mode).
            with_vectors: fill :attr:`MemoryRecord.vector` of the hits.

        Returns:
            Hits, best first.

        Raises:
            UnknownNamespaceError: ``namespace`` holds no records.
            DimensionMismatchError: a query vector of the wrong length.
            InvalidRecordError: a bad argument (k, names, times, mode).
        """
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidRecordError(f"k={k!r} must be an integer in 1..{MAX_K}")
        try:
            mode = SearchMode(mode)
        except ValueError as err:
            raise InvalidRecordError(
                f"unknown search mode {mode!r}: use {[m.value for m in SearchMode]}"
            ) from err
        after = _micros(check_time(created_after, "created_after")) if created_after else None
        before = _micros(check_time(created_before, "created_before")) if created_before else None
        if after is not None and before is not None and after >= before:
            raise InvalidRecordError("created_after must be earlier than created_before")
        flt = Filter(
            namespace=check_name(namespace, "namespace") if namespace is not None else None,
            kind=check_name(kind, "kind") if kind is not None else None,
            created_after_us=after,
            created_before_us=before,
            alive_at_us=None if include_expired else _micros(self._now()),
        )
        if mode is SearchMode.VECTOR:
            hits = self._vector_search(self._query_vector(query), k, flt, exact, with_vectors)
        else:
            if not isinstance(query, str) or not query.strip():
                raise InvalidRecordError(f"{mode.value} search needs a non-empty query text")
            hits = self._text_search(query, k, flt, mode, with_vectors)
        if not hits and flt.namespace is not None:
            self._require_namespace(flt.namespace)
        return hits

    def _columns(self, with_vectors: bool) -> list[str]:
        return list(MIRROR_COLUMNS) if with_vectors else list(RECORD_COLUMNS)

    def _vector_search(
        self, vec: NDArray[np.float32], k: int, flt: Filter, exact: bool, with_vectors: bool
    ) -> list[SearchHit]:
        s = self.settings

        def build(where: str | None) -> Any:
            query = (
                self._table.query()
                .nearest_to(vec)
                .column(VECTOR_COLUMN)
                .distance_type(DISTANCE)
                .limit(k)
                .select([*self._columns(with_vectors), "_distance"])
            )
            if exact:
                query = query.bypass_vector_index()
            else:
                query = query.ef(s.search_ef).nprobes(s.search_nprobes)
            return query.where(where) if where else query

        async def lancedb_unless_mirrored() -> tuple[int, pa.Table | None]:
            # One hop to the loop: while the table is known to be too large for
            # the working set, query LanceDB straight away.
            version = int(await self._table.version())
            if self._mirror_rows() > 0 and version != self._too_large_at:
                return version, None
            return version, await self._filtered_query(build, flt, version)

        version, table = self._run(lancedb_unless_mirrored(), "vector search")
        if table is None:
            ws = self._current_working_set(version)
            if ws is not None and ws.version == version and ws.has_vectors:
                return [SearchHit(r, x) for r, x in ws.search(vec, k, flt, with_vectors)]
            if ws is not None and ws.version == version and not with_vectors:
                # LanceDB's index finds ids and distances; the records come from the mirror
                hits = self._run(
                    self._filtered_query(
                        lambda where: build(where).select(["id", "_distance"]), flt, version
                    ),
                    "vector search",
                )
                records = ws.records(hits.column("id").to_pylist())
                if records is not None:
                    sims = (1.0 - hits.column("_distance").to_numpy(zero_copy_only=False)).tolist()
                    return [SearchHit(r, float(x)) for r, x in zip(records, sims, strict=True)]
            table = self._run(self._filtered_query(build, flt, version), "vector search")
        sims = (1.0 - table.column("_distance").to_numpy(zero_copy_only=False)).tolist()
        records = records_from_arrow(table.drop_columns(["_distance"]))
        return [SearchHit(r, float(x)) for r, x in zip(records, sims, strict=True)]

    def _text_search(
        self, text: str, k: int, flt: Filter, mode: SearchMode, with_vectors: bool
    ) -> list[SearchHit]:
        if not self.settings.fts:
            raise InvalidRecordError(f"{mode.value} search needs settings.fts enabled")
        cols = self._columns(with_vectors)
        s = self.settings
        vec = self.embedder.embed_one(text) if mode is SearchMode.HYBRID else None
        score_col = "_score" if mode is SearchMode.TEXT else "_relevance_score"

        def build(where: str | None) -> Any:
            if vec is None:
                query = self._table.query().nearest_to_text(text, columns=FTS_COLUMN)
                query = query.select([*cols, "_score"])
            else:
                query = (
                    self._table.query()
                    .nearest_to(vec)
                    .column(VECTOR_COLUMN)
                    .distance_type(DISTANCE)
                    .ef(s.search_ef)
                    .nprobes(s.search_nprobes)
                    .nearest_to_text(text, columns=FTS_COLUMN)
                    .select(cols)
                )
            query = query.limit(k)
            return query.where(where) if where else query

        table = self._run(self._filtered_query(build, flt), f"{mode.value} search")
        scores = table.column(score_col).to_numpy(zero_copy_only=False).tolist()
        drop = [c for c in table.column_names if c.startswith("_")]
        records = records_from_arrow(table.drop_columns(drop))
        hits = [SearchHit(r, float(x)) for r, x in zip(records, scores, strict=True)]
        hits.sort(key=lambda h: -h.similarity)
        return hits

    async def _filtered_query(
        self, build: Callable[[str | None], Any], flt: Filter, version: int | None = None
    ) -> pa.Table:
        """Run one query in one hop to the loop, with the expiry filter only when needed.

        The expiry filter costs LanceDB a prefilter pass over every row, so it
        is left out while no record has expired yet: the earliest
        ``expires_at`` is cached per table version.
        """
        if flt.alive_at_us is not None:
            if version is None:
                version = int(await self._table.version())
            cached = self._expiry_floor
            if cached is None or cached[0] != version:
                table = (
                    await self._table.query()
                    .where("expires_at IS NOT NULL")
                    .select(["expires_at"])
                    .to_arrow()
                )
                lowest = pc.min(table.column("expires_at")).as_py() if table.num_rows else None
                cached = (version, _micros(lowest.astimezone(UTC)) if lowest else None)
                self._expiry_floor = cached
            if cached[1] is None or cached[1] > flt.alive_at_us:
                flt = Filter(flt.namespace, flt.kind, flt.created_after_us, flt.created_before_us)
        result: pa.Table = await build(_filter_sql(flt)).to_arrow()
        return result

    # ------------------------------------------------------------------ working set

    def _drop_working_set(self) -> None:
        with self._ws_lock:
            self._working_set = None

    def _patch_working_set(self, patch: Callable[[WorkingSet], object], version: int) -> None:
        """Apply our own commit to the mirror if it was exactly one version behind."""
        with self._ws_lock:
            ws = self._working_set
            if ws is None:
                return
            stale = ws.version + 1 != version
            limit = self.settings.working_set_rows if ws.has_vectors else self._mirror_rows()
            if stale or patch(ws) is False or ws.rows > limit:
                self._working_set = None

    def _mirror_rows(self) -> int:
        """The largest table mirrored in process (with vectors or records only)."""
        return max(self.settings.working_set_rows, self.settings.record_mirror_rows)

    def _current_working_set(self, version: int) -> WorkingSet | None:
        """The mirror of table ``version``, loading it if the table is small enough.

        A table found too large is remembered per version, so searches on a
        large table pay no extra round trip.
        """
        limit = self._mirror_rows()
        if limit == 0:
            return None
        with self._ws_lock:
            ws = self._working_set
            if ws is not None and ws.version == version:
                return ws
            if self._too_large_at == version:
                return None

        small = self.settings.working_set_rows

        async def snapshot() -> tuple[pa.Table | None, int]:
            # Read, then confirm no commit landed in between; give up after a few tries.
            # Small tables are mirrored with their vectors, larger ones records only.
            for _ in range(3):
                before = int(await self._table.version())
                rows = int(await self._table.count_rows())
                if rows > limit:
                    return None, before
                columns = list(MIRROR_COLUMNS) if rows <= small else RECORD_COLUMNS
                table = await self._table.query().select(columns).to_arrow()
                if int(await self._table.version()) == before:
                    return table, before
            return None, -1

        table, at = self._run(snapshot(), "load working set")
        with self._ws_lock:
            if table is None or table.num_rows > limit:
                self._too_large_at = at if table is None else None
                return None
            self._working_set = WorkingSet(table, at, vectors="vector" in table.column_names)
            return self._working_set


_STORES: dict[str, MemoryStore] = {}
_STORES_LOCK = threading.Lock()


def get_store(settings: MemorySettings | None = None) -> MemoryStore:
    """A process-wide shared store per distinct settings (opened on first use).

    Prefect tasks call this so that repeated task runs in one worker reuse
    the open table and the loaded embedder. Settings that differ only in
    ``create_if_missing`` share one store.

    Raises:
        TableNotFoundError: the table does not exist and ``create_if_missing`` is off.
    """
    settings = settings or MemorySettings()
    # One store per table: whether it may be created only matters while it is not open yet.
    key = settings.model_copy(update={"create_if_missing": False}).model_dump_json()
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = MemoryStore(settings)
            _STORES[key] = store
        return store
