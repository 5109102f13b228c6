"""The kernel's settings groups (wire, QUIC, simulator); the project-wide ``Settings`` is in
:mod:`patterns.settings`.

Every field is described and bounded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field

from patterns.core.codec import DEFAULT_MAX_FRAME_BYTES
from patterns.core.exceptions import ConfigError

ENV_PREFIX = "SWARMKIT_"
GroupT = TypeVar("GroupT", bound=BaseModel)


def revalidated(group: type[GroupT], settings: GroupT | None, name: str) -> GroupT:
    """``settings`` or the group's defaults, validated again (``model_copy(update=...)``
    skips validation, so a copy may hold a value its fields forbid).

    Args:
        group: the settings class.
        settings: an instance of it, or ``None`` for the defaults.
        name: the group's name in the error message.

    Raises:
        ConfigError: a field is out of its bounds, named.
    """
    if settings is None:
        return group()
    try:
        return group.model_validate(settings.model_dump())
    except ValueError as err:
        raise ConfigError(f"invalid {name} settings: {err}") from err


class WireSettings(BaseModel):
    """The wire codec."""

    max_frame_bytes: int = Field(
        DEFAULT_MAX_FRAME_BYTES, ge=1024, le=64 << 20, description="Largest accepted frame, bytes."
    )


class QuicSettings(BaseModel):
    """The QUIC runtime (aioquic)."""

    host: str = Field("127.0.0.1", min_length=1, max_length=253, description="Address to bind.")
    alpn: str = Field(
        "swarmkit/1", min_length=1, max_length=64, description="ALPN protocol identifier."
    )
    certs_dir: Path = Field(
        Path(".data/certs"), description="Directory of the cluster CA and node certificates."
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, le=120, description="Time allowed for one QUIC handshake, seconds."
    )
    idle_timeout_s: float = Field(
        60.0, ge=1, le=3600, description="QUIC idle timeout of a connection, seconds."
    )
    keepalive_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="A link that heard nothing from its peer this long sends a QUIC PING, seconds.",
    )
    liveness_timeout_s: float = Field(
        2.0,
        gt=0,
        le=600,
        description=(
            "A link that heard nothing from its peer this long (pings unanswered) drops the "
            "connection and re-dials, seconds: how fast a killed peer is noticed."
        ),
    )
    reconnect_initial_s: float = Field(
        0.05, gt=0, le=10, description="First reconnect backoff after a failure, seconds."
    )
    reconnect_max_s: float = Field(
        2.0, gt=0, le=300, description="Largest reconnect backoff, seconds."
    )
    send_queue_messages: int = Field(
        4096, ge=1, le=1_000_000, description="Bound of each peer's send queue, in messages."
    )
    max_datagram_size: int = Field(
        1200,
        ge=1200,
        le=16383,
        description=(
            "Largest UDP payload a connection sends, bytes. 1200, the QUIC minimum every path "
            "carries, unless every path between the nodes is known to carry more: 1452 on "
            "Ethernet, 8952 with jumbo frames. Fewer, larger datagrams cost less CPU per byte "
            "(aioquic's work is per packet). Too large for a path and its datagrams are "
            "dropped: aioquic does no path MTU discovery. At most 16383, the largest STREAM "
            "frame aioquic can write (it encodes their length in two bytes)."
        ),
    )
    socket_buffer_bytes: int = Field(
        4 << 20,
        ge=64 << 10,
        le=256 << 20,
        description=(
            "Receive and send buffer asked for each UDP socket, bytes (the kernel grants at "
            "most net.core.rmem_max / wmem_max). A node's one server socket takes the data of "
            "every peer: with the 208 KiB Linux default a burst of large datagrams overflows "
            "it and QUIC must detect the loss and resend."
        ),
    )
    ack_delay_s: float = Field(
        0.025,
        ge=0.001,
        le=0.025,
        description=(
            "How long an established connection may hold back the ACK of one received data "
            "packet, seconds (at most the 25 ms max_ack_delay aioquic advertises, so loss "
            "detection allows for it; aioquic itself acks after 1 ms). A second unacknowledged "
            "data packet is acknowledged at once (RFC 9000 section 13.2.2), so bulk transfers "
            "keep their congestion window open. Each direction of a peer pair is its own "
            "connection, so ACKs rarely ride on data: holding them cut the CPU of an "
            "unbatched n=4 PBFT request by 15% in one process (7.3 -> 6.2 ms)."
        ),
    )


class SimSettings(BaseModel):
    """The deterministic simulator."""

    default_seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed used when none is given.")
    max_events: int = Field(
        50_000_000, ge=1, le=10**10, description="Events after which a run stops, as a safety net."
    )
