"""Settings group of pattern 4, ephemeral agents (``SWARMKIT_EPHEMERAL__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EphemeralSettings(BaseModel):
    """The ephemeral agent pool: bounds, lifetimes, memory rehydration and write-behind.

    Per-spec values (TTL, idle time, concurrency, timeout) are defaults that an
    :class:`~patterns.ephemeral.spec.AgentSpec` may override.
    """

    queue_bound: int = Field(
        1024,
        ge=1,
        le=10_000_000,
        description="Work items that may wait per agent spec once its concurrency limit is "
        "reached; beyond it submissions are refused with QueueFullError.",
    )
    max_running: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Agents that may run a work item at once across every spec.",
    )
    default_ttl_s: float = Field(
        300.0, gt=0, le=7 * 86400, description="Longest life of an agent, seconds."
    )
    default_max_idle_s: float = Field(
        30.0, gt=0, le=86400, description="Idle time after which an agent is reaped, seconds."
    )
    default_concurrency: int = Field(
        64, ge=1, le=1_000_000, description="Agents of one spec that may run at once."
    )
    default_timeout_s: float = Field(
        60.0, gt=0, le=86400, description="Time one handler call may take, seconds."
    )
    max_attempts: int = Field(
        2,
        ge=1,
        le=10,
        description="Attempts per work item; a crashed or hung agent's item is retried on a "
        "fresh agent until this many attempts were made.",
    )
    rehydrate_top_k: int = Field(
        10, ge=0, le=1000, description="Memories a fresh agent recalls on spawn (0: none)."
    )
    flush_batch: int = Field(
        32,
        ge=1,
        le=100_000,
        description="Learned memories buffered per agent before they are written in one batch.",
    )
    reap_interval_s: float = Field(
        0.5,
        gt=0,
        le=3600,
        description="Longest wait of the background reaper between two passes, seconds.",
    )
    process_workers: int = Field(
        2, ge=1, le=1024, description="Worker processes of the process-isolated mode."
    )
