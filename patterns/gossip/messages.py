"""Wire messages of the gossip pattern: CRDT replication plus SWIM membership, and their codec."""

from __future__ import annotations

import enum
import hmac

import msgspec

from patterns.core.codec import DEFAULT_MAX_FRAME_BYTES, Codec, Message


class Status(enum.IntEnum):
    """A member's state in SWIM's suspicion subprotocol (Das et al. 2002, section 4.2)."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2


class MemberUpdate(msgspec.Struct, frozen=True, array_like=True):
    """One membership fact piggybacked on SWIM messages: ``node`` is ``status`` at ``incarnation``."""

    node: int
    status: Status
    incarnation: int


# -- replication (Demers et al. 1987) ------------------------------------------------
class Rumor(Message, frozen=True):
    """A fresh update pushed to a few peers; forwarded while ``hops`` remain (section 1.4)."""

    update: bytes
    crc: int
    hops: int
    mac: bytes = b""  # of the link from the sender (see ``link_mac``); empty without link keys


class SyncRequest(Message, frozen=True):
    """Push-pull anti-entropy, step 1 (section 1.3): the sender's state vector and delete-set CRC."""

    state: bytes
    ds_crc: int
    mac: bytes = b""


class SyncReply(Message, frozen=True):
    """Step 2: the update the requester lacks (may be empty) and, if the replier lacks
    something, its own state vector and delete-set CRC (``state`` empty otherwise)."""

    update: bytes
    crc: int
    state: bytes
    ds_crc: int
    mac: bytes = b""


class SyncUpdate(Message, frozen=True):
    """Step 3: what the step-2 sender lacks."""

    update: bytes
    crc: int
    mac: bytes = b""


class UpdatePart(Message, frozen=True):
    """One part of an update over ``max_update_bytes`` (a sync reply or sync update that
    does not fit one message): parts ``0..total-1`` of ``transfer`` joined are ``size``
    bytes whose CRC-32 is ``crc``, applied once all have arrived."""

    transfer: int
    index: int
    total: int
    size: int
    crc: int
    data: bytes
    mac: bytes = b""


# -- membership (SWIM, Das, Gupta, Motivala 2002) ----------------------------------------
class Ping(Message, frozen=True):
    """Direct probe (section 3.1); ``incarnation`` is the sender's own."""

    seq: int
    incarnation: int
    gossip: list[MemberUpdate]
    mac: bytes = b""


class PingReq(Message, frozen=True):
    """Indirect probe request: please ping ``target`` for me (section 3.1)."""

    seq: int
    target: int
    incarnation: int
    gossip: list[MemberUpdate]
    mac: bytes = b""


class Ack(Message, frozen=True):
    """Answer to a ping: ``target`` is alive at ``target_incarnation``.

    A direct ack has ``target`` equal to its sender; a relayed ack (answer to a
    ping-req) names the probed member.
    """

    seq: int
    target: int
    target_incarnation: int
    incarnation: int
    gossip: list[MemberUpdate]
    mac: bytes = b""


REPLICATION_MESSAGES: tuple[type[Message], ...] = (
    Rumor,
    SyncRequest,
    SyncReply,
    SyncUpdate,
    UpdatePart,
)
LINK_MAC_BYTES = 16  # HMAC-SHA256 truncated, as PBFT's


LinkMaced = Rumor | SyncRequest | SyncReply | SyncUpdate | UpdatePart | Ping | PingReq | Ack
"""Every gossip message carries the MAC of its link when the node has link keys."""


def link_mac_body(msg: LinkMaced) -> bytes:
    """What a gossip message's link MAC covers: its kind and every field but ``mac``."""
    return msgspec.msgpack.encode((type(msg).__name__, *msgspec.structs.astuple(msg)[:-1]))


def link_mac(key: bytes, body: bytes) -> bytes:
    """The MAC of ``body`` (from :func:`link_mac_body`) under a link's key."""
    return hmac.digest(key, body, "sha256")[:LINK_MAC_BYTES]


MEMBERSHIP_MESSAGES: tuple[type[Message], ...] = (Ping, PingReq, Ack)
GOSSIP_MESSAGES: tuple[type[Message], ...] = REPLICATION_MESSAGES + MEMBERSHIP_MESSAGES
LINK_MACED = (Rumor, SyncRequest, SyncReply, SyncUpdate, UpdatePart, Ping, PingReq, Ack)


def gossip_codec(max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Codec[Message]:
    """The codec of the gossip protocol."""
    return Codec(GOSSIP_MESSAGES, max_frame_bytes=max_frame_bytes)
