"""Index policy of the memory table: which indices, with which parameters, and when to rebuild.

Vector index: IVF_HNSW_FLAT (an HNSW graph per IVF partition over the raw
float32 vectors) with cosine distance.

* Why HNSW over the raw vectors: on 100k text-like 384-d vectors on 2 cores
  (LanceDB 0.40), one HNSW graph (m=16, ef_construction=150) reaches
  recall@10 0.95-0.97 with ef=160-200, with exact distances, so no refine step
  is needed. What is measured: LanceDB's query plan puts the graph walk itself
  at ~1.2-1.5 ms, but a whole top-10 :meth:`MemoryStore.search` from Python
  (thread hop to the LanceDB loop, the walk, reading the hits' record columns)
  measured 5.6-8.2 ms p50 in ``make bench NAME=memory`` runs (``search_p50_ms``
  in ``bench-results/memory.json``; p99 10.6 ms on an idle machine, 26 ms with
  the 2 cores shared by other jobs), close to numpy brute force over the same
  100k vectors on an idle machine (8.8 ms). At equal ef, IVF_HNSW_SQ was
  slower and less accurate (8-bit codes; a refine pass to recover); IVF_FLAT
  (256 partitions) and IVF_PQ needed 4-6 ms for recall 0.80-0.86. The raw vectors cost 1.5 KiB per record
  (150 MiB at 100k) in the index, which this scale affords. Search uses
  ``ef=200`` (``search_ef``): it costs ~0.4 ms more than 160 and keeps
  recall@10 above 0.95 across query samples.
* Why m=16, ef_construction=150: m=20/ef_construction=200 added ~0.01 recall
  for twice the build time; m=12/ef_construction=100 lost ~0.02 recall at
  equal ef. The build is the expensive part (~45-75 s for 100k rows on an
  idle 2-core machine), which is why small tables get no index at all.
* Partitions: one graph up to ``hnsw_rows_per_partition`` rows (1M by
  default), then about that many rows per partition, so the memory needed to
  train one graph stays bounded; searches probe ``search_nprobes`` partitions.
* Cosine, not dot: stored vectors are unit length so both rank alike, but
  LanceDB reports dot distances differently for indexed (``1 - dot``) and
  unindexed (``-dot``) rows; cosine is ``1 - cos`` on both paths, so results
  from the index and from unindexed rows merge correctly.

Below ``index_threshold_rows`` the table has no vector index and every search
is exact (a flat scan, or the in-process working set). After writes,
:func:`plan_maintenance` decides whether to build the index, fold new rows into
it incrementally (``optimize``: new rows become a delta graph), or rebuild it
from scratch once the table has grown well past the size it was trained on or
too many delta graphs pile up.

Scalar indices (BTree on ``id`` and ``created_at``, Bitmap on ``namespace``
and ``kind``) and the full-text index on ``text`` are created with the table;
LanceDB scans the rows they do not cover yet, so they only need the same
periodic ``optimize``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from lancedb.index import FTS, Bitmap, BTree, HnswFlat

from patterns.memory.settings import MemorySettings

VECTOR_COLUMN = "vector"
VECTOR_INDEX_NAME = "vector_idx"
DISTANCE: Final[Literal["cosine"]] = "cosine"  # see the module docstring
MAX_VECTOR_INDEX_DELTAS = 4  # delta graphs tolerated before a full rebuild
SCALAR_INDICES: tuple[tuple[str, Any], ...] = (
    ("id", BTree()),
    ("namespace", Bitmap()),
    ("kind", Bitmap()),
    ("created_at", BTree()),
)
FTS_COLUMN = "text"


class IndexAction(StrEnum):
    """What index maintenance did (or would do)."""

    NONE = "none"
    BUILD = "build"
    OPTIMIZE = "optimize"
    REBUILD = "rebuild"


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The state of the vector index of a table.

    Attributes:
        rows: rows in the table.
        index_type: LanceDB's name of the vector index type, ``None`` without one.
        indexed_rows: rows covered by the vector index.
        unindexed_rows: rows written since; searches scan them exactly.
        deltas: graphs (one per build or incremental update) making up the index.
        side_unindexed_rows: the most rows any scalar or full-text index (id,
            namespace, kind, created_at, text) does not cover yet; a filter on a
            column scans those rows, so a namespace-filtered search pays for them.
    """

    rows: int
    index_type: str | None
    indexed_rows: int
    unindexed_rows: int
    deltas: int
    side_unindexed_rows: int = 0

    @property
    def has_index(self) -> bool:
        """Whether searches use an ANN index."""
        return self.index_type is not None


def vector_index_config(rows: int, settings: MemorySettings) -> HnswFlat:
    """The IVF_HNSW_FLAT configuration for a table of ``rows`` rows."""
    partitions = max(1, math.ceil(rows / settings.hnsw_rows_per_partition))
    return HnswFlat(
        distance_type=DISTANCE,
        num_partitions=partitions,
        m=settings.hnsw_m,
        ef_construction=settings.hnsw_ef_construction,
    )


def plan_maintenance(status: IndexStatus, settings: MemorySettings) -> IndexAction:
    """Decide what to do with the vector index after writes.

    * no index: build one once the table reaches ``index_threshold_rows``;
    * fewer than ``reindex_unindexed_rows`` unindexed rows: nothing (they are
      scanned exactly, which stays cheap), unless a scalar or full-text index
      lags that many rows behind: then fold the new rows into every index;
    * otherwise rebuild when the table grew ``retrain_growth_factor`` times
      past the indexed rows or the index has ``MAX_VECTOR_INDEX_DELTAS``
      delta graphs, else fold the new rows in incrementally.
    """
    stale_side = status.side_unindexed_rows >= settings.reindex_unindexed_rows
    if not status.has_index:
        if status.rows >= settings.index_threshold_rows:
            return IndexAction.BUILD
        return IndexAction.OPTIMIZE if stale_side else IndexAction.NONE
    if status.unindexed_rows < settings.reindex_unindexed_rows:
        return IndexAction.OPTIMIZE if stale_side else IndexAction.NONE
    grown = status.rows >= settings.retrain_growth_factor * max(1, status.indexed_rows)
    if grown or status.deltas >= MAX_VECTOR_INDEX_DELTAS:
        return IndexAction.REBUILD
    return IndexAction.OPTIMIZE


def maintenance_headroom(status: IndexStatus, settings: MemorySettings) -> int:
    """Rows that may still be written before :func:`plan_maintenance` could act (at least 1).

    Every threshold of the policy counts written rows: the vector index is built at
    ``index_threshold_rows`` rows, and any index is updated once it lags
    ``reindex_unindexed_rows`` behind (a rebuild is only decided then). So a writer that
    counts its rows needs no status until it has written this many.
    """
    if status.has_index:
        lag = max(status.unindexed_rows, status.side_unindexed_rows)
        return max(1, settings.reindex_unindexed_rows - lag)
    to_build = settings.index_threshold_rows - status.rows
    return max(1, min(to_build, settings.reindex_unindexed_rows - status.side_unindexed_rows))


def fts_config() -> FTS:
    """The full-text index: BM25 over lower-cased, stemmed words, English stop words removed."""
    return FTS(with_position=False, lower_case=True, stem=True, remove_stop_words=True)
