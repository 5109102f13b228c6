"""Settings of the vector memory: the ``memory`` group (``SWARMKIT_MEMORY__*``).

This module imports only pydantic, so the kernel's settings can include the
group without loading LanceDB.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_DIM = 384  # dimensions; matches all-MiniLM-L6-v2 so the two embedders swap freely


class MemorySettings(BaseModel):
    """The vector memory on LanceDB.

    The ANN index defaults are tuned for 10^4..10^6 records of 384
    dimensions on a small machine; see :mod:`patterns.memory.index`.
    """

    uri: str = Field(
        ".data/lancedb",
        min_length=1,
        max_length=4096,
        description="LanceDB URI: a local directory (embedded) or an object-store URI "
        "such as s3://bucket/prefix.",
    )
    table: str = Field(
        "memories",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        description="Name of the table that holds the records.",
    )
    embedder: Literal["hashing", "sentence-transformer"] = Field(
        "hashing",
        description="Default embedder: offline feature hashing, or all-MiniLM-L6-v2 "
        "(needs the 'sentence' extra).",
    )
    dim: int = Field(
        DEFAULT_DIM, ge=8, le=4096, description="Vector length of the hashing embedder."
    )
    create_if_missing: bool = Field(
        False,
        description="Create the table (and the local database directory) on open when it does "
        "not exist yet. Off by default: opening a missing table is a TableNotFoundError, so a "
        "mistyped URI or table name never silently yields an empty memory.",
    )
    read_consistency_s: float | None = Field(
        0.0,
        ge=0,
        le=3600,
        description="How stale a read may be relative to other processes' writes, seconds: "
        "0 checks for new versions on every read; None never checks (own writes stay visible).",
    )
    write_batch_rows: int = Field(
        4096,
        ge=1,
        le=1_000_000,
        description="Rows embedded and converted per chunk while streaming one batch to LanceDB.",
    )
    auto_index: bool = Field(
        True,
        description="Build and maintain the ANN index automatically after writes. A store "
        "counts the rows it writes and reads the indices' statistics only once enough rows "
        "were written to reach a threshold below; rows written by other processes are seen "
        "at its next look.",
    )
    index_threshold_rows: int = Field(
        10_000,
        ge=1,
        le=100_000_000,
        description="Table size from which searches use an ANN index; below it they are exact.",
    )
    reindex_unindexed_rows: int = Field(
        20_000,
        ge=1,
        le=100_000_000,
        description="Rows written since the last index update after which the index is "
        "updated incrementally.",
    )
    retrain_growth_factor: float = Field(
        2.0,
        ge=1.1,
        le=100,
        description="Rebuild the ANN index from scratch once the table has grown by this "
        "factor since the index was trained.",
    )
    hnsw_m: int = Field(
        16, ge=4, le=128, description="HNSW: neighbours kept per vector per graph layer."
    )
    hnsw_ef_construction: int = Field(
        150, ge=16, le=2000, description="HNSW: candidate list size while building the graph."
    )
    hnsw_rows_per_partition: int = Field(
        1_000_000,
        ge=1_000,
        le=100_000_000,
        description="IVF partitions of the HNSW index are sized to about this many rows "
        "(one partition, one graph, below it).",
    )
    search_ef: int = Field(
        200, ge=10, le=10_000, description="HNSW: candidate list size per search (recall vs time)."
    )
    search_nprobes: int = Field(
        4,
        ge=1,
        le=10_000,
        description="IVF partitions probed per search (used above one partition).",
    )
    fts: bool = Field(
        True, description="Keep a full-text (BM25) index on the text for text and hybrid search."
    )
    working_set_rows: int = Field(
        20_000,
        ge=0,
        le=1_000_000,
        description="Tables up to this many rows are mirrored in process for exact numpy "
        "vector search; 0 disables the mirror. LanceDB stays the source of truth.",
    )
    record_mirror_rows: int = Field(
        200_000,
        ge=0,
        le=5_000_000,
        description="Tables larger than working_set_rows and up to this many rows keep an "
        "in-process mirror of their records without vectors (about 0.2 KB per short record): "
        "a vector search asks LanceDB's index for ids and distances only and takes the "
        "records from the mirror (a quarter of the query's time at 100k rows); 0 disables it.",
    )
    keep_versions_s: float = Field(
        3600.0,
        ge=0,
        le=30 * 86400,
        description="Compaction keeps table versions newer than this, seconds (time travel "
        "and concurrent readers).",
    )
