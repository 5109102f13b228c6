"""Settings group of pattern 2: PBFT replicas and clients (``SWARMKIT_BYZANTINE__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, model_validator

from patterns.core.settings import revalidated


class ByzantineSettings(BaseModel):
    """Tuning of a PBFT cluster (Castro and Liskov, OSDI 1999 / TOCS 2002).

    Defaults suit a loopback or LAN cluster with one-way latencies of about a
    millisecond. Timeouts are in the runtime's seconds (virtual seconds under
    the simulator).
    """

    f: int = Field(
        1, ge=0, le=33, description="Byzantine faults tolerated; the cluster has n = 3f+1 replicas."
    )
    batch_max_requests: int = Field(
        64, ge=1, le=4096, description="Most client requests the primary orders in one batch."
    )
    batch_delay_s: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Longest time the primary holds a partial batch before ordering it, seconds "
        "(0 orders as soon as the pipeline has room).",
    )
    pipeline_depth: int = Field(
        4,
        ge=1,
        le=1024,
        description="Batches the primary keeps in flight (ordered, not yet executed) at once; "
        "requests arriving meanwhile wait and form the next batch.",
    )
    checkpoint_interval: int = Field(
        16, ge=1, le=1_000_000, description="K: a checkpoint is taken every K sequence numbers."
    )
    watermark_window: int = Field(
        64,
        ge=2,
        le=4_000_000,
        description="L: sequence numbers accepted above the low watermark (a multiple of K, "
        "at least 2K).",
    )
    view_change_timeout_s: float = Field(
        0.5,
        gt=0.0,
        le=600.0,
        description="Base timeout for a waited-for request, and for a view change to complete, s.",
    )
    view_change_timeout_multiplier: float = Field(
        2.0,
        ge=1.0,
        le=16.0,
        description="Factor the timeout grows by for each consecutive view change without progress.",
    )
    view_change_timeout_max_s: float = Field(
        8.0, gt=0.0, le=3600.0, description="Cap of the growing view-change timeout, seconds."
    )
    status_interval_s: float = Field(
        0.2,
        gt=0.0,
        le=600.0,
        description="Period of the status messages that drive retransmission and catch-up, s.",
    )
    client_retry_s: float = Field(
        0.25,
        gt=0.0,
        le=600.0,
        description="A client re-sends its request to every replica after this long without "
        "f+1 matching replies, seconds.",
    )
    max_request_bytes: int = Field(
        64 * 1024,
        ge=1,
        le=512 * 1024,
        description="Largest operation a client may submit, bytes; larger ones are refused.",
    )
    max_waiting_requests: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="Client requests a replica holds while waiting to order or execute them.",
    )
    audit_log_entries: int = Field(
        100_000,
        ge=0,
        le=100_000_000,
        description="Committed batches (with commit certificates) kept as the audit trail.",
    )
    cluster_file: Path | None = Field(
        None,
        description="Cluster file of a running cluster (python -m patterns.byzantine init); "
        "when unset, each commit call starts a local cluster on loopback.",
    )
    signature_cache_entries: int = Field(
        16_384,
        ge=0,
        le=10_000_000,
        description="Verified Ed25519 signatures remembered so duplicates are not re-verified.",
    )

    @model_validator(mode="after")
    def _window_fits_checkpoints(self) -> Self:
        k, window = self.checkpoint_interval, self.watermark_window
        if window % k or window < 2 * k:
            raise ValueError(
                f"watermark_window={window} must be a multiple of checkpoint_interval={k} "
                "and at least twice it"
            )
        if self.view_change_timeout_max_s < self.view_change_timeout_s:
            raise ValueError("view_change_timeout_max_s is below view_change_timeout_s")
        if self.view_change_timeout_max_s < 2 * self.status_interval_s:
            # liveness: a view must eventually last long enough for a lost message to be
            # retransmitted (status messages drive retransmission)
            raise ValueError(
                f"view_change_timeout_max_s={self.view_change_timeout_max_s} must be at least "
                f"twice status_interval_s={self.status_interval_s}"
            )
        return self

    @property
    def n(self) -> int:
        """Replicas in the cluster: 3f+1."""
        return 3 * self.f + 1


def checked(settings: ByzantineSettings | None) -> ByzantineSettings:
    """``settings`` or the defaults, validated again (:func:`~patterns.core.settings.revalidated`).

    Raises:
        ConfigError: a field is out of its bounds.
    """
    return revalidated(ByzantineSettings, settings, "byzantine")
