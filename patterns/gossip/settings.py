"""Settings group of pattern 3: CRDT replication over gossip (``SWARMKIT_GOSSIP__*``)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

from patterns.core.settings import revalidated


class GossipSettings(BaseModel):
    """Anti-entropy, rumor mongering and SWIM membership of a gossip node.

    Defaults suit a LAN or loopback cluster of up to a few thousand nodes with
    one-way latencies of a few milliseconds.
    """

    fanout: int = Field(
        3, ge=1, le=64, description="Peers contacted per anti-entropy round and per rumor push."
    )
    period_s: float = Field(
        0.05, ge=0.001, le=3600.0, description="Anti-entropy round period, seconds."
    )
    rumor_hops: int = Field(
        10,
        ge=0,
        le=64,
        description="Hops a fresh update is pushed as a rumor before only anti-entropy carries "
        "it (0 disables rumor mongering).",
    )
    view_size: int = Field(
        0,
        ge=0,
        le=4096,
        description="Peers in a node's partial view (a HyParView-style active view) used for "
        "gossip and probing; 0 means every member. A small view bounds the connections a node "
        "opens.",
    )
    view_shuffle_s: float = Field(
        2.0,
        ge=0.001,
        le=3600.0,
        description="Period of swapping one view member for a random live member outside the "
        "view, seconds.",
    )
    probe_interval_s: float = Field(
        0.2, ge=0.001, le=3600.0, description="SWIM protocol period: one probe per period, seconds."
    )
    probe_timeout_s: float = Field(
        0.05,
        ge=0.0005,
        le=600.0,
        description="Wait for a direct ack before indirect probing, seconds (below the period).",
    )
    indirect_probes: int = Field(
        3, ge=0, le=16, description="Members asked to ping a silent peer (SWIM ping-req k)."
    )
    suspicion_timeout_s: float = Field(
        1.0, ge=0.001, le=3600.0, description="Time a suspect has to refute before it is dead, s."
    )
    dead_probe_interval_s: float = Field(
        0.5,
        ge=0.001,
        le=3600.0,
        description="Period of pinging one peer believed dead, so healed or restarted peers "
        "rejoin, seconds.",
    )
    piggyback_max: int = Field(
        8, ge=0, le=256, description="Membership updates piggybacked on one SWIM message."
    )
    piggyback_multiplier: int = Field(
        3,
        ge=1,
        le=32,
        description="Each membership update is piggybacked multiplier * ceil(log2(N+1)) times.",
    )
    max_update_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=64 << 20,
        description="Largest update sent or accepted in one message, bytes.",
    )
    max_transfer_bytes: int = Field(
        64 << 20,
        ge=1024,
        le=1 << 30,
        description=(
            "Largest update a sync sends in parts of max_update_bytes, or joins from them, "
            "bytes: a document over max_update_bytes still reaches a fresh or restarted "
            "replica. A node holds at most one unfinished transfer per peer."
        ),
    )

    @model_validator(mode="after")
    def _timeout_below_period(self) -> Self:
        if self.probe_timeout_s >= self.probe_interval_s:
            raise ValueError(
                f"probe_timeout_s={self.probe_timeout_s} must be below "
                f"probe_interval_s={self.probe_interval_s}"
            )
        if self.max_transfer_bytes < self.max_update_bytes:
            raise ValueError(
                f"max_transfer_bytes={self.max_transfer_bytes} must be at least "
                f"max_update_bytes={self.max_update_bytes}"
            )
        return self


def checked(settings: GossipSettings | None) -> GossipSettings:
    """``settings`` or the defaults, validated again (:func:`~patterns.core.settings.revalidated`).

    Raises:
        ConfigError: a field is out of its bounds.
    """
    return revalidated(GossipSettings, settings, "gossip")
