"""Settings of the PageRank app: the ``pagerank`` group (``SWARMKIT_PAGERANK__*``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Backend(StrEnum):
    """Where the block workers run."""

    INPROCESS = "inprocess"  # ephemeral agents on threads of this process (the default)
    DASK = "dask"  # Prefect tasks on a Dask cluster through prefect-dask


class LaneWeight(StrEnum):
    """How a sea lane of the maritime network is weighted."""

    LENGTH = "length"  # its length in km (the default)
    INVERSE = "inverse"  # 1 / length: short hops are more likely
    NONE = "none"  # every lane weighs 1


class PageRankSettings(BaseModel):
    """The PageRank engine, its backends and its outputs."""

    output_dir: Path = Field(
        Path(".data/pagerank"),
        validate_default=True,
        description="Where partitioned graphs, rank vectors and pictures are written; a relative "
        "path is taken from the working directory when the settings are read (and made "
        "absolute then, so Dask workers see the same place).",
    )
    alpha: float = Field(0.85, gt=0, lt=1, description="Damping factor (networkx's default).")
    tol: float = Field(
        1e-10,
        gt=0,
        le=1e-2,
        description="Stop when the L1 change of one step is below n_nodes * tol (networkx's rule).",
    )
    max_iter: int = Field(300, ge=1, le=100_000, description="Most power-iteration steps.")
    partitions: int = Field(
        8, ge=1, le=65_536, description="Destination blocks the graph is split into."
    )
    fanout: int = Field(
        4, ge=2, le=1024, description="Fanout of the aggregation tree over the blocks."
    )
    threads: int = Field(
        2, ge=1, le=1024, description="Block agents that run at once in the in-process backend."
    )
    warm_workers: bool = Field(
        True,
        description="Keep block agents warm across steps (False: spawn them per step, scale to "
        "zero in between).",
    )
    max_attempts: int = Field(
        3, ge=1, le=10, description="Attempts per block and step before the run fails."
    )
    backend: Backend = Field(Backend.INPROCESS, description="'inprocess' or 'dask'.")
    dask_address: str | None = Field(
        None,
        description="Address of an existing Dask scheduler (tcp://host:8786); None starts a "
        "LocalCluster. Workers must see the output directory (shared storage).",
    )
    dask_workers: int = Field(
        2, ge=1, le=4096, description="Workers of the LocalCluster started when no address is set."
    )
    dask_processes: bool = Field(
        True,
        description="LocalCluster workers as processes (False: threads in this process, for tests).",
    )
    dask_lean_runner: bool = Field(
        True,
        description="Run the Dask backend on LeanDaskTaskRunner (Prefect's run context shipped "
        "once per worker instead of rebuilt per task); False: prefect-dask's DaskTaskRunner.",
    )
    dask_pipeline: bool = Field(
        True,
        description="Map step k+1's tasks while step k runs, depending on its futures (Dask "
        "starts them without a round trip through the flow); False: map each step after the "
        "previous one's results are in.",
    )
    dask_flush_vectors: bool | None = Field(
        None,
        description="Workers msync the rank vector they wrote after each step (for shared "
        "storage across hosts); None: only when dask_address is set.",
    )
    tasks_per_worker: int = Field(
        1,
        ge=1,
        le=1024,
        description="Prefect tasks per Dask worker and step; each task runs a group of blocks.",
    )
    chunk_edges: int = Field(
        4_000_000,
        ge=1_000,
        le=1_000_000_000,
        description="Edges read, generated or scattered per chunk (bounds memory).",
    )
    top_k: int = Field(20, ge=1, le=100_000, description="Rows of the top-k table.")
    lane_weight: LaneWeight = Field(LaneWeight.LENGTH, description="Weighting of sea lanes.")
    max_port_link_km: float = Field(
        300.0,
        gt=0,
        le=20_000,
        description="Ports farther than this from the sea network (inland places) are left out.",
    )
    exclude_passages: list[str] = Field(
        default_factory=lambda: ["northwest"],
        max_length=32,
        description="searoute passages left out of the maritime graph (searoute's default).",
    )

    @field_validator("output_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.expanduser().absolute()


class _PageRankEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWARMKIT_", env_nested_delimiter="__", extra="ignore"
    )

    pagerank: PageRankSettings = Field(default_factory=PageRankSettings, description="PageRank.")


def get_pagerank_settings() -> PageRankSettings:
    """Read the ``pagerank`` group from the environment (``SWARMKIT_PAGERANK__PARTITIONS=16`` ...)."""
    return _PageRankEnv().pagerank
